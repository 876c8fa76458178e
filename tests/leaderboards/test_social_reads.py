"""Chosen members' rows, the name search and the preview (API.md "Leaderboards"), on the Redis and the database paths."""

import pytest

from apps.leaderboards.boards import projection_write
from apps.leaderboards.boards.ranking import Entry, rank_entries
from apps.leaderboards.boards.social import leaderboard_members, leaderboard_preview, leaderboard_search
from apps.leaderboards.models import Standing
from apps.members.models import Pin
from tests.common.api import anonymous_client, assert_error, member_client
from tests.factories import LeagueFactory, LeagueMembershipFactory, MemberFactory, TournamentFactory

pytestmark = pytest.mark.django_db

# (display name, username or None, points, exact hits). Listing order (SCORING.md):
# Leader 12; Müller, MÜLLER Gerd, Eve 10/2 (rank 2); Mueller 10/1 (5); Agüero, Aguero, Zed, Fay 8/3 (6);
# Bob 5 (10); Carl, Dora 0 (11).
PEOPLE = [
    ("Müller", None, 10, 2),
    ("MÜLLER Gerd", None, 10, 2),
    ("Mueller", None, 10, 1),
    ("Agüero", None, 8, 3),
    ("Aguero", None, 8, 3),
    ("Zed", "mullet_fan", 8, 3),
    ("Bob", None, 5, 0),
    ("Carl", None, 0, 0),
    ("Dora", None, 0, 0),
    ("Eve", None, 10, 2),
    ("Leader", None, 12, 0),
    ("Fay", None, 8, 3),
]


class Board:
    def __init__(self):
        self.tournament = TournamentFactory()
        self.members = [
            MemberFactory(display_name=name, **({"username": username} if username else {}))
            for name, username, _, _ in PEOPLE
        ]
        Standing.objects.bulk_create(
            Standing(tournament=self.tournament, member=member, points=p, exact_hits=e, outcome_hits=p // 2)
            for member, (_, _, p, e) in zip(self.members, PEOPLE)
        )
        ranked = rank_entries(Entry(m.id, p, e) for m, (_, _, p, e) in zip(self.members, PEOPLE))
        self.listed = [entry.member_id for _, entry in ranked]  # listing order
        self.rank = {entry.member_id: rank for rank, entry in ranked}
        # Someone who matches every search but never joined the tournament.
        self.outsider = MemberFactory(display_name="Müller Outsider", username="mullet_outsider")
        self.name = f"tournament:{self.tournament.id}"

    def by(self, name: str):
        return next(m for m, person in zip(self.members, PEOPLE) if person[0] == name)

    def at(self, position: int) -> int:
        return self.listed[position]


@pytest.fixture
def board():
    return Board()


@pytest.fixture(params=["redis", "database"])
def path(request, settings, board):
    if request.param == "redis":
        projection_write.projection_rebuild(tournament_id=board.tournament.id)
    else:
        settings.REDIS_URL = ""
    return request.param


def _ranked(rows) -> list[tuple[int, int]]:
    return [(row["rank"], row["member"]["id"]) for row in rows]


# --- ?members= --------------------------------------------------------------------------
def test_listed_members_come_by_rank_with_shared_ranks_and_without_non_participants(board, path):
    wanted = [board.by("Carl"), board.by("Eve"), board.by("Müller"), board.by("Dora"), board.by("Leader")]
    page = leaderboard_members(board=board.name, member_ids=[m.id for m in wanted] + [board.outsider.id, 10**9])
    assert page["source"] == path and page["total"] == len(PEOPLE)
    expected = sorted((board.rank[m.id], m.id) for m in wanted)
    assert _ranked(page["rows"]) == expected
    # Müller and Eve tie on (10, 2) and share rank 2; Carl and Dora share the last rank.
    assert [row["rank"] for row in page["rows"]] == [1, 2, 2, 11, 11]
    row = page["rows"][1]
    assert row["member"] == {"id": board.by("Müller").id, "display_name": "Müller"}
    assert (row["points"], row["exact_hits"], row["outcome_hits"]) == (10, 2, 5)


def test_listed_members_over_http_answer_a_public_page_with_an_etag(board, path):
    ids = [board.by("Bob").id, board.by("Leader").id, board.outsider.id]
    url = f"/api/v1/tournaments/{board.tournament.id}/leaderboard?members={','.join(map(str, ids))}"
    response = anonymous_client().get(url)
    assert response.status_code == 200
    body = response.json()
    assert {"count", "total", "version", "as_of", "next", "previous", "results"} <= set(body)
    assert body["total"] == len(PEOPLE) and body["next"] is None
    assert _ranked(body["results"]) == [(1, board.by("Leader").id), (10, board.by("Bob").id)]
    assert response["Cache-Control"].startswith("public") and response["X-Leaderboard-Source"] == path
    if path == "redis":
        # The tag names the board's version and the ids: nothing else is read to answer 304.
        assert anonymous_client().get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    # Another list is another answer, with another tag.
    other = anonymous_client().get(url + f",{board.by('Carl').id}")
    assert other.status_code == 200 and other["ETag"] != response["ETag"]


def test_more_than_100_members_answer_400_with_a_code_and_malformed_lists_a_field_map(board):
    base = f"/api/v1/tournaments/{board.tournament.id}/leaderboard?members="
    assert anonymous_client().get(base + ",".join(str(i) for i in range(1, 101))).status_code == 200
    assert_error(anonymous_client().get(base + ",".join(str(i) for i in range(1, 102))), 400, "too_many_members")
    for malformed in ("", "1,,2", "1,a", "-1", "0", "1.5", "1%202", "9" * 19):
        response = anonymous_client().get(base + malformed)
        assert response.status_code == 400, malformed
        assert "members" in response.json(), malformed
    assert_error(anonymous_client().get("/api/v1/tournaments/999999/leaderboard?members=1"), 404)


# --- search ---------------------------------------------------------------------------------
def _names(page) -> list[str]:
    return [row["member"]["display_name"] for row in page["rows"]]


def test_search_folds_case_and_accents_but_never_spells_an_umlaut_out(board, path):
    # "müll" is "mull" folded: Müller, MÜLLER Gerd, and Zed by the username mullet_fan; not Mueller.
    page = leaderboard_search(board=board.name, q="müll")
    assert page["source"] == path
    assert _names(page) == ["Müller", "MÜLLER Gerd", "Zed"]
    assert [row["rank"] for row in page["rows"]] == [2, 2, 6]
    assert _names(leaderboard_search(board=board.name, q="MULLER g")) == ["MÜLLER Gerd"]
    assert _names(leaderboard_search(board=board.name, q="mue")) == ["Mueller"]
    # Accents are dropped from the names as well as from what is typed.
    assert _names(leaderboard_search(board=board.name, q="Agu")) == ["Agüero", "Aguero"]
    assert _names(leaderboard_search(board=board.name, q="agü")) == ["Agüero", "Aguero"]
    assert leaderboard_search(board=board.name, q="xy")["rows"] == []
    # LIKE's wildcards are letters like any other.
    assert leaderboard_search(board=board.name, q="m%")["rows"] == []


def test_search_answers_at_most_20_rows_the_best_ranked_first(path, settings):
    tournament = TournamentFactory()
    members = [MemberFactory(display_name=f"Same {i:02d}") for i in range(25)]
    Standing.objects.bulk_create(
        Standing(tournament=tournament, member=member, points=i % 7, exact_hits=0) for i, member in enumerate(members)
    )
    if path == "redis":
        projection_write.projection_rebuild(tournament_id=tournament.id)
    page = leaderboard_search(board=f"tournament:{tournament.id}", q="sa")
    ranks = [row["rank"] for row in page["rows"]]
    assert len(ranks) == 20 and ranks == sorted(ranks) and page["total"] == 25
    expected = [e.member_id for _, e in rank_entries(Entry(m.id, i % 7, 0) for i, m in enumerate(members))][:20]
    assert [row["member"]["id"] for row in page["rows"]] == expected


def test_search_over_http_checks_q_and_answers_its_shape(board, path):
    url = f"/api/v1/tournaments/{board.tournament.id}/leaderboard/search"
    response = anonymous_client().get(url, {"q": "MÜLL"})
    assert response.status_code == 200
    body = response.json()
    # Like every board answer it also says whether a match is in play (API.md "Leaderboards").
    assert set(body) == {"total", "version", "as_of", "live", "live_matches", "results"}
    assert [row["member"]["display_name"] for row in body["results"]] == ["Müller", "MÜLLER Gerd", "Zed"]
    assert response["Cache-Control"].startswith("public")
    if path == "redis":
        # The same folded prefix is the same answer: "müll" is told 304 with the tag of "MÜLL".
        assert anonymous_client().get(url, {"q": "müll"}, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    for q in ("a", "", " a ", "é", "a\u0301", "x" * 65):
        bad = anonymous_client().get(url, {"q": q})
        assert bad.status_code == 400 and "q" in bad.json(), q
    assert "q" in anonymous_client().get(url).json()


def test_league_search_never_answers_a_non_member(board, path):
    league = LeagueFactory(tournament=board.tournament, owner=board.by("Müller"))
    for name in ("Müller", "Zed", "Carl"):
        LeagueMembershipFactory(league=league, member=board.by(name))
    url = f"/api/v1/leagues/{league.id}/leaderboard/search"
    response = member_client(board.by("Carl")).get(url, {"q": "mull"})
    assert response.status_code == 200 and response["Cache-Control"].startswith("private")
    # MÜLLER Gerd and the outsider match, but are not in the league; ranks are league ranks.
    assert _ranked(response.json()["results"]) == [(1, board.by("Müller").id), (2, board.by("Zed").id)]
    assert response.json()["total"] == 3
    assert_error(member_client(board.by("Eve")).get(url, {"q": "mull"}), 403, "not_league_member")
    assert_error(anonymous_client().get(url, {"q": "mull"}), 401)


# --- preview --------------------------------------------------------------------------------------
def _preview(board, member) -> list[tuple[int, int, list[str]]]:
    rows = leaderboard_preview(board=board.name, member_id=member.id)["rows"]
    ids = [row["member"]["id"] for row in rows]
    assert len(ids) == len(set(ids)), "each row once"
    return [(row["rank"], row["member"]["id"], row["tags"]) for row in rows]


def _expected(board, tagged: dict[int, list[str]]) -> list[tuple[int, int, list[str]]]:
    return sorted((board.rank[member_id], member_id, tags) for member_id, tags in tagged.items())


def _pin(member, *others) -> None:
    """Pin members (or member ids)."""
    Pin.objects.bulk_create(Pin(member=member, pinned_id=getattr(other, "id", other)) for other in others)


def test_preview_of_the_leader_with_a_pin_in_the_top_3(board, path):
    leader = board.by("Leader")
    _pin(leader, board.at(2), board.by("Zed"))
    assert _preview(board, leader) == _expected(
        board,
        {
            leader.id: ["top", "me"],
            board.at(1): ["top", "neighbour"],
            board.at(2): ["top", "pinned"],
            board.by("Zed").id: ["pinned"],
            board.at(11): ["last"],
        },
    )


def test_preview_of_the_last_member(board, path):
    last = board.at(11)
    me = next(m for m in board.members if m.id == last)
    assert _preview(board, me) == _expected(
        board,
        {
            board.at(0): ["top"],
            board.at(1): ["top"],
            board.at(2): ["top"],
            board.at(10): ["neighbour"],
            last: ["me", "last"],
        },
    )


def test_preview_of_a_member_with_no_points(board, path):
    carl = board.by("Carl")  # 0 points, tied with Dora, listed before her
    assert board.at(10) == carl.id
    rows = _preview(board, carl)
    assert rows == _expected(
        board,
        {
            board.at(0): ["top"],
            board.at(1): ["top"],
            board.at(2): ["top"],
            board.at(9): ["neighbour"],
            carl.id: ["me"],
            board.at(11): ["neighbour", "last"],
        },
    )
    assert [rank for rank, _, _ in rows] == [1, 2, 2, 10, 11, 11]


def test_preview_with_pins_on_the_top_3_and_off_the_board(board, path):
    me = board.by("Agüero")  # listed 6th: neighbours Mueller and Aguero
    _pin(me, board.by("Leader"), board.at(1), board.by("Fay"), board.outsider)
    assert _preview(board, me) == _expected(
        board,
        {
            board.at(0): ["top", "pinned"],
            board.at(1): ["top", "pinned"],
            board.at(2): ["top"],
            board.by("Mueller").id: ["neighbour"],
            me.id: ["me"],
            board.by("Aguero").id: ["neighbour"],
            board.by("Fay").id: ["pinned"],
            board.at(11): ["last"],
        },
    )


def test_preview_of_a_member_not_on_the_board_still_shows_the_top_their_pins_and_the_last(board, path):
    _pin(board.outsider, board.by("Bob"))
    assert _preview(board, board.outsider) == _expected(
        board,
        {board.at(0): ["top"], board.at(1): ["top"], board.at(2): ["top"], board.by("Bob").id: ["pinned"],
         board.at(11): ["last"]},
    )  # fmt: skip


def test_preview_over_http_needs_a_token_and_is_private(board, path):
    url = f"/api/v1/tournaments/{board.tournament.id}/leaderboard/preview"
    assert_error(anonymous_client().get(url), 401)
    response = member_client(board.by("Bob")).get(url)
    assert response.status_code == 200 and response["Cache-Control"].startswith("private")
    body = response.json()
    assert {"total", "version", "as_of", "live", "results"} <= set(body)
    assert body["live"] is False and body["total"] == len(PEOPLE)
    assert [row["tags"] for row in body["results"] if row["member"]["id"] == board.by("Bob").id] == [["me"]]


def test_league_preview_lists_league_members_only(board, path):
    league = LeagueFactory(tournament=board.tournament, owner=board.by("Bob"))
    for name in ("Bob", "Carl", "Eve", "Zed", "Dora"):
        LeagueMembershipFactory(league=league, member=board.by(name))
    _pin(board.by("Bob"), board.by("Leader"), board.by("Dora"))  # the leader is not in the league
    url = f"/api/v1/leagues/{league.id}/leaderboard/preview"
    response = member_client(board.by("Bob")).get(url)
    assert response.status_code == 200
    rows = [(row["rank"], row["member"]["display_name"], row["tags"]) for row in response.json()["results"]]
    # League order: Eve 10, Zed 8, Bob 5, Carl 0, Dora 0.
    assert rows == [
        (1, "Eve", ["top"]),
        (2, "Zed", ["top", "neighbour"]),
        (3, "Bob", ["top", "me"]),
        (4, "Carl", ["neighbour"]),
        (4, "Dora", ["last", "pinned"]),
    ]
    assert_error(member_client(board.by("Leader")).get(url), 403, "not_league_member")


# --- both paths agree ---------------------------------------------------------------------------------
def test_the_redis_and_the_database_paths_answer_the_same_rows(board, settings):
    me = board.by("Zed")
    _pin(me, board.by("Leader"), board.by("Dora"))
    projection_write.projection_rebuild(tournament_id=board.tournament.id)

    def reads():
        return [
            leaderboard_members(board=board.name, member_ids=[m.id for m in board.members]),
            leaderboard_search(board=board.name, q="mu"),
            leaderboard_preview(board=board.name, member_id=me.id),
        ]

    from_redis = reads()
    settings.REDIS_URL = ""
    from_database = reads()
    for redis_page, database_page in zip(from_redis, from_database):
        assert redis_page["source"] == "redis" and database_page["source"] == "database"
        assert redis_page["rows"] == database_page["rows"]
        assert redis_page["total"] == database_page["total"]
        assert redis_page["version"] == database_page["version"]


def test_search_walks_the_name_indexes_from_the_prefix(board):
    from django.db import connection

    from apps.leaderboards.boards import social

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        social._search_candidates(social.board_resolve(board=board.name), "mu")
    sql, params = captured[-1]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a dozen rows: make the planner show what it would do at scale
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "member_display_name_key_like" in plan and "member_username_key_like" in plan
    # Read in the index's own order: no sort of the matching names.
    assert "Sort Key: members_member.display_name_key" not in plan


def test_a_prefix_matching_more_members_than_the_cap_ranks_the_first_names_alphabetically(monkeypatch, settings):
    from apps.leaderboards.boards import social

    tournament = TournamentFactory()
    # "Pat 00".."Pat 09": the later the name, the more points.
    members = [MemberFactory(display_name=f"Pat {i:02d}", username=f"pat_user_{i:02d}") for i in range(10)]
    Standing.objects.bulk_create(
        Standing(tournament=tournament, member=member, points=i, exact_hits=0) for i, member in enumerate(members)
    )
    projection_write.projection_rebuild(tournament_id=tournament.id)
    monkeypatch.setattr(social, "SEARCH_CANDIDATES", 4)
    page = leaderboard_search(board=f"tournament:{tournament.id}", q="pat")
    # Only Pat 00..03 were candidates (by either name): the best of them first, with their true ranks.
    assert [(row["rank"], row["member"]["display_name"]) for row in page["rows"]] == [
        (7, "Pat 03"), (8, "Pat 02"), (9, "Pat 01"), (10, "Pat 00"),
    ]  # fmt: skip
    # With room for every match the answer is exact: the best of all first.
    monkeypatch.setattr(social, "SEARCH_CANDIDATES", 10)
    page = leaderboard_search(board=f"tournament:{tournament.id}", q="pat")
    assert page["rows"][0]["member"]["display_name"] == "Pat 09" and len(page["rows"]) == 10


def test_listed_members_of_a_round_table(board, settings):
    from apps.leaderboards.models import RoundStanding
    from tests.factories import RoundFactory

    round_ = RoundFactory(tournament=board.tournament)
    RoundStanding.objects.bulk_create(
        RoundStanding(tournament=board.tournament, round=round_, member=member, points=points, exact_hits=0)
        for member, points in ((board.by("Bob"), 3), (board.by("Carl"), 7))
    )
    url = f"/api/v1/tournaments/{board.tournament.id}/leaderboard"
    ids = f"{board.by('Bob').id},{board.by('Carl').id},{board.by('Leader').id}"
    body = anonymous_client().get(url, {"round": round_.id, "members": ids}).json()
    assert [(row["rank"], row["member"]["display_name"], row["points"]) for row in body["results"]] == [
        (1, "Carl", 7),
        (2, "Bob", 3),
    ]
    assert body["total"] == 2
