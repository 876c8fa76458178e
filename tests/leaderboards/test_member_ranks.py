"""`member_ranks`: many members' ranks on a board in one read per batch, the same from Redis and the database."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.leaderboards.boards import projection_read, projection_write, selectors
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.ranking import Entry, rank_entries
from apps.leaderboards.boards.selectors import member_ranks
from apps.leaderboards.boards.services import board_projection_repair
from apps.leaderboards.models import BoardState, Standing
from tests.factories import LeagueFactory, LeagueMembershipFactory, MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db

# (points, exact hits, live points): ties on both, ties on points only, zeros, live points apart.
TABLE = [
    (10, 2, 3), (10, 2, 0), (10, 1, 0), (8, 3, 5), (8, 3, 0), (8, 3, 0),
    (5, 0, 5), (0, 0, 0), (0, 0, 0), (10, 2, 0), (12, 0, 4), (8, 3, 0),
]


@pytest.fixture
def table():
    tournament = TournamentFactory()
    members = MemberFactory.create_batch(len(TABLE))
    Standing.objects.bulk_create(
        Standing(tournament=tournament, member=m, points=p, exact_hits=e, outcome_hits=p // 2, live_points=live)
        for m, (p, e, live) in zip(members, TABLE)
    )
    BoardState.objects.create(tournament=tournament, version=7)
    return tournament, members


def expected_of(members, rows) -> dict:
    """The ranks SCORING.md gives, worked out in Python from the rows alone."""
    ranked = rank_entries(Entry(m.id, p, e) for m, (p, e, _) in zip(members, rows))
    live = {m.id: row[2] for m, row in zip(members, rows)}
    return {
        entry.member_id: {
            "rank": rank, "total": len(rows), "points": entry.points, "live_points": live[entry.member_id]
        }
        for rank, entry in ranked
    }


@pytest.fixture(params=["redis", "database"])
def path(request, settings, table):
    if request.param == "redis":
        projection_write.projection_rebuild(tournament_id=table[0].id)
    else:
        settings.REDIS_URL = ""
    return request.param


def test_ranks_of_a_batch_equal_the_ranking_rules_with_ties(table, path):
    tournament, members = table
    outsider = MemberFactory()
    version, ranks = member_ranks(
        board=BoardKey.of_tournament(tournament.id), member_ids=[m.id for m in members] + [outsider.id]
    )
    assert ranks == expected_of(members, TABLE)
    assert outsider.id not in ranks
    # Points first, so (12, 0) leads; the three at (10, 2) share rank 2, the next rank is 5.
    assert [ranks[members[i].id]["rank"] for i in (10, 0, 1, 9, 2, 3, 4, 5, 11, 6, 7, 8)] == [
        1, 2, 2, 2, 5, 6, 6, 6, 6, 10, 11, 11
    ]
    assert version == 7


def test_a_league_ranks_its_members_by_their_tournament_totals(table, path):
    tournament, members = table
    league = LeagueFactory(tournament=tournament, owner=members[0])
    # A league member who never joined the tournament is listed with zeros.
    newcomer = MemberFactory()
    chosen = [members[i] for i in (0, 3, 6, 7, 11)] + [newcomer]
    for member in chosen:
        LeagueMembershipFactory(league=league, member=member)
    board = BoardKey.of_league(league.id, tournament.id)
    if path == "redis":
        assert board_projection_repair(board=board)
    _, ranks = member_ranks(board=BoardKey.of_league(league.id), member_ids=[m.id for m in members + [newcomer]])
    rows = [TABLE[i] for i in (0, 3, 6, 7, 11)] + [(0, 0, 0)]
    assert ranks == expected_of(chosen, rows)
    assert ranks[newcomer.id] == {"rank": 5, "total": 6, "points": 0, "live_points": 0}


def test_redis_and_the_database_answer_alike_and_redis_away_falls_back(table, settings):
    tournament, members = table
    projection_write.projection_rebuild(tournament_id=tournament.id)
    board = BoardKey.of_tournament(tournament.id)
    ids = [m.id for m in members]
    from_redis = member_ranks(board=board, member_ids=ids)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        from_database = member_ranks(board=board, member_ids=ids)
    finally:
        projection_read.projection_clients_reset()
    assert from_database[1] == from_redis[1] == expected_of(members, TABLE)
    assert from_database[0] == from_redis[0]


@pytest.mark.parametrize("redis_path", [True, False])
def test_a_batch_costs_one_query_whatever_its_size(table, settings, monkeypatch, redis_path):
    tournament, members = table
    if redis_path:
        projection_write.projection_rebuild(tournament_id=tournament.id)
    else:
        settings.REDIS_URL = ""
    monkeypatch.setattr(selectors, "MEMBER_RANK_BATCH", 5)
    with CaptureQueriesContext(connection) as queries:
        _, ranks = member_ranks(board=BoardKey.of_tournament(tournament.id), member_ids=[m.id for m in members])
    assert len(ranks) == len(members)
    # 12 members in batches of 5: three batches, one query each.
    assert len(queries) == 3
