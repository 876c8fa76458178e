"""Production settings: `check --deploy` is clean when configured and refuses to start when not."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Variables a production check must see only when a test sets them.
_PRODUCTION_VARS = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def _check_deploy(**variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in _PRODUCTION_VARS}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
         "--settings=config.settings.production"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _configured(**overrides: str) -> dict[str, str]:
    variables = {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "scores.example.com",
        "DATABASE_URL": "postgres://scoreboard:secret@db.example.com:5432/scoreboard",
    }
    variables.update(overrides)
    return variables


def test_configured_production_passes_the_deploy_check_without_warnings():
    result = _check_deploy(**_configured())

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set in production"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must be set in production"),
        ("DATABASE_URL", "DATABASE_URL must be set in production"),
    ],
)
def test_production_refuses_to_start_without_a_required_variable(missing, message):
    variables = _configured()
    del variables[missing]

    result = _check_deploy(**variables)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = _check_deploy(**_configured(DEBUG="true"))

    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


def test_a_short_secret_key_fails_the_deploy_check():
    result = _check_deploy(**_configured(SECRET_KEY="too-short"))

    assert result.returncode != 0
    assert "security.W009" in result.stderr


def _log_line(settings_module: str, **variables: str) -> str:
    """One INFO line logged by a process started with these settings, as it reaches stderr."""
    env = {key: value for key, value in os.environ.items() if key not in (*_PRODUCTION_VARS, "LOG_FORMAT")}
    env.update(variables, DJANGO_SETTINGS_MODULE=settings_module)
    code = (
        "import django, logging; django.setup(); from apps.common import request_id\n"
        "with request_id.bound(request_id='abc-123'): logging.getLogger('probe').info('hello')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stderr.splitlines() if "hello" in line)


def test_production_logs_json_lines_by_default():
    import json

    record = json.loads(_log_line("config.settings.production", **_configured()))
    assert {k: record[k] for k in ("level", "logger", "message", "request_id")} == {
        "level": "INFO", "logger": "probe", "message": "hello", "request_id": "abc-123"
    }


def test_local_logs_plain_text_and_log_format_switches_either_way():
    assert _log_line("config.settings.local").endswith("INFO probe hello [request_id=abc-123]")
    assert _log_line("config.settings.local", LOG_FORMAT="json").startswith("{")
    assert not _log_line("config.settings.production", LOG_FORMAT="plain", **_configured()).startswith("{")


def test_an_unknown_log_format_refuses_to_start():
    result = _check_deploy(**_configured(LOG_FORMAT="xml"))
    assert result.returncode != 0 and "LOG_FORMAT must be json or plain" in result.stderr
