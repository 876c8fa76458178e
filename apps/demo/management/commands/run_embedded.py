"""Serve the embedded default: daphne for HTTP and WebSocket, and the 2022 replay feed beside it.

Both run as child processes of this command, which prints where to look and
stops them together on Ctrl-C or SIGTERM. With no REDIS_URL, Celery runs eager,
so each result the replay feeds in is settled inside the replay process and the
demo leaderboard moves by itself.
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.demo.management.commands.load_demo import (
    ADMIN_USERNAME,
    DEFAULT_ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    WORLD_CUP_2022_REPLAY,
)
from apps.matches.models import Tournament
from apps.members.models import Member

STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 10


def _die_with_parent() -> None:
    """Runs in each child before exec: on Linux the child gets SIGTERM if this command is killed outright."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket on daphne and play the World Cup 2022 replay beside it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--replay-speed",
            type=float,
            default=float(os.environ.get("DEMO_REPLAY_SPEED", "1400")),
            help="How many times faster than real time the 2022 replay plays (default 1400: the whole tournament in about half an hour).",
        )
        parser.add_argument(
            "--replay-lead",
            type=float,
            default=30.0,
            help="Seconds from start to the replay's first kickoff when it has not begun yet (default 30).",
        )
        parser.add_argument("--no-replay", action="store_true", help="Serve only; do not play the replay.")

    def handle(
        self, *args, host: str, port: int, replay_speed: float, replay_lead: float, no_replay: bool, **options
    ):
        self._children: dict[str, subprocess.Popen] = {}
        self._stopping = False
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            web = self._start(
                "web", [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "scoreboard.asgi:application"]
            )
            self._wait_listening(web, host, port)
            replay = None if no_replay else self._start_replay(replay_speed, replay_lead)
            self._announce(host, port, replay is not None)
            exit_code = self._supervise(web, replay)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if exit_code:
            raise CommandError(f"The web server stopped with exit code {exit_code}.", returncode=exit_code)

    # --- children -----------------------------------------------------------

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        env = os.environ.copy()
        env["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")
        env.setdefault("PYTHONUNBUFFERED", "1")
        # A session of their own: Ctrl-C reaches this command only, which then
        # stops the children in order instead of all of them racing at once.
        child = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        self._children[name] = child
        return child

    def _start_replay(self, speed: float, lead: float) -> subprocess.Popen | None:
        if "run_replay" not in get_commands():
            self.stdout.write("The replay feed is not available in this build; serving without it.")
            return None
        source = Path(WORLD_CUP_2022_REPLAY["source"]).relative_to(settings.BASE_DIR)
        return self._start(
            "replay",
            [
                sys.executable,
                "manage.py",
                "run_replay",
                "--tournament",
                WORLD_CUP_2022_REPLAY["slug"],
                "--source",
                str(source),
                "--speed",
                f"{speed:g}",
                # Demo members guessed every match at load: a short lead gets the board moving soon.
                "--lead",
                f"{lead:g}",
            ],
        )

    def _wait_listening(self, web: subprocess.Popen, host: str, port: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and not self._stopping:
            if web.poll() is not None:
                raise CommandError(f"The web server exited at start with code {web.returncode}.")
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        if not self._stopping:
            raise CommandError(f"The web server did not listen on {host}:{port} within {STARTUP_TIMEOUT} s.")

    def _supervise(self, web: subprocess.Popen, replay: subprocess.Popen | None) -> int:
        while not self._stopping:
            if web.poll() is not None:
                return web.returncode
            if replay is not None and replay.poll() is not None:
                if replay.returncode == 0:
                    self.stdout.write("The 2022 replay has played to the end; the server keeps running.")
                else:
                    self.stderr.write(f"The replay feed stopped with exit code {replay.returncode}.")
                replay = None
            time.sleep(0.5)
        return 0

    def _on_signal(self, signum, frame) -> None:
        self._stopping = True

    def _stop_all(self) -> None:
        # The replay first, so no write is cut off by the server going away under it.
        for name in sorted(self._children, key=lambda n: n != "replay"):
            child = self._children[name]
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        self._children.clear()

    # --- output -------------------------------------------------------------

    def _demo_state(self, password: str) -> tuple[str, bool]:
        """The live page's query (the replay, the board that moves) and whether the demo admin signs in with `password`."""
        try:
            replay = Tournament.objects.filter(slug=WORLD_CUP_2022_REPLAY["slug"]).values_list("pk", flat=True).first()
            admin = Member.objects.filter(username=ADMIN_USERNAME).first()
            # load_demo creates the admin only with DEBUG on or when asked to.
            admin_known = admin is not None and admin.check_password(password)
        finally:
            # This process only supervises: it keeps no connection to the SQLite file open.
            connection.close()
        return (f"?tournament={replay}" if replay else ""), admin_known

    def _announce(self, host: str, port: int, replaying: bool) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{port}"
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD
        live_query, admin_known = self._demo_state(password)
        admin = f"(username {ADMIN_USERNAME!r}, password {password!r})" if admin_known else "(manage.py createsuperuser)"
        lines = [
            "",
            f"scoreboard is serving on {base}",
            f"  API docs      {base}/api/docs/",
            f"  API schema    {base}/api/schema/",
            f"  Admin         {base}/admin/   {admin}",
            f"  Live board    {base}/live/{live_query}",
            f"  Health        {base}/healthz  {base}/readyz  {base}/metrics",
            f"  Demo members  demo001 .. demo300, password {MEMBER_PASSWORD!r}",
        ]
        if replaying:
            lines.append("  The World Cup 2022 replay is playing: its leaderboard moves as results come in.")
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            # With a broker configured, settlements are queued rather than run inline.
            lines.append(
                "  A Celery broker is configured: results are settled only while workers run "
                "(celery -A scoreboard worker -Q settlement,ingestion)."
            )
        lines += ["Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
