"""Real Celery worker processes on the settlement queue, for the tests whose behaviour depends on them."""

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra) -> dict:
    database = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def worker_start(env: dict, *, pool: str, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", pool,
        "-c", "1", "-n", f"fault-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def worker_stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=20)


def publish(name: str, **kwargs) -> None:
    # Imported when called: the Celery app configures itself from the test settings.
    # send_task publishes to the broker even though this test process runs Celery eagerly.
    from celery.exceptions import AlwaysEagerIgnored

    from scoreboard.celery import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        app.send_task(name, kwargs=kwargs, queue="settlement")
