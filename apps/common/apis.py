"""Process health endpoints for load balancers and operators."""

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class HealthApi(APIView):
    """200 while the process runs; no dependency is checked."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    if not settings.REDIS_URL:
        return
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from kombu import Connection

    # A connection of its own: the Celery app's pooled connections stay untouched.
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=1) as conn:
        conn.ensure_connection(max_retries=1, timeout=1)


class ReadyApi(APIView):
    """200 when the database, Redis and the broker answer; else 503 naming the one that does not."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    checks = (("database", _check_database), ("redis", _check_redis), ("broker", _check_broker))

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request):
        for name, check in self.checks:
            try:
                check()
            except Exception as exc:  # any failure means "not ready"
                logger.warning("readiness check %s failed: %s", name, exc)
                return Response(
                    {"status": "unavailable", "detail": f"{name} does not answer", "code": f"{name}_unavailable"},
                    status=503,
                )
        return Response({"status": "ok"})
