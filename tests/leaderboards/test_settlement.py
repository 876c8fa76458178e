"""Settlement applies every guess exactly once: replays, corrections, voids, resumption."""

import pytest

from apps.leaderboards.models import BoardState, SettlementRequest
from apps.leaderboards.settlement.verify import standings_verify
from apps.leaderboards.settlement import operations as settlement_service
from apps.leaderboards.settlement.operations import match_settle_now
from apps.leaderboards.settlement.runner import settlement_run
from apps.leaderboards.settlement.sql import BatchPlan
from apps.matches.models import Match
from tests.factories import RoundFactory, TournamentFactory

from .helpers import expected_totals, finish, guesses, match_in, players, round_standings, standings, void

pytestmark = pytest.mark.django_db

PICKS = [(2, 1), (1, 0), (3, 2), (1, 1), (0, 0), (0, 2), (2, 1), (4, 1), (1, 2), (2, 2)]


@pytest.fixture
def cup():
    tournament = TournamentFactory()
    members = players(tournament, len(PICKS))
    match = match_in(tournament)
    guesses(match, dict(zip(members, PICKS)))
    return tournament, match, members


def test_a_finished_match_settles_once_with_the_points_of_scoring_md(cup, django_capture_on_commit_callbacks):
    tournament, match, members = cup
    with django_capture_on_commit_callbacks(execute=True):
        match, request = finish(match, 2, 1)

    request.refresh_from_db()
    assert request.status == SettlementRequest.Status.DONE
    expected = expected_totals([(match, (2, 1))])
    assert standings(tournament) == expected
    assert round_standings(match.round) == expected
    # 2-1 exact twice (4), goal difference 1-0 / 3-2 (3), outcome 4-1 (2); the rest scored nothing.
    assert sorted(points for points, *_ in expected.values()) == [2, 3, 3, 4, 4]
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []


def test_replayed_settlement_awards_points_once(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True):
        match, request = finish(match, 2, 1)
    before = standings(tournament)
    version = BoardState.objects.get(tournament=tournament).version

    assert settlement_run(request_id=request.id).outcome == "noop"
    from apps.leaderboards.settlement.tasks import settlement_run as task

    assert task.apply(kwargs={"request_id": request.id}).get() == "noop"
    # Writing the same result version again is the same outbox row, not a second settlement.
    with django_capture_on_commit_callbacks(execute=True):
        from apps.leaderboards.settlement.outbox import settlement_request_write

        assert settlement_request_write(match=match).pk == request.pk

    assert standings(tournament) == before
    assert BoardState.objects.get(tournament=tournament).version == version


def test_a_corrected_result_moves_standings_by_the_difference(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True):
        match, first = finish(match, 2, 1)
    with django_capture_on_commit_callbacks(execute=True):
        match, second = finish(match, 1, 1)

    second.refresh_from_db()
    assert second.status == SettlementRequest.Status.DONE
    assert second.base_id == first.id
    assert standings(tournament) == expected_totals([(match, (1, 1))])
    assert round_standings(match.round) == expected_totals([(match, (1, 1))])
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []


def test_a_voided_match_is_reversed(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    other = match_in(tournament)
    members = list(standings(tournament)) or None
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    assert standings(tournament)

    with django_capture_on_commit_callbacks(execute=True):
        match, reversal = void(match, Match.Status.ABANDONED)

    reversal.refresh_from_db()
    assert reversal.status == SettlementRequest.Status.DONE
    assert standings(tournament) == {}
    assert round_standings(match.round) == {}
    assert other.pk and members is None
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []


def test_points_follow_the_round_multiplier_and_the_tournament_settings(django_capture_on_commit_callbacks):
    tournament = TournamentFactory(points_exact=10, points_goal_difference=6, points_outcome=5)
    final = RoundFactory(tournament=tournament, multiplier=3)
    members = players(tournament, 25)
    match = match_in(tournament, round=final)
    # Every guess from 0-0 to 4-4 against several results, through the SQL path.
    picks = {member: (i // 5, i % 5) for i, member in enumerate(members)}
    guesses(match, picks)
    for result in [(0, 0), (3, 1), (0, 2), (2, 2), (4, 0)]:
        with django_capture_on_commit_callbacks(execute=True):
            match, _ = finish(match, *result)
        assert standings(tournament) == expected_totals([(match, result)]), result
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []


def test_two_matches_add_up_per_member_and_per_round(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 6)
    first, second = match_in(tournament), match_in(tournament)
    guesses(first, {m: PICKS[i] for i, m in enumerate(members)})
    guesses(second, {m: PICKS[-1 - i] for i, m in enumerate(members[:4])})
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = finish(first, 1, 0)
        second, _ = finish(second, 2, 2)

    expected = expected_totals([(first, (1, 0)), (second, (2, 2))])
    assert standings(tournament) == expected
    assert round_standings(first.round) == expected_totals([(first, (1, 0))])
    assert round_standings(second.round) == expected_totals([(second, (2, 2))])


def test_the_orm_path_gives_the_same_standings_as_the_sql_path(cup, monkeypatch, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    monkeypatch.setattr(BatchPlan, "apply", lambda self, *, lo, hi: self._apply_portable(lo=lo, hi=hi))
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 0, 2)
    assert standings(tournament) == expected_totals([(match, (0, 2))])
    assert round_standings(match.round) == expected_totals([(match, (0, 2))])


def test_a_run_stopped_between_batches_resumes_without_applying_a_batch_twice(cup, settings, monkeypatch):
    tournament, match, _ = cup
    settings.SETTLEMENT_BATCH_SIZE = 3
    match.status, match.home_score, match.away_score, match.result_version = Match.Status.FINISHED, 2, 1, 1
    match.save()
    request = SettlementRequest.objects.create(
        match=match, result_version=1, idempotency_key=f"settlement:{match.id}:1"
    )
    real_apply, calls = BatchPlan.apply, []

    def apply_then_die(self, *, lo, hi):
        calls.append((lo, hi))
        if len(calls) == 3:
            raise ConnectionResetError("worker lost")
        return real_apply(self, lo=lo, hi=hi)

    monkeypatch.setattr(BatchPlan, "apply", apply_then_die)
    with pytest.raises(ConnectionResetError):
        settlement_run(request_id=request.id, worker="first")
    request.refresh_from_db()
    assert request.status == SettlementRequest.Status.IN_PROGRESS
    assert request.guesses_walked == 6
    # Half-way, the standings hold exactly the batches the cursor says.
    assert standings_verify(tournament_id=tournament.id, projection_too=False) == []

    monkeypatch.setattr(BatchPlan, "apply", real_apply)
    report = settlement_run(request_id=request.id, worker="second")
    request.refresh_from_db()
    assert (report.outcome, request.status, request.guesses_walked) == ("done", "done", len(PICKS))
    assert standings(tournament) == expected_totals([(match, (2, 1))])


def test_a_newer_result_supersedes_a_pending_request_of_the_same_match(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    match, stale = finish(match, 2, 1)  # its message never ran
    with django_capture_on_commit_callbacks(execute=True):
        match, fresh = finish(match, 0, 0)
    assert settlement_run(request_id=stale.id).outcome == "noop"

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("superseded", "done")
    assert standings(tournament) == expected_totals([(match, (0, 0))])


def test_settling_now_resettles_after_the_scoring_changed(cup, django_capture_on_commit_callbacks):
    tournament, match, _ = cup
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    type(tournament).objects.filter(pk=tournament.pk).update(points_exact=7)
    with django_capture_on_commit_callbacks(execute=True):
        request = match_settle_now(match_id=match.id)

    request.refresh_from_db()
    assert request.status == "done" and request.result_version == match.result_version
    assert standings(tournament) == expected_totals([(match, (2, 1))])
    assert max(points for points, *_ in standings(tournament).values()) == 7


def test_a_request_that_keeps_failing_is_parked_as_failed_and_can_be_retried(cup, settings, monkeypatch):
    from django.db import OperationalError

    from apps.leaderboards.settlement.tasks import settlement_run as task

    tournament, match, _ = cup
    settings.SETTLEMENT_MAX_RETRIES = 2
    match.status, match.home_score, match.away_score, match.result_version = Match.Status.FINISHED, 2, 1, 1
    match.save()
    request = SettlementRequest.objects.create(match=match, result_version=1, idempotency_key="k")
    real_apply = BatchPlan.apply

    def database_away(self, *, lo, hi):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(BatchPlan, "apply", database_away)
    assert task.apply(kwargs={"request_id": request.id}).get() == "failed"
    request.refresh_from_db()
    assert request.status == "failed" and "OperationalError" in request.last_error

    monkeypatch.setattr(BatchPlan, "apply", real_apply)
    settlement_service.settlement_request_retry(request_id=request.id)
    assert task.apply(kwargs={"request_id": request.id}).get() == "done"
    assert standings(tournament) == expected_totals([(match, (2, 1))])
