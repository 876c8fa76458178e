"""Score awards applied in batches: claimed once, never waiting on a settlement's rows, Redis written in order.

The last test runs a real Celery worker applying 20,000 awards while a
settlement of the same tournament runs on the same worker's other process.
"""

import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from apps.guesses.models import Guess
from apps.leaderboards.boards import projection_write
from apps.leaderboards.boards.keys import BoardKey, member_field, owed_key
from apps.leaderboards.boards.locks import LOCK_CLASS
from apps.leaderboards.boards.projection_read import zscore_split
from apps.leaderboards.models import BoardState, ScoreAction, ScoreActionAward, SettlementRequest, Standing
from apps.leaderboards.settlement import actions
from apps.leaderboards.settlement.verify import standings_verify
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import Match
from apps.members.models import Member
from tests.factories import MatchFactory, TournamentFactory
from tests.waiting import wait_until

from .helpers import expected_totals
from .test_settlement_faults import PICKS, ROOT, _children, _publish, _stop, _worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def _tournament(members: int, *, with_match: bool = False):
    """A tournament of `members` with zero standings, a 'quiz' action and, optionally, a finished 2-1 match."""
    tournament = TournamentFactory()
    people = Member.objects.bulk_create(Member(username=f"aw-{tournament.pk}-{i}") for i in range(members))
    Standing.objects.bulk_create(Standing(tournament=tournament, member=m) for m in people)
    action = ScoreAction.objects.create(tournament=tournament, code="quiz", name="Quiz", points=1, limit=1_000)
    request = None
    if with_match:
        match = MatchFactory(tournament=tournament)
        Guess.objects.bulk_create(
            Guess(match=match, member=m, home_goals=PICKS[i % len(PICKS)][0], away_goals=PICKS[i % len(PICKS)][1])
            for i, m in enumerate(people)
        )
        Match.objects.filter(pk=match.pk).update(status="finished", home_score=2, away_score=1, result_version=1)
        request = SettlementRequest.objects.create(
            match=match, result_version=1, idempotency_key=f"settlement:{match.pk}:1"
        )
    return tournament, people, action, request


def _awards(tournament, action, members, per_member: int) -> dict[int, int]:
    """`per_member` pending awards of 1 to 3 points for each member; returns member id -> points awarded."""
    owed = defaultdict(int)
    rows = []
    for i, member in enumerate(members):
        for n in range(per_member):
            points = 1 + (i + n) % 3
            owed[member.id] += points
            rows.append(
                ScoreActionAward(
                    action=action, tournament=tournament, member=member, idempotency_key=uuid.uuid4(), points=points
                )
            )
    ScoreActionAward.objects.bulk_create(rows, batch_size=5_000)
    return dict(owed)


def _start_worker(env: dict, *, log) -> subprocess.Popen:
    """A settlement-queue worker with two pool processes: a settlement and the awards' job run side by side."""
    command = [
        sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", "prefork",
        "-c", "2", "-n", f"awards-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _other_connection() -> psycopg.Connection:
    database = connection.settings_dict
    return psycopg.connect(
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        user=database["USER"] or "postgres",
        dbname=database["NAME"],
    )


def _redis_points(tournament, member_id: int) -> int | None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    score = client.zscore(BoardKey.of_tournament(tournament.id).redis_key, member_field(member_id))
    return None if score is None else zscore_split(score)[0]


def test_the_boards_version_moves_once_per_batch_not_once_per_award(settings):
    tournament, members, action, _ = _tournament(10)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    _awards(tournament, action, members, per_member=3)
    settings.SCORE_ACTION_BATCH_SIZE = 10

    report = actions.score_awards_apply(tournament_id=tournament.id)

    assert report == {"applied": 30, "batches": 3, "more": False}
    assert BoardState.objects.get(tournament=tournament).version == 3
    assert not ScoreActionAward.objects.filter(status="pending").exists()
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_batch_skips_members_whose_standing_another_transaction_holds_and_applies_them_later():
    tournament, members, action, _ = _tournament(3)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    awarded = _awards(tournament, action, members, per_member=2)
    busy = members[1]
    with _other_connection() as other:
        # As a settlement batch does: the standing row locked until its commit.
        other.execute(
            f"SELECT 1 FROM {Standing._meta.db_table} WHERE tournament_id = %s AND member_id = %s FOR UPDATE",
            [tournament.id, busy.id],
        )
        batch = actions.score_awards_apply_batch(tournament_id=tournament.id)
        assert (batch.claimed, batch.applied) == (6, 4)
        assert set(ScoreActionAward.objects.filter(status="pending").values_list("member_id", flat=True)) == {busy.id}
        other.rollback()
    actions.score_awards_project(tournament_id=tournament.id, members=batch.members, leagues=batch.leagues)
    report = actions.score_awards_apply(tournament_id=tournament.id)
    assert report["applied"] == 2
    assert Standing.objects.get(tournament=tournament, member=busy).points == awarded[busy.id]
    assert standings_verify(tournament_id=tournament.id) == []


def test_a_job_whose_awards_stay_locked_leaves_them_to_the_sweeper_instead_of_spinning(monkeypatch):
    tournament, members, action, _ = _tournament(1)
    _awards(tournament, action, members, per_member=1)
    monkeypatch.setattr(actions, "STALLED_SECONDS", 0.2)
    with _other_connection() as other:
        other.execute(
            f"SELECT 1 FROM {Standing._meta.db_table} WHERE tournament_id = %s FOR UPDATE", [tournament.id]
        )
        started = time.monotonic()
        report = actions.score_awards_apply(tournament_id=tournament.id)
        assert time.monotonic() - started < 5
        other.rollback()
    assert report == {"applied": 0, "batches": 0, "more": False}
    assert ScoreActionAward.objects.get().status == "pending"


def test_while_another_writer_holds_the_tournament_lock_the_totals_wait_in_the_owed_set():
    tournament, members, action, _ = _tournament(2)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    owed = _awards(tournament, action, members[:1], per_member=2)
    member_id = members[0].id
    with _other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, tournament.id])
        actions.score_awards_apply(tournament_id=tournament.id)
        # The database has the points; Redis is left to whoever holds the lock next.
        assert Standing.objects.get(tournament=tournament, member_id=member_id).points == owed[member_id]
        assert _redis_points(tournament, member_id) == 0
        assert redis.Redis.from_url(settings.REDIS_URL).smembers(owed_key(tournament.id)) == {str(member_id).encode()}
        assert actions.score_projection_flush(tournament_id=tournament.id) is False
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, tournament.id])
    assert actions.score_projection_flush(tournament_id=tournament.id) is True
    assert _redis_points(tournament, member_id) == owed[member_id]
    assert standings_verify(tournament_id=tournament.id) == []


def test_intake_sends_one_job_for_the_awards_that_arrive_while_one_is_queued(monkeypatch):
    from apps.leaderboards.settlement import outbox

    tournament, members, action, _ = _tournament(1)
    sent = []
    monkeypatch.setattr(
        outbox,
        "_send",
        lambda task, *, what, countdown=None, eager_raises=True, **kwargs: sent.append((task, kwargs)),
    )
    for _ in range(3):
        actions.score_action_submit(
            tournament_id=tournament.id, code="quiz", member_id=members[0].id, idempotency_key=uuid.uuid4()
        )
    assert sent == [("score_actions_apply", {"tournament_id": tournament.id})]
    # The job clears the flag before it claims: the next award sends the next job.
    actions.score_awards_apply(tournament_id=tournament.id)
    actions.score_action_submit(
        tournament_id=tournament.id, code="quiz", member_id=members[0].id, idempotency_key=uuid.uuid4()
    )
    assert len(sent) == 2


def test_the_sweeper_applies_awards_whose_job_was_lost_and_writes_totals_left_owed(settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.leaderboards.settlement.sweeper import settlement_sweep

    tournament, members, action, _ = _tournament(2)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    awarded = _awards(tournament, action, members[:1], per_member=2)
    # Totals left owed by a flush job that was lost: the database has 7 points, the board still 0.
    Standing.objects.filter(tournament=tournament, member=members[1]).update(points=7)
    projection_write.projection_owed_add(tournament_id=tournament.id, member_ids=[members[1].id])
    swept = settlement_sweep()  # Celery is eager here: the jobs run inside the sweep
    assert (swept["awards"], swept["owed"]) == ([], [tournament.id])  # the awards are not late yet
    assert _redis_points(tournament, members[1].id) == 7

    ScoreActionAward.objects.update(created_at=timezone.now() - timedelta(seconds=settings.SETTLEMENT_STUCK_SECONDS + 1))
    swept = settlement_sweep()

    assert (swept["awards"], swept["owed"]) == ([tournament.id], [])
    assert not ScoreActionAward.objects.filter(status="pending").exists()
    assert _redis_points(tournament, members[0].id) == awarded[members[0].id]
    assert settlement_sweep() == {"settlements": [], "questions": [], "awards": [], "rebuilds": [], "owed": []}


@pytest.mark.slow
def test_20000_awards_applied_by_a_worker_during_a_settlement_of_the_same_tournament_count_once(tmp_path):
    tournament, members, action, request = _tournament(5_000, with_match=True)
    leagues = []
    for n, step in enumerate((3, 7)):
        league = League.objects.create(tournament=tournament, name=f"L{n}", owner=members[0], invite_code=f"AW{tournament.pk}-{n}")
        LeagueMembership.objects.bulk_create(LeagueMembership(league=league, member=m) for m in members[::step])
        leagues.append(league)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    awarded = _awards(tournament, action, members, per_member=4)
    assert ScoreActionAward.objects.filter(status="pending").count() == 20_000

    log = tmp_path / "worker.log"
    env = _worker_env(SETTLEMENT_BATCH_SIZE=250, SETTLEMENT_BATCH_PAUSE_SECONDS=0.1, SCORE_ACTION_BATCH_SIZE=1_000)
    worker = _start_worker(env, log=log)
    try:
        wait_until(lambda: len(_children(worker.pid)) == 2, timeout=30, what="two pool processes")
        _publish("apps.leaderboards.tasks.settlement_run", request_id=request.pk)
        wait_until(
            lambda: SettlementRequest.objects.get(pk=request.pk).guesses_walked > 0, timeout=60, what="the settlement"
        )
        _publish("apps.leaderboards.tasks.score_actions_apply", tournament_id=tournament.id)

        def applied_during_settlement():
            applied = ScoreActionAward.objects.filter(status="applied").count()
            status = SettlementRequest.objects.get(pk=request.pk).status
            assert status == "in_progress" or applied == 0, "the settlement ended before any award was applied"
            return applied > 0

        # Read in this order, an in-progress settlement seen after applied awards proves they interleaved.
        wait_until(applied_during_settlement, timeout=60, what="awards applied while the settlement runs")
        wait_until(
            lambda: SettlementRequest.objects.get(pk=request.pk).status == "done"
            and not ScoreActionAward.objects.filter(status="pending").exists()
            and not redis.Redis.from_url(settings.REDIS_URL).exists(owed_key(tournament.id)),
            timeout=120,
            what="the settlement done, every award applied and every owed total taken",
        )
        # The last flush pops its members before it writes them: give it the moment it needs.
        wait_until(lambda: standings_verify(tournament_id=tournament.id) == [], timeout=20, what="exact boards")
    finally:
        _stop(worker)
    text = log.read_text()
    assert "deadlock" not in text.lower() and "Traceback" not in text, text[-3000:]

    # With the worker gone nothing writes any more: the boards stay exact.
    assert ScoreActionAward.objects.filter(status="applied").count() == 20_000
    settled = expected_totals([(request.match, (2, 1))])
    expected = {member.id: settled.get(member.id, (0,))[0] + awarded[member.id] for member in members}
    assert dict(Standing.objects.filter(tournament=tournament).values_list("member_id", "points")) == expected
    assert standings_verify(tournament_id=tournament.id) == []
    assert BoardState.objects.get(tournament=tournament).projection_stale is False
    # Versions moved per batch: 20 settlement batches and at most a few dozen award batches, not 20,000.
    assert BoardState.objects.get(tournament=tournament).version < 200
