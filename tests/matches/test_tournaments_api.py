import pytest

from apps.leaderboards.models import Standing
from apps.matches.models import Participation
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory, RoundFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def test_tournament_list_is_public_and_carries_the_scoring_settings():
    TournamentFactory(points_exact=5, points_goal_difference=3, points_outcome=1, lock_minutes=15)
    response = anonymous_client().get("/api/v1/tournaments")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 1
    row = body["results"][0]
    assert set(row) == {"id", "name", "slug", "starts_at", "ends_at", "status", "scoring"}
    assert row["scoring"] == {
        "points_exact": 5,
        "points_goal_difference": 3,
        "points_outcome": 1,
        "counted_result": "regular",
        "lock_minutes": 15,
        "jokers_per_round": 1,
    }


def test_tournament_list_pages_with_limit_and_offset():
    TournamentFactory.create_batch(3)
    body = anonymous_client().get("/api/v1/tournaments?limit=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_tournament_detail_lists_rounds_in_order():
    tournament = TournamentFactory()
    final = RoundFactory(tournament=tournament, name="Final", order=2, multiplier=2)
    first = RoundFactory(tournament=tournament, name="Group", order=1)
    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}")
    assert response.status_code == 200
    assert response.json()["rounds"] == [
        {"id": first.id, "name": "Group", "order": 1, "multiplier": 1},
        {"id": final.id, "name": "Final", "order": 2, "multiplier": 2},
    ]


@pytest.mark.parametrize("tournament_id", ["999999", "99999999999999999999999"])
def test_unknown_tournament_answers_404(tournament_id):
    assert_error(anonymous_client().get(f"/api/v1/tournaments/{tournament_id}"), 404, "tournament_not_found")


def test_joining_a_tournament_needs_a_token():
    tournament = TournamentFactory()
    assert_error(anonymous_client().post(f"/api/v1/tournaments/{tournament.id}/join"), 401, "not_authenticated")


def test_joining_creates_a_participation_and_a_zero_standing_and_is_idempotent():
    tournament, member = TournamentFactory(), MemberFactory()
    client = member_client(member)
    first = client.post(f"/api/v1/tournaments/{tournament.id}/join")
    assert first.status_code == 200
    assert first.json()["tournament"] == tournament.id and first.json()["joined_at"]
    second = client.post(f"/api/v1/tournaments/{tournament.id}/join")
    assert second.status_code == 200 and second.json() == first.json()
    assert Participation.objects.filter(tournament=tournament, member=member).count() == 1
    standing = Standing.objects.get(tournament=tournament, member=member)
    assert (standing.points, standing.exact_hits, standing.outcome_hits) == (0, 0, 0)


def test_joining_an_unknown_tournament_answers_404():
    assert_error(member_client(MemberFactory()).post("/api/v1/tournaments/424242/join"), 404, "tournament_not_found")
