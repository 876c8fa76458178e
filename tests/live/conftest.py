"""Real processes for the live tests: daphne web processes and a Celery settlement worker.

Each child runs against the suite's own test database and Redis database
(the TEST env), listens on a spare port, and is killed in a finalizer even
when the test fails. Readiness is awaited with deadlines, never with sleeps.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.waiting import spare_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process: this suite's database and Redis, real Celery."""
    db = settings.DATABASES["default"]
    env = os.environ.copy()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return env


class Child:
    """A child process whose output is kept (for failure messages) and scanned for lines."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def output(self, last: int = 40) -> str:
        return "\n".join(self.lines[-last:])

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Daphne(Child):
    def __init__(self, env: dict[str, str]):
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        super().__init__(
            f"daphne:{self.port}",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "scoreboard.asgi:application"],
            env,
        )

    def ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"{self.name} exited:\n{self.output()}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


class Gunicorn(Daphne):
    """The web role of the Procfile: WSGI workers for the REST API, the admin and the live page."""

    def __init__(self, env: dict[str, str]):
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        Child.__init__(
            self,
            f"gunicorn:{self.port}",
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "1", "scoreboard.wsgi:application"],
            env,
        )


class Worker(Child):
    def __init__(self, env: dict[str, str]):
        name = f"settlement-live-{os.getpid()}-{spare_port()}@%h"
        super().__init__(
            "celery",
            [
                sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", "solo",
                "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
            ],
            env,
        )

    def ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"celery worker exited:\n{self.output()}")
        return self.saw(" ready.")


@pytest.fixture
def processes(request):
    """Start children; every one is killed when the test ends, whatever happened."""
    started: list[Child] = []

    def stop_all():
        for child in reversed(started):
            child.kill()

    request.addfinalizer(stop_all)

    class Starter:
        def daphne(self, **env: str) -> Daphne:
            child = Daphne(child_env(**env))
            started.append(child)
            wait_until(child.ready, timeout=START_TIMEOUT, what=f"{child.name} to answer /healthz")
            return child

        def gunicorn(self, **env: str) -> Gunicorn:
            child = Gunicorn(child_env(**env))
            started.append(child)
            wait_until(child.ready, timeout=START_TIMEOUT, what=f"{child.name} to answer /healthz")
            return child

        def worker(self, **env: str) -> Worker:
            child = Worker(child_env(**env))
            started.append(child)
            wait_until(child.ready, timeout=START_TIMEOUT, what="the celery worker to be ready", interval=0.1)
            return child

    return Starter()


@pytest.fixture
def live_points_default(django_db_blocker):
    """Until settlement writes `live_points` in its own inserts, the columns take 0 when they leave it out."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for table in ("leaderboards_standing", "leaderboards_roundstanding"):
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN live_points SET DEFAULT 0")


@pytest.fixture
def real_celery():
    """Send settlement jobs to the broker (the suite runs Celery eagerly otherwise)."""
    from scoreboard.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


# --- clients ----------------------------------------------------------------


class SseReader:
    """Reads an SSE stream in a thread; `events` holds (event, id, data) tuples and comments as ("comment", None, text)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.events: list[tuple[str, str | None, object]] = []
        self.status: int | None = None
        self.body: str | None = None
        # Set when the stream is over: the server ended it, or it could not be read.
        self.ended = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                event, event_id, data = "message", None, []
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if data:
                            self.events.append((event, event_id, json.loads("\n".join(data))))
                        event, event_id, data = "message", None, []
                    elif line.startswith(":"):
                        self.events.append(("comment", None, line[1:].strip()))
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except Exception:  # closed under the reader, or the server went away
            return
        finally:
            self.ended.set()

    def ended_by_server(self) -> bool:
        return self.ended.is_set() and not self._stop.is_set()

    def named(self, name: str) -> list:
        return [e for e in self.events if e[0] == name]

    def close(self) -> None:
        self._stop.set()
        self._client.close()


@pytest.fixture
def sse_readers():
    readers: list[SseReader] = []

    def open_reader(url: str, headers: dict[str, str] | None = None) -> SseReader:
        reader = SseReader(url, headers)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()
