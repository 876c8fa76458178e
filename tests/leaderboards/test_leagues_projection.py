import pytest

from apps.leaderboards.services import projection
from apps.leaderboards.services.leagues import league_create, league_join, league_member_remove
from tests.factories import MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _mark_built(league) -> None:
    client = projection.redis_client()
    client.sadd(projection.leagues_ready_key(league.tournament_id), league.id)
    client.zadd(projection.league_key(league.tournament_id, league.id), {projection.member_field(league.owner_id): 0})


def _built(league) -> bool:
    client = projection.redis_client()
    return bool(client.sismember(projection.leagues_ready_key(league.tournament_id), league.id)) or bool(
        client.exists(projection.league_key(league.tournament_id, league.id))
    )


def test_a_member_joining_drops_the_league_set_after_commit(django_capture_on_commit_callbacks):
    league = league_create(tournament_id=TournamentFactory().id, owner_id=MemberFactory().id, name="L")
    _mark_built(league)
    with django_capture_on_commit_callbacks(execute=True):
        league_join(member_id=MemberFactory().id, invite_code=league.invite_code)
    assert not _built(league)


def test_joining_again_keeps_the_league_set(django_capture_on_commit_callbacks):
    owner = MemberFactory()
    league = league_create(tournament_id=TournamentFactory().id, owner_id=owner.id, name="L")
    _mark_built(league)
    with django_capture_on_commit_callbacks(execute=True):
        league_join(member_id=owner.id, invite_code=league.invite_code)
    assert _built(league)


def test_a_member_leaving_drops_the_league_set_after_commit(django_capture_on_commit_callbacks):
    league = league_create(tournament_id=TournamentFactory().id, owner_id=MemberFactory().id, name="L")
    friend = MemberFactory()
    league_join(member_id=friend.id, invite_code=league.invite_code)
    _mark_built(league)
    with django_capture_on_commit_callbacks(execute=True):
        league_member_remove(league_id=league.id, actor_id=friend.id, member_id=friend.id)
    assert not _built(league)
