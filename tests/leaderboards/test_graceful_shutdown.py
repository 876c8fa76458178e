"""SIGTERM to a settlement worker mid-settlement: it stops soon, hands the request back, and nothing is lost.

A real Celery worker (prefork, as the Procfile runs it) settles 200,000
guesses in small batches; the test sends SIGTERM to its main process once the
first batches committed, as a deploy or `docker stop` does.
"""

import signal
import time

import pytest
from django.db import connection

from apps.leaderboards.boards import projection_write
from apps.leaderboards.models import SettlementRequest
from apps.leaderboards.settlement.verify import standings_verify
from apps.matches.models import Match
from tests.factories import MatchFactory, TournamentFactory
from tests.leaderboards.test_settlement_faults import _request, _send, _start_worker, _stop, _worker_env
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GUESSES = 200_000
GRACE_SECONDS = 30


def _finished_match_of(members: int):
    """A finished 2-1 match with one guess per member, written set-based (200k rows in a few seconds)."""
    tournament = TournamentFactory()
    match = MatchFactory(tournament=tournament)
    prefix = f"stop-{match.pk}-"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member (password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined, display_name) "
            "SELECT '!', false, %s || n, '', '', '', false, true, now(), '' FROM generate_series(1, %s) n",
            [prefix, members],
        )
        cursor.execute(
            "INSERT INTO leaderboards_standing (tournament_id, member_id, points, exact_hits, outcome_hits) "
            "SELECT %s, id, 0, 0, 0 FROM members_member WHERE username LIKE %s",
            [tournament.pk, f"{prefix}%"],
        )
        cursor.execute(
            "INSERT INTO guesses_guess (created_at, updated_at, home_goals, away_goals, match_id, member_id) "
            "SELECT now(), now(), id %% 4, id %% 3, %s, id FROM members_member WHERE username LIKE %s",
            [match.pk, f"{prefix}%"],
        )
    Match.objects.filter(pk=match.pk).update(status="finished", home_score=2, away_score=1, result_version=1)
    request = SettlementRequest.objects.create(match=match, result_version=1, idempotency_key=f"settlement:{match.pk}:1")
    return tournament, request


def test_sigterm_mid_settlement_hands_the_request_back_and_the_next_worker_finishes_it_exactly(tmp_path):
    tournament, request = _finished_match_of(GUESSES)
    projection_write.projection_rebuild(tournament_id=tournament.id)
    log = tmp_path / "worker.log"
    # Small, paced batches: the settlement would take minutes, far past the grace period.
    env = _worker_env(SETTLEMENT_BATCH_SIZE=2_000, SETTLEMENT_BATCH_PAUSE_SECONDS=0.4)
    first = _start_worker(env, pool="prefork", log=log)
    second = None
    try:
        _send(request)
        wait_until(
            lambda: _request(request).status == "in_progress" and _request(request).guesses_walked > 0,
            timeout=60,
            what="the first batches to commit",
        )
        stopping_at = time.monotonic()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=GRACE_SECONDS)
        stopped_in = time.monotonic() - stopping_at
        handed = _request(request)
        assert handed.status == "pending", log.read_text()[-3000:]
        assert 0 < handed.guesses_walked < GUESSES
        # What committed is exact: every batch up to the cursor, nothing beyond it.
        assert standings_verify(tournament_id=tournament.id, projection_too=False) == []
        assert "handed back" in log.read_text()

        # Its message went back to the queue: a new worker picks it up without the sweeper.
        second = _start_worker(_worker_env(SETTLEMENT_BATCH_SIZE=25_000), pool="prefork", log=log)
        done = wait_until(
            lambda: _request(request).status == "done" and _request(request), timeout=120, what="the resumed run"
        )
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
    assert stopped_in < GRACE_SECONDS
    assert done.guesses_walked == GUESSES and done.attempts >= 2
    assert standings_verify(tournament_id=tournament.id) == []
