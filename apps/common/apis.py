"""Process health endpoints for load balancers and operators."""

import hmac
import ipaddress
import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django_prometheus.exports import ExportToDjangoView
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


# One client (one pooled connection) per URL for the life of the process: a
# probe answered anonymously must not cost a new TCP connection each time.
_redis_clients: dict = {}
_broker_connections: dict = {}
_lock = threading.Lock()


def _redis_client(url: str):
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=1, client_name="scoreboard-readyz", max_connections=2
        )
        _redis_clients[url] = client
    return client


def _check_redis() -> None:
    if not settings.REDIS_URL:
        return
    _redis_client(settings.REDIS_URL).ping()


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    url = settings.CELERY_BROKER_URL
    if url == settings.REDIS_URL:
        # The Redis check has just had an answer from this very server.
        return
    conn = _broker_connections.get(url)
    if conn is None:
        from kombu import Connection

        conn = _broker_connections[url] = Connection(url, connect_timeout=1)
    try:
        conn.ensure_connection(max_retries=1, timeout=1)
        channel = conn.default_channel  # opened once and kept
        if hasattr(channel, "client"):  # Redis transport: a round trip on the kept connection
            channel.client.ping()
    except Exception:
        # Built again on the next check rather than reused half-open.
        _broker_connections.pop(url, None)
        conn.release()
        raise


# Indirection so tests can move time instead of waiting.
_clock = time.monotonic
CACHE_SECONDS = 1.0
_answer: tuple[float, dict, int] | None = None


def readiness_forget() -> None:
    """Drop the cached answer (tests that change what is reachable)."""
    global _answer
    _answer = None


class ReadyApi(APIView):
    """200 when the database, Redis and the broker answer; else 503 naming the one that does not."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    checks = (("database", _check_database), ("redis", _check_redis), ("broker", _check_broker))

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request):
        global _answer
        # One check per process per CACHE_SECONDS however many probes (or anonymous clients) ask;
        # the lock makes concurrent askers wait for that one check instead of each running it.
        with _lock:
            if _answer is None or _clock() - _answer[0] >= CACHE_SECONDS:
                _answer = (_clock(), *self._check())
            _, body, status = _answer
        return Response(body, status=status)

    def _check(self) -> tuple[dict, int]:
        for name, check in self.checks:
            try:
                check()
            except Exception as exc:  # any failure means "not ready"
                logger.warning("readiness check %s failed: %s", name, exc)
                return {"status": "unavailable", "detail": f"{name} does not answer", "code": f"{name}_unavailable"}, 503
        return {"status": "ok"}, 200


def _metrics_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    # The socket's address, never X-Forwarded-For: a header the client writes cannot open this.
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_IPS)


def metrics_export(request):
    """Prometheus text for allowed addresses or a bearer METRICS_TOKEN; 403 for everyone else.

    The page describes the deployment (views, queues, lag) and costs a few
    hundred kilobytes to render, so it is not for the public.
    """
    if not _metrics_allowed(request):
        return JsonResponse(
            {"detail": "Metrics are served to allowed addresses or with the metrics token.", "code": "metrics_forbidden"},
            status=403,
        )
    return ExportToDjangoView(request)
