"""Property tests of the ranking rules against SCORING.md "Ranking"."""

import random

from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.leaderboards.boards.ranking import (
    EXACT_BASE,
    Entry,
    ahead_sql,
    board_score,
    order_by_sql,
    rank_entries,
    rank_key,
    rank_of,
    ranks_listed,
)

# Small ranges so that ties are common.
entries_lists = st.lists(
    st.builds(
        Entry,
        member_id=st.integers(min_value=1, max_value=10_000),
        points=st.integers(min_value=0, max_value=12),
        exact_hits=st.integers(min_value=0, max_value=3),
        outcome_hits=st.integers(min_value=0, max_value=5),
    ),
    max_size=40,
    unique_by=lambda entry: entry.member_id,
)


def _key(entry: Entry) -> tuple[int, int]:
    return (entry.points, entry.exact_hits)


@given(entries=entries_lists)
def test_rank_is_one_plus_the_number_strictly_ahead(entries):
    for rank, entry in rank_entries(entries):
        ahead = sum(1 for other in entries if _key(other) > _key(entry))
        assert rank == 1 + ahead
        assert rank_of(entry, entries) == rank


@given(entries=entries_lists)
def test_members_equal_on_points_and_exact_hits_share_a_rank(entries):
    ranks = {entry.member_id: rank for rank, entry in rank_entries(entries)}
    for a in entries:
        for b in entries:
            assert (ranks[a.member_id] == ranks[b.member_id]) == (_key(a) == _key(b))


@given(entries=entries_lists)
def test_listing_is_by_points_then_exact_hits_then_member_id(entries):
    listed = [entry for _, entry in rank_entries(entries)]
    assert [(-e.points, -e.exact_hits, e.member_id) for e in listed] == sorted(
        (-e.points, -e.exact_hits, e.member_id) for e in entries
    )


@given(entries=entries_lists, seed=st.integers())
def test_the_listing_does_not_depend_on_input_order(entries, seed):
    shuffled = list(entries)
    random.Random(seed).shuffle(shuffled)
    assert rank_entries(shuffled) == rank_entries(entries)


@given(entries=entries_lists)
def test_ranks_follow_standard_competition_ranking(entries):
    """Each rank is the previous one (a tie) or the row's position: "1, 2, 2, 4"."""
    ranked = rank_entries(entries)
    for position, (rank, entry) in enumerate(ranked, start=1):
        if position == 1:
            assert rank == 1
            continue
        previous_rank, previous = ranked[position - 2]
        assert rank == (previous_rank if _key(previous) == _key(entry) else position)


@given(
    a=st.tuples(st.integers(0, 10**6), st.integers(0, EXACT_BASE - 1)),
    b=st.tuples(st.integers(0, 10**6), st.integers(0, EXACT_BASE - 1)),
)
def test_board_score_orders_like_points_then_exact_hits(a, b):
    assert (board_score(*a) < board_score(*b)) == (a < b)
    assert (board_score(*a) == board_score(*b)) == (a == b)


def test_a_tie_for_second_gives_1_2_2_4():
    entries = [
        Entry(member_id=4, points=5, exact_hits=0),
        Entry(member_id=3, points=7, exact_hits=1),
        Entry(member_id=2, points=9, exact_hits=0),
        Entry(member_id=1, points=7, exact_hits=1),
    ]
    assert [(rank, entry.member_id) for rank, entry in rank_entries(entries)] == [(1, 2), (2, 1), (2, 3), (4, 4)]


def test_exact_hits_break_a_tie_on_points():
    ranked = rank_entries([Entry(member_id=1, points=6, exact_hits=0), Entry(member_id=2, points=6, exact_hits=1)])
    assert [(rank, entry.member_id) for rank, entry in ranked] == [(1, 2), (2, 1)]


@given(entries=entries_lists, start=st.integers(min_value=0, max_value=40), size=st.integers(min_value=1, max_value=15))
def test_a_page_ranked_from_its_first_row_matches_the_whole_board(entries, start, size):
    """What both read paths do: count only the rows ahead of the page's first row, rank the rest locally."""
    board = rank_entries(entries)
    page = [entry for _, entry in board[start : start + size]]
    if not page:
        return
    ahead = sum(1 for other in entries if rank_key(other) > rank_key(page[0]))
    ranks = ranks_listed([rank_key(entry) for entry in page], start=start, first_ahead=ahead)
    assert ranks == [rank for rank, _ in board[start : start + size]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries_lists)
def test_the_sql_order_and_ahead_rule_agree_with_the_pure_rules(entries, db):
    """The SQL the database path runs is generated from the same rules, and PostgreSQL agrees with them."""
    values = ", ".join(f"({e.member_id}, {e.points}, {e.exact_hits})" for e in entries) or "(0, 0, 0)"
    rows = f"SELECT * FROM (VALUES {values}) AS v(member_id, points, exact_hits)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.member_id, (SELECT COUNT(*) FROM ({rows}) o WHERE {ahead_sql('o', 'b')}) "
            f"FROM ({rows}) b {order_by_sql('b')}"
        )
        listed = cursor.fetchall() if entries else []
    assert [(member_id, ahead + 1) for member_id, ahead in listed] == [
        (entry.member_id, rank) for rank, entry in rank_entries(entries)
    ]
