"""Health, readiness and metrics endpoints as load balancers and operators see them."""


import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from apps.common import apis
from tests.waiting import spare_port


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture(autouse=True)
def _fresh_readiness():
    """Each test asks anew: the cached answer of the previous one says nothing about this one's setup."""
    apis.readiness_forget()
    yield
    apis.readiness_forget()


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


def _readyz_connections(settings) -> int:
    import redis

    admin = redis.Redis.from_url(settings.REDIS_URL)
    db = str(admin.connection_pool.connection_kwargs.get("db", 0))
    try:
        return sum(1 for c in admin.client_list() if c.get("name") == "scoreboard-readyz" and c.get("db") == db)
    finally:
        admin.close()


@pytest.mark.django_db
def test_readyz_reuses_one_redis_connection_and_one_broker_connection_across_checks(client, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # A broker apart from REDIS_URL (another database of the same server) so it is checked on its own.
    settings.CELERY_BROKER_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/15"
    now = [1000.0]
    monkeypatch.setattr(apis, "_clock", lambda: now[0])
    monkeypatch.setattr(apis, "_redis_clients", {})
    monkeypatch.setattr(apis, "_broker_connections", {})
    before = _readyz_connections(settings)
    made = []
    real_connection = __import__("kombu").Connection
    monkeypatch.setattr("kombu.Connection", lambda *a, **kw: made.append(1) or real_connection(*a, **kw))

    for _ in range(5):
        now[0] += 1.5  # past the cached answer: every request really checks
        assert client.get("/readyz").status_code == 200

    assert _readyz_connections(settings) - before == 1
    assert len(made) == 1
    apis._redis_clients[settings.REDIS_URL].close()


@pytest.mark.django_db
def test_readyz_answers_from_a_check_at_most_a_second_old(client, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(apis, "_clock", lambda: now[0])
    assert client.get("/readyz").status_code == 200
    monkeypatch.setattr(apis, "connection", _BrokenConnection())

    now[0] += 0.9
    assert client.get("/readyz").status_code == 200
    now[0] += 0.2
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.django_db
def test_metrics_serves_prometheus_text_counting_requests(client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_latency_seconds_by_view_method histogram" in text
    assert 'method="GET",view="healthz"' in text


@pytest.mark.django_db
def test_metrics_are_refused_to_other_addresses_whatever_x_forwarded_for_says(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Metrics are served to allowed addresses or with the metrics token.",
        "code": "metrics_forbidden",
    }


@pytest.mark.django_db
def test_metrics_are_served_with_the_token_or_to_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    outside = {"REMOTE_ADDR": "203.0.113.5"}

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret", **outside).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-guess", **outside).status_code == 403
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "203.0.113.0/24"]
    assert client.get("/metrics", **outside).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
