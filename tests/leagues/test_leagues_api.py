import pytest

from apps.leaderboards.models import Standing
from apps.leagues.models import League, LeagueMembership
from apps.leagues.services import league_create, league_join
from apps.matches.models import Participation
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _create(owner, tournament, name="Office pool"):
    response = member_client(owner).post(f"/api/v1/tournaments/{tournament.id}/leagues", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _join(member, code):
    return member_client(member).post("/api/v1/leagues/join", {"invite_code": code}, format="json")


def test_creating_a_league_makes_the_owner_a_member_and_a_participant():
    owner, tournament = MemberFactory(), TournamentFactory()
    body = _create(owner, tournament, name="  Office pool ")
    assert set(body) == {"id", "name", "tournament", "invite_code", "owner", "member_count"}
    assert body["name"] == "Office pool" and body["tournament"] == tournament.id
    assert body["owner"] == {"id": owner.id, "display_name": owner.display_name}
    assert body["member_count"] == 1
    assert len(body["invite_code"]) >= 10
    assert LeagueMembership.objects.filter(league_id=body["id"], member=owner).exists()
    assert Participation.objects.filter(tournament=tournament, member=owner).exists()
    assert Standing.objects.filter(tournament=tournament, member=owner).exists()


def test_invite_codes_are_random_and_distinct():
    owner, tournament = MemberFactory(), TournamentFactory()
    codes = {_create(owner, tournament, name=f"L{i}")["invite_code"] for i in range(5)}
    assert len(codes) == 5


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 65}, {"name": None}])
def test_creating_a_league_without_a_usable_name_answers_a_field_map(body):
    tournament = TournamentFactory()
    response = member_client(MemberFactory()).post(f"/api/v1/tournaments/{tournament.id}/leagues", body, format="json")
    assert response.status_code == 400 and "name" in response.json()
    assert not League.objects.exists()


def test_creating_a_league_in_an_unknown_tournament_answers_404():
    response = member_client(MemberFactory()).post("/api/v1/tournaments/55555/leagues", {"name": "x"}, format="json")
    assert_error(response, 404, "tournament_not_found")


def test_league_endpoints_need_a_token():
    league = league_create(tournament_id=TournamentFactory().id, owner_id=MemberFactory().id, name="L")
    client = anonymous_client()
    assert_error(client.post(f"/api/v1/tournaments/{league.tournament_id}/leagues", {"name": "x"}), 401)
    assert_error(client.post("/api/v1/leagues/join", {"invite_code": league.invite_code}), 401)
    assert_error(client.get("/api/v1/me/leagues"), 401)
    assert_error(client.get(f"/api/v1/leagues/{league.id}"), 401)
    assert_error(client.post(f"/api/v1/leagues/{league.id}/invite_code"), 401)
    assert_error(client.delete(f"/api/v1/leagues/{league.id}/members/{league.owner_id}"), 401)


def test_joining_with_the_invite_code_joins_the_league_and_its_tournament():
    owner, friend, tournament = MemberFactory(), MemberFactory(), TournamentFactory()
    created = _create(owner, tournament)
    response = _join(friend, created["invite_code"])
    assert response.status_code == 200
    assert response.json()["id"] == created["id"] and response.json()["member_count"] == 2
    assert Participation.objects.filter(tournament=tournament, member=friend).exists()
    assert Standing.objects.filter(tournament=tournament, member=friend).exists()


def test_joining_twice_is_not_an_error():
    owner, friend = MemberFactory(), MemberFactory()
    code = _create(owner, TournamentFactory())["invite_code"]
    assert _join(friend, code).status_code == 200
    second = _join(friend, code)
    assert second.status_code == 200 and second.json()["member_count"] == 2


@pytest.mark.parametrize("code", ["nope", "", "x" * 65])
def test_joining_with_an_unknown_code_answers_404_invalid_invite_code_or_a_field_map(code):
    response = _join(MemberFactory(), code)
    if code == "nope":
        assert_error(response, 404, "invalid_invite_code")
    else:
        assert response.status_code == 400 and "invite_code" in response.json()


def test_a_member_sees_the_league_and_others_get_403_and_unknown_ids_404():
    owner, stranger = MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    assert member_client(owner).get(f"/api/v1/leagues/{league['id']}").json() == league
    assert_error(member_client(stranger).get(f"/api/v1/leagues/{league['id']}"), 403, "not_league_member")
    assert_error(member_client(owner).get("/api/v1/leagues/987654"), 404, "league_not_found")


def test_my_leagues_lists_only_the_leagues_i_am_in():
    me, other = MemberFactory(), MemberFactory()
    first, second = TournamentFactory(), TournamentFactory()
    mine = _create(me, first, name="Mine")
    joined = _create(other, second, name="Theirs, joined")
    _create(other, first, name="Not mine")
    _join(me, joined["invite_code"])

    body = member_client(me).get("/api/v1/me/leagues").json()
    assert body["count"] == 2
    assert [(row["id"], row["member_count"]) for row in body["results"]] == [(mine["id"], 1), (joined["id"], 2)]
    only_second = member_client(me).get(f"/api/v1/me/leagues?tournament={second.id}").json()
    assert [row["id"] for row in only_second["results"]] == [joined["id"]]
    assert member_client(me).get("/api/v1/me/leagues?tournament=abc").status_code == 400


def test_the_owner_rotates_the_invite_code_and_the_old_one_stops_working():
    owner, friend, late = MemberFactory(), MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    response = member_client(owner).post(f"/api/v1/leagues/{league['id']}/invite_code")
    assert response.status_code == 200
    new_code = response.json()["invite_code"]
    assert new_code != league["invite_code"] and len(new_code) >= 10
    assert_error(_join(late, league["invite_code"]), 404, "invalid_invite_code")
    assert _join(late, new_code).status_code == 200


def test_only_the_owner_rotates_the_invite_code():
    owner, friend, stranger = MemberFactory(), MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    assert_error(member_client(friend).post(f"/api/v1/leagues/{league['id']}/invite_code"), 403, "not_league_owner")
    assert_error(member_client(stranger).post(f"/api/v1/leagues/{league['id']}/invite_code"), 403)
    assert_error(member_client(owner).post("/api/v1/leagues/424242/invite_code"), 404, "league_not_found")
    assert League.objects.get(pk=league["id"]).invite_code == league["invite_code"]


def test_a_member_leaves_a_league():
    owner, friend = MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    response = member_client(friend).delete(f"/api/v1/leagues/{league['id']}/members/{friend.id}")
    assert response.status_code == 204
    assert not LeagueMembership.objects.filter(league_id=league["id"], member=friend).exists()
    assert_error(member_client(friend).get(f"/api/v1/leagues/{league['id']}"), 403)


def test_the_owner_removes_a_member():
    owner, friend = MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    assert member_client(owner).delete(f"/api/v1/leagues/{league['id']}/members/{friend.id}").status_code == 204
    assert member_client(owner).get(f"/api/v1/leagues/{league['id']}").json()["member_count"] == 1


def test_a_member_cannot_remove_another_member_and_a_stranger_cannot_remove_anyone():
    owner, friend, other_friend, stranger = MemberFactory.create_batch(4)
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    _join(other_friend, league["invite_code"])
    url = f"/api/v1/leagues/{league['id']}/members"
    assert_error(member_client(friend).delete(f"{url}/{other_friend.id}"), 403, "not_league_owner")
    assert_error(member_client(friend).delete(f"{url}/{owner.id}"), 403, "not_league_owner")
    assert_error(member_client(stranger).delete(f"{url}/{friend.id}"), 403, "not_league_member")
    assert_error(member_client(stranger).delete(f"{url}/{stranger.id}"), 403, "not_league_member")
    assert LeagueMembership.objects.filter(league_id=league["id"]).count() == 3


def test_removing_from_an_unknown_league_or_a_non_member_answers_404():
    owner, stranger = MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    assert_error(member_client(owner).delete("/api/v1/leagues/999999/members/1"), 404, "league_not_found")
    response = member_client(owner).delete(f"/api/v1/leagues/{league['id']}/members/{stranger.id}")
    assert_error(response, 404, "league_member_not_found")


def test_when_the_owner_leaves_the_earliest_remaining_member_owns_the_league():
    tournament = TournamentFactory()
    owner, first, second = MemberFactory.create_batch(3)
    league = league_create(tournament_id=tournament.id, owner_id=owner.id, name="L")
    league_join(member_id=first.id, invite_code=league.invite_code)
    league_join(member_id=second.id, invite_code=league.invite_code)
    assert member_client(owner).delete(f"/api/v1/leagues/{league.id}/members/{owner.id}").status_code == 204
    league.refresh_from_db()
    assert league.owner_id == first.id
    # The new owner has the owner's rights.
    assert member_client(first).post(f"/api/v1/leagues/{league.id}/invite_code").status_code == 200
    assert member_client(first).delete(f"/api/v1/leagues/{league.id}/members/{second.id}").status_code == 204


def test_when_the_last_member_leaves_the_league_is_deleted():
    owner = MemberFactory()
    league = _create(owner, TournamentFactory())
    assert member_client(owner).delete(f"/api/v1/leagues/{league['id']}/members/{owner.id}").status_code == 204
    assert not League.objects.filter(pk=league["id"]).exists()
    assert_error(_join(MemberFactory(), league["invite_code"]), 404, "invalid_invite_code")


def test_a_member_removed_by_the_owner_cannot_rejoin_with_the_old_invite_code():
    owner, friend, newcomer = MemberFactory.create_batch(3)
    league = _create(owner, TournamentFactory())
    old_code = league["invite_code"]
    _join(friend, old_code)
    assert member_client(owner).delete(f"/api/v1/leagues/{league['id']}/members/{friend.id}").status_code == 204

    rejoin = member_client(friend).post("/api/v1/leagues/join", {"invite_code": old_code}, format="json")
    assert_error(rejoin, 404, "invalid_invite_code")
    assert not LeagueMembership.objects.filter(league_id=league["id"], member=friend).exists()
    new_code = member_client(owner).get(f"/api/v1/leagues/{league['id']}").json()["invite_code"]
    assert new_code != old_code
    assert _join(newcomer, new_code).json()["id"] == league["id"]


def test_a_member_who_leaves_by_itself_may_come_back_with_the_same_code():
    owner, friend = MemberFactory(), MemberFactory()
    league = _create(owner, TournamentFactory())
    _join(friend, league["invite_code"])
    assert member_client(friend).delete(f"/api/v1/leagues/{league['id']}/members/{friend.id}").status_code == 204
    assert _join(friend, league["invite_code"]).json()["id"] == league["id"]
