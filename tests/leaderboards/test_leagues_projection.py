import pytest

from apps.leaderboards.boards import keys, projection_read, projection_write
from apps.leagues.services import league_create, league_join, league_member_remove
from tests.factories import MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def _mark_built(league) -> None:
    client = projection_read.redis_client()
    client.sadd(keys.leagues_ready_key(league.tournament_id), league.id)
    client.zadd(keys.BoardKey.of_league(league.id, league.tournament_id).redis_key, {keys.member_field(league.owner_id): 0})


def _built(league) -> bool:
    client = projection_read.redis_client()
    return bool(client.sismember(keys.leagues_ready_key(league.tournament_id), league.id)) or bool(
        client.exists(keys.BoardKey.of_league(league.id, league.tournament_id).redis_key)
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
