from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.matches.models import Match
from tests.common.api import anonymous_client, assert_error
from tests.factories import MatchFactory, RoundFactory, TeamFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _matches_url(tournament, query: str = "") -> str:
    return f"/api/v1/tournaments/{tournament.id}/matches{query}"


def test_match_detail_is_public_and_names_both_teams():
    match = MatchFactory()
    response = anonymous_client().get(f"/api/v1/matches/{match.id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id", "tournament", "round", "home_team", "away_team", "kickoff_at",
        "status", "home_score", "away_score", "result_version", "locked",
    }  # fmt: skip
    assert body["tournament"] == match.tournament_id and body["round"] == match.round_id
    assert body["home_team"] == {"id": match.home_team.id, "name": match.home_team.name, "code": match.home_team.code}
    assert body["status"] == "scheduled" and body["locked"] is False
    assert body["home_score"] is None and body["away_score"] is None


def test_match_detail_shows_the_regular_time_score_when_that_counts():
    match = MatchFactory(status=Match.Status.FINISHED, home_score=1, away_score=1, home_score_et=2, away_score_et=1)
    body = anonymous_client().get(f"/api/v1/matches/{match.id}").json()
    assert (body["home_score"], body["away_score"]) == (1, 1)
    assert body["locked"] is True


def test_match_detail_shows_the_extra_time_score_when_the_tournament_counts_it():
    tournament = TournamentFactory(counted_result="extra_time")
    match = MatchFactory(
        tournament=tournament,
        status=Match.Status.FINISHED,
        home_score=1,
        away_score=1,
        home_score_et=2,
        away_score_et=1,
        home_penalties=5,
        away_penalties=4,
    )
    body = anonymous_client().get(f"/api/v1/matches/{match.id}").json()
    assert (body["home_score"], body["away_score"]) == (2, 1)


def test_match_is_locked_inside_lock_minutes_before_kickoff():
    tournament = TournamentFactory(lock_minutes=30)
    inside = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timedelta(minutes=20))
    outside = MatchFactory(tournament=tournament, kickoff_at=timezone.now() + timedelta(minutes=40))
    assert anonymous_client().get(f"/api/v1/matches/{inside.id}").json()["locked"] is True
    assert anonymous_client().get(f"/api/v1/matches/{outside.id}").json()["locked"] is False


@pytest.mark.parametrize("status", ["live", "finished", "postponed", "cancelled", "abandoned"])
def test_a_match_that_is_not_scheduled_is_locked_even_before_kickoff(status):
    match = MatchFactory(status=status, kickoff_at=timezone.now() + timedelta(days=3))
    assert anonymous_client().get(f"/api/v1/matches/{match.id}").json()["locked"] is True


@pytest.mark.parametrize("match_id", ["0", "987654", "99999999999999999999999"])
def test_unknown_match_answers_404(match_id):
    assert_error(anonymous_client().get(f"/api/v1/matches/{match_id}"), 404)


def test_match_list_filters_by_round_status_and_dates():
    tournament = TournamentFactory()
    group, final = RoundFactory(tournament=tournament), RoundFactory(tournament=tournament)
    day = datetime(2030, 6, 11, 18, tzinfo=UTC)
    early = MatchFactory(tournament=tournament, round=group, kickoff_at=day)
    late = MatchFactory(tournament=tournament, round=group, kickoff_at=day + timedelta(days=1), status="finished")
    last = MatchFactory(tournament=tournament, round=final, kickoff_at=day + timedelta(days=5))
    MatchFactory()  # another tournament

    def ids(query: str) -> list[int]:
        response = anonymous_client().get(_matches_url(tournament, query))
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [early.id, late.id, last.id]
    assert ids(f"?round={group.id}") == [early.id, late.id]
    assert ids("?status=finished") == [late.id]
    assert ids("?date_from=2030-06-12") == [late.id, last.id]
    assert ids("?date_to=2030-06-12") == [early.id, late.id]
    assert ids("?date_from=2030-06-12&date_to=2030-06-12") == [late.id]
    assert ids("?date_from=2030-06-11T19:00:00Z") == [late.id, last.id]
    assert ids(f"?round={final.id}&status=finished") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?round=abc", "round"),
        ("?round=0", "round"),
        ("?round=99999999999999999999999", "round"),
        ("?status=over", "status"),
        ("?date_from=yesterday", "date_from"),
        ("?date_from=2030-13-45", "date_from"),
        ("?date_to=2030-06-11T25:00:00Z", "date_to"),
        ("?date_from=2030-06-12&date_to=2030-06-11", "date_to"),
    ],
)
def test_match_list_with_a_bad_filter_answers_a_field_map(query, field):
    response = anonymous_client().get(_matches_url(TournamentFactory(), query))
    assert response.status_code == 400
    assert field in response.json()


def test_match_list_of_an_unknown_tournament_answers_404():
    assert_error(anonymous_client().get("/api/v1/tournaments/31337/matches"), 404, "tournament_not_found")


def test_match_list_reads_a_page_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    tournament = TournamentFactory()
    teams = TeamFactory.create_batch(4, tournament=tournament)
    rnd = RoundFactory(tournament=tournament)
    for i in range(12):
        MatchFactory(tournament=tournament, round=rnd, home_team=teams[i % 4], away_team=teams[(i + 1) % 4])
    client = anonymous_client()
    # tournament exists + count + page
    with django_assert_max_num_queries(3):
        response = client.get(_matches_url(tournament))
    assert response.json()["count"] == 12
