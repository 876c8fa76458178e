"""Faults with real processes: a worker killed mid-settlement, Redis dying mid-settlement.

These start their own processes (a Celery worker on the settlement queue, a
throwaway redis-server on a spare port) and never touch the machine's shared
PostgreSQL or Redis servers beyond this suite's database and Redis db.
"""

import os
import shutil
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from apps.guesses.models import Guess
from apps.leaderboards.models import SettlementRequest, Standing
from apps.leaderboards.boards.selectors import leaderboard_page
from apps.leaderboards.settlement.verify import standings_verify
from apps.leaderboards.boards import keys, projection_read, projection_write
from apps.leaderboards.settlement.runner import loop as runner_loop
from apps.leaderboards.settlement.runner import settlement_run
from apps.matches.models import Match
from apps.members.models import Member
from tests.factories import MatchFactory, TournamentFactory
from tests.waiting import spare_port, wait_until

from .workers import publish as _publish, worker_env as _worker_env, worker_start as _start_worker, worker_stop as _stop

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PICKS = [(2, 1), (1, 0), (0, 0), (1, 2), (3, 1), (2, 1), (0, 1), (2, 2)]


def _finished_match(members: int):
    """A finished 2-1 match with one guess per member, loaded in bulk; its settlement request is pending."""
    tournament = TournamentFactory()
    match = MatchFactory(tournament=tournament)
    people = Member.objects.bulk_create(Member(username=f"fault-{match.pk}-{i}") for i in range(members))
    Standing.objects.bulk_create(Standing(tournament=tournament, member=m) for m in people)
    Guess.objects.bulk_create(
        Guess(match=match, member=m, home_goals=PICKS[i % len(PICKS)][0], away_goals=PICKS[i % len(PICKS)][1])
        for i, m in enumerate(people)
    )
    Match.objects.filter(pk=match.pk).update(status="finished", home_score=2, away_score=1, result_version=1)
    request = SettlementRequest.objects.create(
        match=match, result_version=1, idempotency_key=f"settlement:{match.pk}:1"
    )
    return tournament, match, request


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _send(request: SettlementRequest) -> None:
    _publish("apps.leaderboards.tasks.settlement_run", request_id=request.pk)


def _request(request: SettlementRequest) -> SettlementRequest:
    return SettlementRequest.objects.get(pk=request.pk)


def _half_way(request: SettlementRequest):
    current = _request(request)
    return current.status == "in_progress" and current.guesses_walked > 0 and current


@pytest.fixture
def built_projection():
    def build(tournament):
        projection_write.projection_rebuild(tournament_id=tournament.id)

    return build


def test_a_pool_process_killed_mid_settlement_is_redelivered_and_standings_stay_exact(tmp_path, built_projection):
    tournament, match, request = _finished_match(2_000)
    built_projection(tournament)
    log = tmp_path / "worker.log"
    worker = _start_worker(
        _worker_env(SETTLEMENT_BATCH_SIZE=100, SETTLEMENT_BATCH_PAUSE_SECONDS=0.1), pool="prefork", log=log
    )
    try:
        _send(request)
        seen = wait_until(lambda: _half_way(request), timeout=60, what="the first batches to commit")
        assert seen.guesses_walked < 2_000
        children = wait_until(lambda: _children(worker.pid), timeout=10, what="the pool process")
        os.kill(children[0], signal.SIGKILL)

        done = wait_until(lambda: _request(request).status == "done" and _request(request), timeout=90, what="done")
        assert done.attempts >= 2, log.read_text()[-3000:]
        assert done.guesses_walked == 2_000
        assert standings_verify(tournament_id=tournament.id) == []
    finally:
        _stop(worker)
    assert "WorkerLostError" in log.read_text() or "SIGKILL" in log.read_text()


def test_a_whole_worker_killed_mid_settlement_is_swept_to_the_next_worker(tmp_path, built_projection):
    """The broker would hand the message back only after its visibility timeout (an hour);
    the beat sweeper sends a request whose heartbeat went quiet again long before that."""
    tournament, match, request = _finished_match(2_000)
    built_projection(tournament)
    log = tmp_path / "worker.log"
    env = _worker_env(SETTLEMENT_BATCH_SIZE=100, SETTLEMENT_BATCH_PAUSE_SECONDS=0.1, SETTLEMENT_STUCK_SECONDS=1)
    first = _start_worker(env, pool="solo", log=log)
    try:
        _send(request)
        wait_until(lambda: _half_way(request), timeout=60, what="the first batches to commit")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
        stopped = _request(request)
        assert stopped.status == "in_progress" and 0 < stopped.guesses_walked < 2_000
        # What committed before the kill is exact: every batch up to the cursor, nothing beyond.
        assert standings_verify(tournament_id=tournament.id, projection_too=False) == []

        second = _start_worker(env, pool="solo", log=log)
        try:
            wait_until(lambda: _request(request).heartbeat_at < timezone.now() - timedelta(seconds=1), timeout=10,
                      what="the heartbeat to go stale")  # fmt: skip
            _publish("apps.leaderboards.tasks.settlement_sweep")
            done = wait_until(
                lambda: _request(request).status == "done" and _request(request), timeout=90, what="the sweep"
            )
        finally:
            _stop(second)
    finally:
        _stop(first)
    assert done.attempts >= 2 and done.guesses_walked == 2_000
    assert standings_verify(tournament_id=tournament.id) == []


class ThrowawayRedis:
    """A redis-server of this test's own on a spare port, started and killed at will."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_until(answers, timeout=10, what="redis-server to start")
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis(settings):
    binary = shutil.which("redis-server")
    # The suite needs a Redis server anyway; this test needs its binary to start one of its own.
    assert binary is not None, "redis-server is not on PATH: install Debian's redis-server package"
    server = ThrowawayRedis(binary)
    server.start()
    settings.REDIS_URL = server.url
    projection_read.projection_clients_reset()
    yield server
    server.kill()
    projection_read.projection_clients_reset()


def test_redis_dying_mid_settlement_leaves_the_database_right_and_a_rebuild_restores_the_boards(
    throwaway_redis, settings, monkeypatch
):
    from apps.leaderboards.models import BoardState

    tournament, match, request = _finished_match(600)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    settings.SETTLEMENT_BATCH_SIZE = 100
    real_move, moves = projection_write.projection_move, []

    def move_then_lose_redis(**kwargs):
        moves.append(real_move(**kwargs))
        if len(moves) == 2:
            throwaway_redis.kill()
        return moves[-1]

    monkeypatch.setattr(runner_loop, "projection_move", move_then_lose_redis)
    report = settlement_run(request_id=request.id)
    monkeypatch.setattr(runner_loop, "projection_move", real_move)

    assert report.outcome == "done" and report.rows == 600 and len(moves) == 2
    assert _request(request).status == "done"
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []
    assert BoardState.objects.get(tournament=tournament).projection_stale

    # Reads fall back to the database, with the same ranking.
    page = leaderboard_page(board=f"tournament:{tournament.id}", limit=20, offset=0)
    assert page["source"] == "database"
    top = list(Standing.objects.filter(tournament=tournament).order_by("-points", "-exact_hits", "member_id")[:20])
    assert [(row["member"]["id"], row["points"]) for row in page["rows"]] == [(s.member_id, s.points) for s in top]

    # Redis comes back empty: reads stay on the database until the rebuild restores every board.
    throwaway_redis.start()
    projection_read.projection_clients_reset()
    assert leaderboard_page(board=f"tournament:{tournament.id}", limit=1, offset=0)["source"] == "database"
    call_command("rebuild_leaderboards", "--tournament", str(tournament.id))
    assert standings_verify(tournament_id=tournament.id) == []
    assert not BoardState.objects.get(tournament=tournament).projection_stale
    restored = leaderboard_page(board=f"tournament:{tournament.id}", limit=20, offset=0)
    assert restored["source"] == "redis" and restored["rows"] == page["rows"]
