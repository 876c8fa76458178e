"""Board reads under load: public pages cached per board version with ETags, member reads without SQL."""

import json

import pytest

from apps.leaderboards.boards.read_cache import read_cache_fill
from apps.leaderboards.boards.selectors import DetailsFill
from apps.leaderboards.boards import pages, projection_read, selectors
from apps.leaderboards.boards.keys import BoardKey, member_field, names_key
from apps.leaderboards.boards.projection_write import projection_member_name_forget
from tests.common.api import anonymous_client, member_client
from tests.factories import LeagueFactory, LeagueMembershipFactory, TournamentFactory

from .helpers import finish, guesses, match_in, players

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Each test makes its own boards; pages remembered by another test's ids must not answer.
    pages.known_forget()
    yield
    pages.known_forget()


@pytest.fixture
def cup(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 6)
    match = match_in(tournament)
    guesses(match, {m: pick for m, pick in zip(members, [(2, 1), (2, 1), (1, 0), (0, 0), (0, 1), (3, 0)])})
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    return tournament, members, match


def _url(tournament, query: str = "") -> str:
    return f"/api/v1/tournaments/{tournament.id}/leaderboard{query}"


def test_an_etag_read_back_in_if_none_match_answers_304_without_a_body(cup, settings):
    settings.LEADERBOARD_CACHE_SECONDS = 7
    tournament, _, _ = cup
    first = anonymous_client().get(_url(tournament))
    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert first["Cache-Control"] == "public, max-age=7"

    again = anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "public, max-age=7"
    # A weak form of the same tag (what a gzipping proxy hands on) matches too; another tag does not.
    assert anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH=f'W/{first["ETag"]}').status_code == 304
    assert anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_the_etag_changes_after_a_settlement_and_the_new_body_shows_it(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    before = anonymous_client().get(_url(tournament))
    second = match_in(tournament)
    guesses(second, {members[3]: (4, 4)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(second, 4, 4)

    after = anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert after.json()["version"] == before.json()["version"] + 1

    def points_of(body, member):
        return next(row["points"] for row in body["results"] if row["member"]["id"] == member.id)

    assert points_of(after.json(), members[3]) > points_of(before.json(), members[3])


def test_pages_of_one_board_have_their_own_etags(cup, django_capture_on_commit_callbacks):
    tournament, _, match = cup
    tags = {
        anonymous_client().get(_url(tournament, query))["ETag"]
        for query in ("", "?limit=2", "?limit=2&offset=2", f"?round={match.round_id}")
    }
    assert len(tags) == 4


def test_a_cached_public_page_is_read_without_any_sql_and_equals_the_database_path(
    cup, settings, django_assert_num_queries
):
    tournament, _, match = cup
    redis_url = settings.REDIS_URL
    for query in ("?limit=3&offset=1", f"?round={match.round_id}"):
        built = anonymous_client().get(_url(tournament, query))  # built and cached
        with django_assert_num_queries(0):
            cached = anonymous_client().get(_url(tournament, query))
        assert cached.status_code == 200 and cached["X-Leaderboard-Source"] == "redis"
        assert cached.content == built.content and cached["ETag"] == built["ETag"]

        settings.REDIS_URL = ""  # the database path, as when Redis is not configured
        try:
            from_database = anonymous_client().get(_url(tournament, query))
        finally:
            settings.REDIS_URL = redis_url
        assert from_database["X-Leaderboard-Source"] == "database"
        assert from_database.json() == cached.json()


def test_the_database_path_still_answers_with_an_etag_of_its_body(cup, settings):
    tournament, _, _ = cup
    redis_body = anonymous_client().get(_url(tournament)).json()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = anonymous_client().get(_url(tournament))
        assert response["X-Leaderboard-Source"] == "database" and response.json() == redis_body
        assert response["Cache-Control"].startswith("public")
        assert anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    finally:
        projection_read.projection_clients_reset()


def test_a_rename_changes_the_etag_and_the_names_on_the_page(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    before = anonymous_client().get(_url(tournament))
    leader = next(m for m in members if m.id == before.json()["results"][0]["member"]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        leader.display_name = "Renamed Leader"
        leader.save()
    after = anonymous_client().get(_url(tournament), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert after.json()["results"][0]["member"]["display_name"] == "Renamed Leader"
    # Around-me reads the name cache too.
    me = member_client(leader).get(f"/api/v1/tournaments/{tournament.id}/leaderboard/me").json()
    assert me["me"]["member"]["display_name"] == "Renamed Leader"


def test_a_name_read_before_a_rename_is_not_cached_after_it(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    board = BoardKey.of_tournament(tournament.id)
    client = projection_read.redis_client()
    client.delete(names_key(tournament.id))
    # A read sees the board at some name generation and fetches the old name ...
    seen = selectors._redis_page(client, board, 0, 10)
    stale = {members[5].id: (1, 0, "Old Name")}
    # ... the member renames and the rename's cleanup runs ...
    projection_member_name_forget(member_id=members[5].id)
    # ... then the read stores what it fetched: refused, the generation moved on.
    read_cache_fill(DetailsFill(board=board, version=seen.version, generation=seen.generation, fetched=stale))
    assert client.hget(names_key(tournament.id), member_field(members[5].id)) is None


def test_public_boards_are_public_and_league_boards_and_me_reads_private(cup):
    tournament, members, match = cup
    league = LeagueFactory(tournament=tournament, owner=members[0])
    LeagueMembershipFactory(league=league, member=members[0])
    owner = member_client(members[0])

    assert anonymous_client().get(_url(tournament))["Cache-Control"].startswith("public, max-age=")
    assert anonymous_client().get(_url(tournament, f"?round={match.round_id}"))["Cache-Control"].startswith("public")
    stats = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{members[0].id}/stats")
    assert stats["Cache-Control"].startswith("public")
    for url in (
        f"/api/v1/tournaments/{tournament.id}/leaderboard/me",
        f"/api/v1/leagues/{league.id}/leaderboard",
        f"/api/v1/leagues/{league.id}/leaderboard/me",
    ):
        response = owner.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"].startswith("private") and "ETag" not in response, url


def test_links_carry_only_the_parameters_the_board_reads(cup):
    tournament, _, match = cup
    body = anonymous_client().get(_url(tournament, f"?round={match.round_id}&limit=1&utm=x")).json()
    assert body["next"].endswith(f"?round={match.round_id}&limit=1&offset=1")


def test_around_me_is_answered_without_sql_once_names_are_cached(cup, django_assert_num_queries):
    tournament, members, _ = cup
    client = member_client(members[3])
    url = f"/api/v1/tournaments/{tournament.id}/leaderboard/me?around=2"
    first = client.get(url)
    with django_assert_num_queries(0):
        second = client.get(url)
    assert second.status_code == 200 and second.json() == first.json()
    assert second["X-Leaderboard-Source"] == "redis"
    assert [row["outcome_hits"] for row in second.json()["results"]] == [
        row["outcome_hits"] for row in first.json()["results"]
    ]


def test_outcome_hits_cached_at_an_older_version_are_read_again(cup, django_capture_on_commit_callbacks):
    tournament, members, _ = cup
    url = f"/api/v1/tournaments/{tournament.id}/leaderboard/me?around=0"
    client = member_client(members[3])
    assert client.get(url).json()["me"]["outcome_hits"] == 0  # guessed (0, 0) on a 2-1
    second = match_in(tournament)
    guesses(second, {members[3]: (1, 0)})
    with django_capture_on_commit_callbacks(execute=True):
        finish(second, 2, 0)  # right outcome, wrong score
    assert client.get(url).json()["me"]["outcome_hits"] == 1


def test_member_stats_are_answered_without_sql_while_fresh(cup, settings, django_assert_num_queries):
    settings.LEADERBOARD_CACHE_SECONDS = 60
    tournament, members, _ = cup
    url = f"/api/v1/tournaments/{tournament.id}/members/{members[0].id}/stats"
    first = anonymous_client().get(url)
    with django_assert_num_queries(0):
        second = anonymous_client().get(url)
    assert second.json() == first.json() and second["X-Leaderboard-Source"] == "redis"


def test_member_stats_older_than_the_cache_seconds_are_worked_out_again(cup, settings):
    settings.LEADERBOARD_CACHE_SECONDS = 0
    tournament, members, _ = cup
    url = f"/api/v1/tournaments/{tournament.id}/members/{members[0].id}/stats"
    anonymous_client().get(url)
    client = projection_read.redis_client()
    stored = client.hget(f"lb:{{t:{tournament.id}}}:stats", member_field(members[0].id))
    version, _, rest = stored.partition(b"|")
    _, _, cached = rest.partition(b"|")
    # Plant a wrong figure: a fresh entry would serve it, an expired one is worked out again.
    planted = {**json.loads(cached), "settled_guesses": 999}
    client.hset(f"lb:{{t:{tournament.id}}}:stats", member_field(members[0].id), b"%s|0|%s" % (version, json.dumps(planted).encode()))
    assert anonymous_client().get(url).json()["settled_guesses"] == 1


def test_around_me_is_limited_per_member_by_a_one_round_trip_counter(cup, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"},
    }
    tournament, members, _ = cup
    url = f"/api/v1/tournaments/{tournament.id}/leaderboard/me"
    first, other = member_client(members[0]), member_client(members[1])
    assert [first.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get(url)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other.get(url).status_code == 200  # one budget per member
    counters = projection_read.redis_client().keys("throttle:*")
    assert len(counters) == 2 and all(0 < projection_read.redis_client().ttl(key) <= 61 for key in counters)
