"""Publishing rules of the live top 10, against the real Redis (no web process needed)."""

import asyncio
import json
import time

import pytest
from django.conf import settings

from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live import frames, publisher, registry
from apps.leaderboards.live.hub import subscriber_count
from tests.waiting import wait_until


def _row(rank: int, member_id: int, points: int, exact: int = 0) -> dict:
    return {
        "rank": rank,
        "member": {"id": member_id, "display_name": f"M{member_id}"},
        "points": points,
        "exact_hits": exact,
        "outcome_hits": exact,
    }


class FakeBoards:
    """Stands in for the board selector: a version and rows per board."""

    def __init__(self):
        self.boards: dict[str, tuple[int, list[dict]]] = {}
        self.reads: list[str] = []

    def __call__(self, *, board: BoardKey):
        self.reads.append(str(board))
        return self.boards[str(board)]


@pytest.fixture
def boards(monkeypatch):
    fake = FakeBoards()
    monkeypatch.setattr(publisher, "leaderboard_top", fake)
    return fake


@pytest.fixture
def sent(monkeypatch):
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr(publisher, "group_send_all", lambda batch: messages.extend(batch))
    return messages


def _watch(board: str, *, proc: str = "proc-a", count: int = 1, ttl: float = 30) -> None:
    store = registry.store()

    async def run():
        client = store.async_client()
        try:
            await store.watch(client, proc, {board: count}, ttl)
        finally:
            await client.aclose()

    asyncio.run(run())


def _unwatch(board: str, *, proc: str = "proc-a") -> None:
    store = registry.store()

    async def run():
        client = store.async_client()
        try:
            await store.unwatch(client, proc, board)
        finally:
            await client.aclose()

    asyncio.run(run())


def test_moves_name_risers_fallers_entrants_and_leavers():
    old = [_row(1, 1, 10), _row(2, 2, 8), _row(3, 3, 5)]
    new = [_row(1, 2, 12), _row(2, 1, 10), _row(3, 4, 6)]
    moves = frames.moves_between(old, new)
    assert sorted(moves, key=lambda m: m["member_id"]) == [
        {"member_id": 1, "old_rank": 1, "new_rank": 2},
        {"member_id": 2, "old_rank": 2, "new_rank": 1},
        {"member_id": 3, "old_rank": 3, "new_rank": None},
        {"member_id": 4, "old_rank": None, "new_rank": 3},
    ]


def test_board_keys_map_to_valid_channel_group_names():
    assert BoardKey.parse("tournament:12").group == "lb-live.tournament.12"
    assert BoardKey.parse("league:7").group == "lb-live.league.7"
    with pytest.raises(ValueError):
        BoardKey.parse("round:3")


def test_a_frame_is_serialized_once_and_wrapped_once_for_sse():
    frame = frames.Frame.update_of(
        board="tournament:1", version=5, previous_version=3, rows=[_row(1, 1, 4)], old_rows=None, committed_at=time.time()
    )
    assert frame.sse is frame.sse
    assert frame.sse == f"event: update\nid: 5\ndata: {frame.text}\n\n"
    message = json.loads(frame.text)
    assert message["type"] == "update" and message["previous_version"] == 3
    assert message["moves"] == [{"member_id": 1, "old_rank": None, "new_rank": 1}]
    snapshot = json.loads(frame.snapshot().text)
    assert snapshot == {"type": "snapshot", "board": "tournament:1", "version": 5, "top": [_row(1, 1, 4)]}


def test_boards_without_live_subscribers_are_neither_read_nor_published(boards, sent):
    boards.boards["tournament:1"] = (3, [_row(1, 1, 4)])
    publisher.boards_changed(boards=[BoardKey.parse("tournament:1")])
    assert boards.reads == []
    assert sent == []


def test_a_changed_top_ten_is_published_once_with_its_moves(boards, sent):
    board = "tournament:1"
    _watch(board)
    boards.boards[board] = (3, [_row(1, 1, 4), _row(2, 2, 2)])
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert len(sent) == 1
    group, message = sent[0]
    assert group == "lb-live.tournament.1"
    assert message["type"] == frames.UPDATE_MESSAGE and message["version"] == 3
    first = json.loads(message["text"])
    assert first["previous_version"] is None

    boards.boards[board] = (4, [_row(1, 2, 6), _row(2, 1, 4)])
    publisher.boards_changed(boards=[BoardKey.parse(board), BoardKey.parse(board)])
    assert len(sent) == 2
    second = json.loads(sent[1][1]["text"])
    assert second["version"] == 4 and second["previous_version"] == 3
    assert {(m["member_id"], m["old_rank"], m["new_rank"]) for m in second["moves"]} == {(2, 2, 1), (1, 1, 2)}
    assert abs(time.time() - message["committed_at"]) < 60


def test_no_update_is_published_when_the_top_ten_did_not_change(boards, sent):
    board = "league:9"
    _watch(board)
    rows = [_row(1, 1, 4), _row(2, 2, 2)]
    boards.boards[board] = (3, rows)
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    # A change further down the board moves the version, not the top 10:
    # only the version goes out, for the members' own streams.
    boards.boards[board] = (4, [dict(r) for r in rows])
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert [(m["type"], m["version"]) for _, m in sent] == [(frames.UPDATE_MESSAGE, 3), (frames.VERSION_MESSAGE, 4)]
    assert sent[1] == (BoardKey.parse(board).group, {"type": frames.VERSION_MESSAGE, "board": board, "version": 4})


def test_an_older_top_ten_never_replaces_a_newer_published_one(boards, sent):
    board = "tournament:2"
    _watch(board)
    boards.boards[board] = (8, [_row(1, 1, 9)])
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    boards.boards[board] = (7, [_row(1, 2, 9)])
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert [m["version"] for _, m in sent if m["type"] == frames.UPDATE_MESSAGE] == [8]


def test_a_board_nobody_watched_forgets_its_last_publication(boards, sent):
    """Otherwise a stale entry could hide the next change from a client who connects later."""
    board = "tournament:3"
    _watch(board)
    rows = [_row(1, 1, 9)]
    boards.boards[board] = (5, rows)
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    _unwatch(board)
    boards.boards[board] = (6, [_row(1, 2, 11)])
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    _watch(board)
    boards.boards[board] = (7, rows)
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert [m["version"] for _, m in sent] == [5, 7]


def test_subscribers_are_counted_over_processes_and_expire_with_a_dead_process(boards, sent):
    board = "tournament:4"
    _watch(board, proc="proc-a", count=3)
    _watch(board, proc="proc-b", count=2, ttl=0.3)
    assert subscriber_count(board=board) == 5
    store = registry.store()
    # proc-b stops refreshing (it crashed): its clients stop counting once the entry expires.
    wait_until(lambda: subscriber_count(board=board) == 3, timeout=5, what="proc-b's entry to expire")
    _unwatch(board, proc="proc-a")
    assert subscriber_count(board=board) == 0
    assert store.boards_watched([board]) == []


def test_a_board_whose_only_process_died_is_not_published_to(boards, sent):
    board = "tournament:5"
    _watch(board, ttl=0.2)
    boards.boards[board] = (2, [_row(1, 1, 3)])
    wait_until(lambda: not registry.store().boards_watched([board]), timeout=5, what="the entry to expire")
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert sent == []


def test_publishing_never_raises_into_the_settlement_that_called_it(boards, sent, monkeypatch):
    board = "tournament:6"
    _watch(board)

    def broken(*, board):
        raise RuntimeError("selector failed")

    monkeypatch.setattr(publisher, "leaderboard_top", broken)
    publisher.boards_changed(boards=[BoardKey.parse(board)])
    assert sent == []


def test_the_channel_layer_socket_timeout_outlasts_its_blocking_read():
    """redis-py's default socket_timeout (5 s) would kill idle pub/sub connections."""
    from channels_redis.utils import create_pool

    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    pool = create_pool(layer["CONFIG"]["hosts"][0])
    assert pool.connection_kwargs["socket_timeout"] >= 10


@pytest.mark.django_db
def test_a_board_followed_only_by_own_rank_streams_gets_its_version_without_a_top_ten_read(boards, sent):
    from apps.leaderboards.models import BoardState
    from tests.factories import TournamentFactory

    tournament = TournamentFactory()
    BoardState.objects.create(tournament=tournament, version=12)
    board = BoardKey.of_tournament(tournament.pk)
    store = registry.store()

    async def run():
        client = store.async_client()
        try:
            await store.watch(client, "proc-a", {str(board): 2}, 30, own=True)
        finally:
            await client.aclose()

    asyncio.run(run())
    assert store.boards_watched([str(board)]) == [] and store.boards_watched([str(board)], own=True) == [str(board)]
    assert subscriber_count(board=str(board)) == 0 and store.subscriber_count(str(board), own=True) == 2
    publisher.boards_changed(boards=[board])
    assert boards.reads == []
    assert sent == [(board.group, {"type": frames.VERSION_MESSAGE, "board": str(board), "version": 12})]
