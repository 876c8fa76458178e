"""The public embedded SECRET_KEY never signs anything a server accepts.

Entry points default to production settings, and any settings module refuses
to start with the embedded key while DEBUG is off: checked on real processes
started with none of the suite's variables.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
from django.conf import settings

from tests.common.api import anonymous_client
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[1]
# Variables the suite's own environment may carry that would configure the child.
_CONFIGURING = ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "JWT_SIGNING_KEY", "DEBUG", "ALLOWED_HOSTS")


def _bare_env(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _CONFIGURING}
    env.update(variables)
    return env


def _run(command: list[str], **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=_bare_env(**variables), capture_output=True, text=True, timeout=90
    )


@pytest.mark.parametrize("module", ["scoreboard.wsgi", "scoreboard.asgi"])
def test_a_server_entry_point_without_a_settings_module_runs_production_and_refuses_to_start_unconfigured(module):
    result = _run([sys.executable, "-c", f"import {module}"])

    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr, result.stderr


def test_a_celery_worker_without_a_settings_module_runs_production_and_refuses_to_start_unconfigured():
    result = _run([sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-P", "solo", "--loglevel", "WARNING"])

    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stdout + result.stderr


@pytest.mark.slow
def test_gunicorn_on_local_settings_with_debug_off_refuses_the_embedded_key():
    result = _run(
        [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:0", "-w", "1", "--preload", "scoreboard.wsgi:application"],
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
    )

    assert result.returncode != 0
    assert "is the public embedded default while DEBUG is off" in result.stderr, result.stderr


def test_the_test_settings_with_the_embedded_key_refuse_to_start():
    result = _run(
        [sys.executable, "manage.py", "check"],
        DJANGO_SETTINGS_MODULE="config.settings.test",
        SECRET_KEY=settings.EMBEDDED_SECRET_KEY,
    )

    assert result.returncode != 0
    assert "is the public embedded default while DEBUG is off" in result.stderr, result.stderr


def test_the_local_settings_with_debug_on_keep_the_embedded_key_for_make_run():
    result = _run([sys.executable, "manage.py", "check"], DEBUG="true")

    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_a_token_signed_with_the_embedded_key_is_rejected():
    staff = MemberFactory(is_staff=True)
    now = int(time.time())
    forged = jwt.encode(
        {"token_type": "access", "user_id": str(staff.pk), "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600},
        settings.EMBEDDED_SECRET_KEY,
        algorithm="HS256",
    )

    response = anonymous_client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
