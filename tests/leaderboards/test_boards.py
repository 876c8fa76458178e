"""Leaderboard reads: SCORING.md ranking on the Redis and the database paths, and the HTTP contract."""

import pytest

from apps.leaderboards.models import SettlementRequest, Standing
from apps.leaderboards.boards.ranking import Entry, rank_entries
from apps.leaderboards.boards.selectors import leaderboard_around, member_stats
from tests.leaderboards.helpers import leaderboard_page
from apps.leaderboards.settlement.verify import standings_verify
from apps.leaderboards.boards import keys, projection_read, projection_write
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import LeagueFactory, LeagueMembershipFactory, MemberFactory, TournamentFactory

from .helpers import finish, guesses, match_in, players

pytestmark = pytest.mark.django_db

# (points, exact hits): ties on both, ties on points only, and zeros.
TABLE = [(10, 2), (10, 2), (10, 1), (8, 3), (8, 3), (8, 3), (5, 0), (0, 0), (0, 0), (10, 2), (12, 0), (8, 3)]


@pytest.fixture
def table():
    tournament = TournamentFactory()
    members = MemberFactory.create_batch(len(TABLE))
    Standing.objects.bulk_create(
        Standing(tournament=tournament, member=m, points=p, exact_hits=e, outcome_hits=p // 2)
        for m, (p, e) in zip(members, TABLE)
    )
    expected = [
        (rank, entry.member_id)
        for rank, entry in rank_entries(Entry(m.id, p, e) for m, (p, e) in zip(members, TABLE))
    ]
    return tournament, members, expected


@pytest.fixture(params=["redis", "database"])
def path(request, settings, table):
    tournament = table[0]
    if request.param == "redis":
        projection_write.projection_rebuild(tournament_id=tournament.id)
    else:
        settings.REDIS_URL = ""
    return request.param


def _ranked(rows):
    return [(row["rank"], row["member"]["id"]) for row in rows]


def test_ties_share_ranks_exactly_as_scoring_md_on_every_page(table, path):
    tournament, _, expected = table
    board = f"tournament:{tournament.id}"
    for offset in range(len(TABLE)):
        for limit in (1, 3, 100):
            page = leaderboard_page(board=board, limit=limit, offset=offset)
            assert page["source"] == path
            assert page["total"] == len(TABLE)
            assert _ranked(page["rows"]) == expected[offset : offset + limit], (offset, limit)
    assert [row["rank"] for row in leaderboard_page(board=board, limit=100, offset=0)["rows"]] == [
        1, 2, 2, 2, 5, 6, 6, 6, 6, 10, 11, 11,
    ]  # fmt: skip


def test_around_me_lists_neighbours_with_their_shared_ranks(table, path):
    tournament, members, expected = table
    board = f"tournament:{tournament.id}"
    for member in members:
        position = [member_id for _, member_id in expected].index(member.id)
        for around in (0, 1, 3):
            page = leaderboard_around(board=board, member_id=member.id, around=around)
            start = max(0, position - around)
            assert _ranked(page["rows"]) == expected[start : position + around + 1]
            assert page["me"]["member"]["id"] == member.id and page["source"] == path


def test_rows_carry_points_hits_and_display_names(table, path):
    tournament, members, _ = table
    row = leaderboard_page(board=f"tournament:{tournament.id}", limit=1, offset=0)["rows"][0]
    leader = members[TABLE.index((12, 0))]
    assert row == {
        "rank": 1,
        "member": {"id": leader.id, "display_name": leader.display_name},
        "points": 12,
        "exact_hits": 0,
        "outcome_hits": 6,
        "live_points": 0,
        "rank_delta": None,  # no snapshot yet
    }


def test_member_stats_rank_the_member_on_both_paths(table, path):
    tournament, members, _ = table
    stats = member_stats(tournament_id=tournament.id, member_id=members[3].id)
    # Ahead of (8, 3): 12 points, three times (10, 2) and (10, 1).
    assert (stats["rank"], stats["total"], stats["points"], stats["exact_hits"]) == (6, 12, 8, 3)
    assert stats["percentile"] == round(100 * 7 / 12, 2)


def test_the_projection_equals_the_database_after_every_settlement(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 8)
    first, second = match_in(tournament), match_in(tournament)
    guesses(first, {m: (i % 3, i % 2) for i, m in enumerate(members)})
    guesses(second, {m: (1, i % 3) for i, m in enumerate(members[:5])})
    league = LeagueFactory(tournament=tournament, owner=members[0])
    for member in members[:3]:
        LeagueMembershipFactory(league=league, member=member)

    with django_capture_on_commit_callbacks(execute=True):
        first, _ = finish(first, 1, 0)
    assert standings_verify(tournament_id=tournament.id) == []
    # The league set is built on its first read, then moved by settlement.
    assert leaderboard_page(board=f"league:{league.id}", limit=10, offset=0)["source"] == "redis"
    with django_capture_on_commit_callbacks(execute=True):
        second, _ = finish(second, 1, 1)
        first, _ = finish(first, 2, 0)
    assert SettlementRequest.objects.filter(status="done").count() == 3
    assert standings_verify(tournament_id=tournament.id) == []
    page = leaderboard_page(board=f"tournament:{tournament.id}", limit=100, offset=0)
    assert page["source"] == "redis" and page["version"] == 3 and page["total"] == 8


# --- HTTP -------------------------------------------------------------------------------
@pytest.fixture
def cup(django_capture_on_commit_callbacks):
    tournament = TournamentFactory()
    members = players(tournament, 6)
    match = match_in(tournament)
    guesses(match, {m: pick for m, pick in zip(members, [(2, 1), (2, 1), (1, 0), (0, 0), (0, 1), (3, 0)])})
    with django_capture_on_commit_callbacks(execute=True):
        match, _ = finish(match, 2, 1)
    return tournament, members, match


def test_the_tournament_leaderboard_is_public_and_paginated(cup):
    tournament, members, _ = cup
    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard?limit=2&offset=1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert response["X-Leaderboard-Source"] == "redis"
    assert {"total", "version", "as_of", "results", "count", "next", "previous"} <= set(body)
    assert body["total"] == 6 and body["version"] >= 1 and body["as_of"]
    assert [(r["rank"], r["member"]["id"], r["points"]) for r in body["results"]] == [
        (1, members[1].id, 4),
        (3, members[2].id, 3),
    ]
    assert "offset=3" in body["next"] and "offset=0" in body["previous"]
    default = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard").json()
    assert len(default["results"]) == 6 and default["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "offset=-1", "round=abc"])
def test_bad_paging_answers_400_with_the_field(cup, query):
    tournament = cup[0]
    response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_unknown_tournaments_and_rounds_answer_404(cup):
    assert_error(anonymous_client().get("/api/v1/tournaments/999999/leaderboard"), 404, "tournament_not_found")
    tournament = cup[0]
    assert_error(anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard?round=999999"), 404)


def test_the_round_table_ranks_the_members_who_earned_something_in_that_round(cup):
    tournament, members, match = cup
    body = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard?round={match.round_id}").json()
    assert [(r["rank"], r["points"]) for r in body["results"]] == [(1, 4), (1, 4), (3, 3), (4, 2)]
    assert body["total"] == 4


def test_me_needs_a_token_and_participation(cup):
    tournament, members, _ = cup
    url = f"/api/v1/tournaments/{tournament.id}/leaderboard/me"
    assert_error(anonymous_client().get(url), 401)
    assert_error(member_client(MemberFactory()).get(url), 404, "not_participating")
    assert member_client(members[0]).get(f"{url}?around=51").status_code == 400
    body = member_client(members[3]).get(f"{url}?around=1").json()
    assert body["me"]["member"]["id"] == members[3].id
    assert [(r["rank"], r["member"]["id"]) for r in body["results"]] == [
        (4, members[5].id),
        (5, members[3].id),
        (5, members[4].id),
    ]
    assert {"total", "version", "as_of"} <= set(body)


def test_a_league_board_ranks_only_its_members_and_only_for_them(cup):
    tournament, members, _ = cup
    league = LeagueFactory(tournament=tournament, owner=members[5])
    for member in (members[5], members[3], members[1]):
        LeagueMembershipFactory(league=league, member=member)
    url = f"/api/v1/leagues/{league.id}/leaderboard"

    assert_error(anonymous_client().get(url), 401)
    assert_error(member_client(members[0]).get(url), 403)
    response = member_client(members[3]).get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [(r["rank"], r["member"]["id"]) for r in body["results"]] == [
        (1, members[1].id),
        (2, members[5].id),
        (3, members[3].id),
    ]
    me = member_client(members[5]).get(f"{url}/me?around=0").json()
    assert [(r["rank"], r["member"]["id"]) for r in me["results"]] == [(2, members[5].id)]

    # A member joining later is on the board at the next read.
    LeagueMembershipFactory(league=league, member=members[0])
    assert member_client(members[3]).get(url).json()["total"] == 4


def test_a_league_board_follows_a_member_swap_that_keeps_its_size(cup):
    tournament, members, _ = cup
    league = LeagueFactory(tournament=tournament, owner=members[5])
    for member in (members[5], members[1]):
        LeagueMembershipFactory(league=league, member=member)
    board = f"league:{league.id}"
    assert {row["member"]["id"] for row in leaderboard_page(board=board, limit=10, offset=0)["rows"]} == {
        members[5].id,
        members[1].id,
    }
    # One leaves and another joins: same size, different members.
    league.memberships.filter(member=members[1]).delete()
    LeagueMembershipFactory(league=league, member=members[2])
    page = leaderboard_page(board=board, limit=10, offset=0)
    assert page["source"] == "redis"
    assert {row["member"]["id"] for row in page["rows"]} == {members[5].id, members[2].id}


def test_member_stats_are_public(cup):
    tournament, members, match = cup
    body = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{members[2].id}/stats").json()
    assert body == {
        "rank": 3,
        "total": 6,
        "percentile": round(100 * 4 / 6, 2),
        "points": 3,
        "exact_hits": 0,
        "outcome_hits": 1,
        "live_points": 0,
        "settled_guesses": 1,
        "rounds": [{"round": match.round_id, "points": 3, "rank": 3}],
    }
    outsider = MemberFactory()
    assert_error(
        anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/members/{outsider.id}/stats"),
        404,
        "not_participating",
    )


def test_reads_fall_back_to_the_database_when_redis_does_not_answer(cup, settings):
    tournament, members, _ = cup
    redis_rows = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard").json()["results"]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = anonymous_client().get(f"/api/v1/tournaments/{tournament.id}/leaderboard")
        assert response.status_code == 200
        assert response["X-Leaderboard-Source"] == "database"
        assert response.json()["results"] == redis_rows
    finally:
        projection_read.projection_clients_reset()


def test_staff_settle_a_match_now(cup, django_capture_on_commit_callbacks):
    tournament, members, match = cup
    url = f"/api/v1/admin/matches/{match.id}/settle"
    assert_error(anonymous_client().post(url), 401)
    assert_error(member_client(members[0]).post(url), 403)
    staff = MemberFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client(staff).post(url)
    assert response.status_code == 202
    job = SettlementRequest.objects.get(pk=response.json()["job_id"])
    assert job.status == "done" and job.match_id == match.id
    assert standings_verify(tournament_id=tournament.id) == []
    assert_error(member_client(staff).post("/api/v1/admin/matches/999999/settle"), 404)
