"""The web and realtime roles borrow database connections from a pool; without one each request opens its own."""

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _other_connections() -> int:
    """Connections to this suite's test database other than the test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [settings.DATABASES["default"]["NAME"]],
        )
        return cursor.fetchone()[0]


def _read_many(base: str, count: int = 30) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(count):
            # An unknown tournament: a database read on every request.
            assert client.get("/api/v1/tournaments/999999/leaderboard").status_code == 404


@pytest.mark.parametrize("role", ["gunicorn", "daphne"])
def test_the_web_and_realtime_roles_keep_at_most_the_pool_size_open_across_requests(processes, role):
    assert _other_connections() == 0
    web = getattr(processes, role)(DATABASE_POOL_MAX="2")
    _read_many(web.base)
    # Between requests the pool keeps its connections: the next burst opens none.
    held = _other_connections()
    assert 1 <= held <= 2
    _read_many(web.base)
    assert 1 <= _other_connections() <= 2, "a second burst went past the pool"


def test_with_the_pool_off_every_request_closes_its_connection(processes):
    web = processes.gunicorn(DATABASE_POOL_MAX="0")
    _read_many(web.base)
    wait_until(lambda: _other_connections() == 0, timeout=10, what="request connections to close")


def test_the_suite_and_workers_do_not_pool():
    # Only scoreboard/wsgi.py and asgi.py ask for the pool; this process (like Celery's) never does.
    assert "pool" not in settings.DATABASES["default"].get("OPTIONS", {})
