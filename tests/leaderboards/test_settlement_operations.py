"""Operating settlement: the sweeper, dead letters in the admin, metrics, and the two commands."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.leaderboards.models import BoardState, SettlementRequest, Standing
from apps.leaderboards.boards import keys, projection_read, projection_write
from apps.leaderboards.settlement.sweeper import settlement_sweep
from apps.matches.models import Match
from tests.factories import MemberFactory, TournamentFactory

from .helpers import expected_totals, finish, guesses, match_in, players, standings

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 5)
    match = match_in(tournament)
    guesses(match, {m: (i, 1) for i, m in enumerate(members)})
    with django_capture_on_commit_callbacks(execute=True):
        match, request = finish(match, 2, 1)
    return tournament, members, match, request


def test_the_sweeper_resends_requests_whose_message_was_lost(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 3)
    match = match_in(tournament)
    guesses(match, {m: (1, 0) for m in members})
    match, request = finish(match, 1, 0)  # committed with the test, its message never sent
    assert settlement_sweep()["settlements"] == []  # not late yet

    SettlementRequest.objects.filter(pk=request.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        swept = settlement_sweep()
    assert swept["settlements"] == [request.pk]
    request.refresh_from_db()
    assert request.status == "done"
    assert standings(tournament) == expected_totals([(match, (1, 0))])


def test_the_sweeper_takes_over_a_request_whose_worker_vanished(settings):
    tournament = TournamentFactory()
    members = players(tournament, 4)
    match = match_in(tournament)
    guesses(match, {m: (1, 0) for m in members})
    Match.objects.filter(pk=match.pk).update(status="finished", home_score=1, away_score=0, result_version=1)
    request = SettlementRequest.objects.create(
        match=match,
        result_version=1,
        idempotency_key="abandoned",
        status="in_progress",
        claimed_by="a-dead-worker",
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(hours=1),
        applied_home=1,
        applied_away=0,
        applied_points_exact=4,
        applied_points_goal_difference=3,
        applied_points_outcome=2,
        applied_multiplier=1,
        applied_round=match.round,
    )
    assert settlement_sweep()["settlements"] == [request.pk]
    request.refresh_from_db()
    assert request.status == "done" and request.claimed_by != "a-dead-worker"
    assert standings(tournament) == expected_totals([(match, (1, 0))])


def test_the_sweeper_rebuilds_a_projection_that_missed_a_write(settled):
    tournament, members, *_ = settled
    projection_read.redis_client().delete(keys.tournament_key(tournament.id))
    BoardState.objects.filter(tournament=tournament).update(projection_stale=True)
    assert settlement_sweep()["rebuilds"] == [tournament.id]
    assert projection_read.redis_client().zcard(keys.tournament_key(tournament.id)) == 5
    assert not BoardState.objects.get(tournament=tournament).projection_stale


def test_failed_requests_are_retried_from_the_admin(settled, client, django_capture_on_commit_callbacks):
    tournament, members, match, request = settled
    Standing.objects.filter(tournament=tournament).update(points=0, exact_hits=0, outcome_hits=0)
    SettlementRequest.objects.filter(pk=request.pk).update(
        status="failed", last_error="OperationalError: gone", cursor=0, started_at=timezone.now()
    )
    staff = MemberFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/leaderboards/settlementrequest/?status__exact=failed")
    assert listing.status_code == 200 and request.idempotency_key in listing.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/leaderboards/settlementrequest/",
            {"action": "retry", "_selected_action": [request.pk]},
        )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "done"
    assert standings(tournament) == expected_totals([(match, (2, 1))])


def test_metrics_show_outcomes_durations_and_the_outbox_lag(settled, client):
    tournament, members, match, request = settled
    SettlementRequest.objects.create(match=match, result_version=9, idempotency_key="late")
    SettlementRequest.objects.filter(idempotency_key="late").update(created_at=timezone.now() - timedelta(seconds=90))
    text = client.get("/metrics").content.decode()
    assert 'scoreboard_settlement_jobs_total{outcome="success"}' in text
    assert "scoreboard_settlement_duration_seconds_count" in text
    assert "scoreboard_settlement_rows_per_second_bucket" in text
    assert "scoreboard_leaderboard_database_write_seconds_count" in text
    assert 'scoreboard_settlement_outbox_depth{status="pending"} 1.0' in text
    lag = [line for line in text.splitlines() if line.startswith("scoreboard_settlement_lag_seconds ")]
    assert lag and float(lag[0].split()[1]) >= 90


def test_verify_standings_passes_on_exact_standings_and_fails_on_any_difference(settled, capsys):
    tournament, members, *_ = settled
    call_command("verify_standings", "--tournament", str(tournament.id))
    assert "standings exact (database and Redis)" in capsys.readouterr().out

    Standing.objects.filter(tournament=tournament, member=members[0]).update(points=99)
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_standings", "--tournament", str(tournament.id))
    assert exit_.value.code == 1
    assert f"member {members[0].id}" in capsys.readouterr().err


def test_a_projection_out_of_step_with_the_database_fails_verification_until_rebuilt(settled, capsys):
    tournament, members, *_ = settled
    projection_read.redis_client().zadd(keys.tournament_key(tournament.id), {keys.member_field(members[1].id): -7})
    with pytest.raises(SystemExit):
        call_command("verify_standings")
    assert "redis tournament" in capsys.readouterr().err

    call_command("rebuild_leaderboards", "--tournament", str(tournament.id))
    call_command("verify_standings")
    assert "standings exact" in capsys.readouterr().out


def test_a_rebuild_restores_every_league_set_even_across_read_chunks(settled, monkeypatch):
    from tests.leaderboards.helpers import leaderboard_page
    from apps.leaderboards.settlement.verify import standings_verify
    from tests.factories import LeagueFactory, LeagueMembershipFactory

    tournament, members, *_ = settled
    monkeypatch.setattr(projection_write, "REBUILD_CHUNK", 3)
    leagues = [LeagueFactory(tournament=tournament, owner=members[0]) for _ in range(3)]
    for league, people in zip(leagues, [members[:4], members[1:3], members[2:]]):
        for member in people:
            LeagueMembershipFactory(league=league, member=member)

    built = projection_write.projection_rebuild(tournament_id=tournament.id)
    assert built["leagues"] == 3
    client = projection_read.redis_client()
    assert [client.zcard(keys.BoardKey.of_league(league.id, tournament.id).redis_key) for league in leagues] == [4, 2, 3]
    assert standings_verify(tournament_id=tournament.id) == []
    page = leaderboard_page(board=f"league:{leagues[1].id}", limit=10, offset=0)
    assert page["source"] == "redis" and {row["member"]["id"] for row in page["rows"]} == {m.id for m in members[1:3]}


def test_rebuild_leaderboard_on_the_tournament_admin_restores_a_damaged_projection(
    settled, admin_client, django_capture_on_commit_callbacks
):
    from apps.leaderboards.settlement.verify import standings_verify

    tournament, members, *_ = settled
    projection_read.redis_client().zadd(keys.tournament_key(tournament.id), {keys.member_field(members[1].id): -7})
    assert standings_verify(tournament_id=tournament.id) != []

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/matches/tournament/",
            {"action": "rebuild_leaderboard", "_selected_action": [tournament.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Queued the rebuild of 1 tournament(s)." in response.content.decode()
    assert standings_verify(tournament_id=tournament.id) == []
