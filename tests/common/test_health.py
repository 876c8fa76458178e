"""Health, readiness and metrics endpoints as load balancers and operators see them."""


import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from apps.common import apis
from tests.waiting import spare_port


@pytest.fixture
def client():
    return APIClient()


def test_healthz_answers_200_without_touching_any_dependency(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{spare_port()}/0"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_when_database_and_redis_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{spare_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "redis_unavailable"
    assert "redis" in body["detail"]


class _BrokenConnection:
    """Stands in for a database connection whose server went away."""

    def cursor(self):
        raise OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")


def test_readyz_answers_503_naming_the_database_when_it_does_not_answer(client, monkeypatch):
    monkeypatch.setattr(apis, "connection", _BrokenConnection())

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert "database" in body["detail"]
    assert "5432" not in body["detail"], "the answer names the dependency, not its address"


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_broker_when_workers_cannot_be_reached(client, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{spare_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["code"] == "broker_unavailable"


@pytest.mark.django_db
def test_metrics_serves_prometheus_text_counting_requests(client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_latency_seconds_by_view_method histogram" in text
    assert 'method="GET",view="healthz"' in text
