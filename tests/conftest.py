"""Suite-wide fixtures. The suite needs the real PostgreSQL and Redis and stops
at once, saying which is missing and how to start it, when one does not answer."""

import os
import socket
from urllib.parse import urlparse

import pytest

_START_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
}


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return host, port, True
    except OSError:
        return host, port, False


def pytest_sessionstart(session):
    from django.conf import settings

    checks = [
        ("PostgreSQL", os.environ["DATABASE_URL"], 5432, "DATABASE_URL"),
        ("Redis", settings.REDIS_URL, 6379, "REDIS_URL"),
    ]
    for name, url, port, var in checks:
        host, port, ok = _reachable(url, port)
        if not ok:
            pytest.exit(
                f"{name} does not answer at {host}:{port} ({var}={url}). "
                f"Start it (for the local one: {_START_HINTS[name]}) or point {var} at a running server.",
                returncode=3,
            )


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Each test starts with an empty Redis database of its own (REDIS_URL's db)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
    client.close()
