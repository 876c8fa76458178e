"""Shared set-up of the settlement and leaderboard benchmarks.

Benchmarks run against their own database (BENCH_DATABASE, default
bench_scoreboard, created and migrated on first use) and their own Redis db
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/9), never the test ones.
Data is loaded with COPY, not through the API.
"""

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = os.environ.get("BENCH_DATABASE", "bench_scoreboard")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.local",
    "DATABASE_URL": f"{PG}/{DATABASE}",
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "DEBUG": "false",
    # DEBUG off refuses the embedded key; one random key per run, shared by this process and its servers.
    "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
    "LOG_LEVEL": "WARNING",
    # As a deployment would run: persistent database connections, no throttling of the load client.
    "DATABASE_CONN_MAX_AGE": "300",
    "THROTTLE_ANON": "100000000/min",
    "THROTTLE_USER": "100000000/min",
    "PYTHONUNBUFFERED": "1",
}


def setup() -> None:
    """Create and migrate the bench database if needed, then set Django up against it."""
    import psycopg

    os.environ.update(ENV)
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **ENV},
        check=True,
    )
    import django

    django.setup()


def reset() -> None:
    """Empty every table the benchmarks fill, and the bench Redis db."""
    from django.db import connection

    from apps.leaderboards.boards.projection_read import redis_client

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE members_pin, guesses_guess, leaderboards_standing, leaderboards_roundstanding, "
            "leaderboards_settlementrequest, leaderboards_boardstate, leaderboards_leaguemembership, "
            "leaderboards_league, leaderboards_scoreactionaward, leaderboards_achievement, matches_participation, "
            "matches_match, matches_team, matches_round, matches_tournament, members_member CASCADE"
        )
    redis_client().flushdb()


def load(
    *, members: int, guesses: int, matches: int = 1, league_size: int = 0, jokers: float = 0.0, seed: int = 7
) -> dict:
    """A tournament of `members` members, each of the first `guesses` with one guess on each of `matches` matches.

    With `league_size`, members are also split into leagues of that many (each member in one league).
    `jokers` is the share of guesses that carry the member's joker.
    """
    from django.db import connection
    from django.utils import timezone

    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.matches.models import Match, Round, Team, Tournament

    rng = random.Random(seed)
    now = timezone.now()
    tournament = Tournament.objects.create(name="Bench Cup", slug=f"bench-{time.time_ns()}", starts_at=now)
    round_ = Round.objects.create(tournament=tournament, name="Group", name_key="group", order=1)
    teams = [Team.objects.create(tournament=tournament, name=f"T{i}", name_key=f"t{i}") for i in range(2 * matches)]
    match_ids = [
        Match.objects.create(
            tournament=tournament, round=round_, home_team=teams[2 * i], away_team=teams[2 * i + 1], kickoff_at=now
        ).pk
        for i in range(matches)
    ]
    started = time.perf_counter()
    raw = connection.cursor().cursor  # psycopg's own cursor, for COPY
    with raw.copy(
        "COPY members_member (password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined, display_name, display_name_key, username_key) FROM STDIN"
    ) as copy:
        for i in range(members):
            # The folded names as `member_names_fold` writes them (plain ASCII: lower case).
            copy.write_row(("!", False, f"bench{i}", "", "", "", False, True, now, f"Bench {i}", f"bench {i}", f"bench{i}"))
    raw.execute("SELECT id FROM members_member ORDER BY id")
    member_ids = [row[0] for row in raw.fetchall()]
    with raw.copy(
        "COPY leaderboards_standing (tournament_id, member_id, points, exact_hits, outcome_hits, live_points) FROM STDIN"
    ) as copy:
        for member_id in member_ids:
            copy.write_row((tournament.pk, member_id, 0, 0, 0, 0))
    with raw.copy("COPY matches_participation (tournament_id, member_id, joined_at) FROM STDIN") as copy:
        for member_id in member_ids:
            copy.write_row((tournament.pk, member_id, now))
    weights = [30, 30, 20, 12, 8]  # goals 0..4: low scores are the usual guesses
    with raw.copy(
        "COPY guesses_guess (created_at, updated_at, member_id, match_id, home_goals, away_goals, joker) FROM STDIN"
    ) as copy:
        for match_id in match_ids:
            for member_id in member_ids[:guesses]:
                home, away = rng.choices(range(5), weights, k=2)
                copy.write_row((now, now, member_id, match_id, home, away, rng.random() < jokers))
    if league_size:
        leagues = (len(member_ids) + league_size - 1) // league_size
        with raw.copy(
            "COPY leaderboards_league (created_at, updated_at, tournament_id, name, owner_id, invite_code) FROM STDIN"
        ) as copy:
            for index in range(leagues):
                owner = member_ids[index * league_size]
                copy.write_row((now, now, tournament.pk, f"League {index}", owner, f"B{tournament.pk}-{index}"))
        raw.execute("SELECT id FROM leaderboards_league WHERE tournament_id = %s ORDER BY id", [tournament.pk])
        league_ids = [row[0] for row in raw.fetchall()]
        with raw.copy("COPY leaderboards_leaguemembership (league_id, member_id, joined_at) FROM STDIN") as copy:
            for position, member_id in enumerate(member_ids):
                copy.write_row((league_ids[position // league_size], member_id, now))
    raw.execute("ANALYZE")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    projection_rebuild(tournament_id=tournament.pk)
    return {
        "tournament_id": tournament.pk,
        "round_id": round_.pk,
        "match_ids": match_ids,
        "member_ids": (member_ids[0], member_ids[-1]),
        "load_seconds": round(loaded, 2),
        "projection_build_seconds": round(time.perf_counter() - started, 2),
    }


def finish(match_id: int, home: int, away: int):
    """Record the result and its settlement request in one transaction, as ingestion does."""
    from django.db import transaction

    from apps.leaderboards.settlement.outbox import settlement_request_write
    from apps.matches.models import Match

    with transaction.atomic():
        match = Match.objects.select_for_update().get(pk=match_id)
        match.status, match.home_score, match.away_score = Match.Status.FINISHED, home, away
        match.result_version += 1
        match.save()
        return settlement_request_write(match=match)


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    """A real Celery worker on the settlement queue, against the bench database and Redis."""

    def __init__(self, *, pool: str = "solo", concurrency: int = 1, log: Path | None = None, **env):
        self.log = log or Path(f"/tmp/bench-worker-{os.getpid()}.log")
        command = [
            sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", pool,
            "-c", str(concurrency), "-n", f"bench-{os.getpid()}-{time.monotonic_ns()}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **ENV, **{k: str(v) for k, v in env.items()}},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while " ready." not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def pids(self) -> list[int]:
        pids = [self.process.pid]
        try:
            pids += [int(p) for p in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()]
        except FileNotFoundError:
            pass
        return pids

    def peak_rss_mb(self) -> float:
        """The largest peak resident set (VmHWM) among the worker's processes."""
        peaks = []
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except FileNotFoundError:
                pass
        return round(max(peaks), 1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_done(request_ids: list[int], *, timeout: float = 600) -> float:
    """Seconds until every request is done; raises on a failed one or the timeout."""
    from apps.leaderboards.models import SettlementRequest

    started = time.perf_counter()
    while True:
        statuses = dict(SettlementRequest.objects.filter(pk__in=request_ids).values_list("pk", "status"))
        if any(status == "failed" for status in statuses.values()):
            raise RuntimeError(f"a settlement failed: {statuses}")
        if all(statuses.get(pk) == "done" for pk in request_ids):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"settlement did not finish in {timeout}s: {statuses}")
        time.sleep(0.005)


def emit(figures: dict) -> None:
    print(json.dumps(figures, sort_keys=True))
