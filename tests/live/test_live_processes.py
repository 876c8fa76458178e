"""The live top 10 end to end: real daphne processes, a real settlement worker, real clients."""

import signal
import time
from datetime import datetime

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.leaderboards.live import publisher, registry
from apps.leaderboards.live.hub import subscriber_count
from tests.live.boards import (
    access_token,
    board_make,
    leader_name,
    match_finish,
    match_with_exact_guess,
    parse,
    settlement_done,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Longer than redis-py's default socket_timeout (5 s): a layer connection that
# timed out while idle would lose this update.
IDLE_SECONDS = 11


def ws_open(daphne, path: str, **kwargs):
    return connect(f"{daphne.ws_base}{path}", origin=daphne.base, open_timeout=10, **kwargs)


def ws_json(ws, timeout: float = 10) -> dict:
    return parse(ws.recv(timeout=timeout))


def ws_close_code(daphne, path: str) -> int:
    with ws_open(daphne, path) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    return closed.value.rcvd.code


def test_websocket_and_sse_clients_on_two_processes_receive_each_settlement_update(
    processes, sse_readers, real_celery
):
    board = board_make(members=12)
    first = match_with_exact_guess(board, winners=[board.members[11]])
    second = match_with_exact_guess(board, winners=[board.members[10]], score=(3, 0))
    web_a, web_b = processes.daphne(), processes.daphne()
    processes.worker()
    path = f"/tournaments/{board.tournament.pk}/leaderboard"

    with ws_open(web_a, f"/ws{path}/") as ws:
        snapshot = ws_json(ws)
        assert snapshot["type"] == "snapshot" and snapshot["board"] == board.key
        assert leader_name(snapshot) == "Player 01"
        sse = sse_readers(f"{web_b.base}/api/v1{path}/events")
        wait_until(lambda: sse.named("snapshot"), timeout=10, what="the SSE snapshot")
        assert sse.named("snapshot")[0][2]["version"] == snapshot["version"]
        wait_until(lambda: subscriber_count(board=board.key) == 2, timeout=10, what="both subscribers counted")

        # Both clients now sit idle, longer than a default Redis socket timeout.
        idle_until = time.monotonic() + IDLE_SECONDS
        wait_until(lambda: time.monotonic() >= idle_until, timeout=IDLE_SECONDS + 1, what="the idle period", interval=0.5)

        settlement = match_finish(first)
        update = ws_json(ws, timeout=15)
        received_at = time.time()
        assert update["type"] == "update" and update["version"] > snapshot["version"]
        assert leader_name(update) == "Player 12"
        assert {"member_id": board.members[11].pk, "old_rank": None, "new_rank": 1} in update["moves"]
        committed_at = datetime.fromisoformat(update["committed_at"]).timestamp()
        assert received_at - committed_at < 1.0
        wait_until(lambda: sse.named("update"), timeout=10, what="the SSE update")
        event, event_id, sse_update = sse.named("update")[0]
        assert sse_update == update and event_id == str(update["version"])
        wait_until(lambda: settlement_done(settlement), timeout=10, what="the settlement to be recorded done")

        match_finish(second, score=(3, 0))
        later = ws_json(ws, timeout=15)
        assert later["version"] > update["version"]
        assert later["previous_version"] == update["version"]
        assert [row["member"]["display_name"] for row in later["top"][:2]] == ["Player 11", "Player 12"]
        wait_until(lambda: len(sse.named("update")) == 2, timeout=10, what="the second SSE update")
        assert sse.named("update")[1][2]["version"] == later["version"]

        metrics_a = httpx.get(f"{web_a.base}/metrics", timeout=10).text
        metrics_b = httpx.get(f"{web_b.base}/metrics", timeout=10).text
    assert 'scoreboard_live_clients{transport="websocket"} 1.0' in metrics_a
    assert 'scoreboard_live_clients{transport="sse"} 1.0' in metrics_b
    assert 'scoreboard_live_messages_sent_total{transport="sse"} 2.0' in metrics_b
    assert "scoreboard_live_delivery_lag_seconds_count 2.0" in metrics_a


def test_a_settlement_that_leaves_the_top_ten_unchanged_publishes_nothing(processes, real_celery):
    board = board_make(members=12)
    twelfth = board.members[11]
    # Members 1-10 take 4 points and an exact hit each while nobody watches.
    lift = match_with_exact_guess(board, winners=board.members[:10], score=(1, 0))
    # Member 12 draws level with them but is listed 11th (ties list by id): same top 10.
    quiet = match_with_exact_guess(board, winners=[twelfth], score=(0, 0))
    # A second exact hit puts member 12 first.
    loud = match_with_exact_guess(board, winners=[twelfth], score=(4, 4))
    web = processes.daphne()
    processes.worker()
    lifted = match_finish(lift, score=(1, 0))
    wait_until(lambda: settlement_done(lifted), timeout=20, what="the first settlement")

    with ws_open(web, f"/ws/tournaments/{board.tournament.pk}/leaderboard/") as ws:
        snapshot = ws_json(ws)
        assert [row["member"]["id"] for row in snapshot["top"]] == [m.pk for m in board.members[:10]]
        quiet_request = match_finish(quiet, score=(0, 0))
        wait_until(lambda: settlement_done(quiet_request), timeout=20, what="the quiet settlement")
        match_finish(loud, score=(4, 4))
        # Messages arrive in order: had the quiet settlement published, it would come first.
        message = ws_json(ws, timeout=15)
    assert message["type"] == "update"
    assert leader_name(message) == "Player 12"
    assert message["previous_version"] == snapshot["version"]


def test_league_boards_need_a_member_token(processes, sse_readers):
    board = board_make(members=4, league_members=2)
    outsider = board.members[3]
    web = processes.daphne()
    ws_path = f"/ws/leagues/{board.league.pk}/leaderboard/"
    sse_url = f"{web.base}/api/v1/leagues/{board.league.pk}/leaderboard/events"

    assert ws_close_code(web, ws_path) == 4401
    assert ws_close_code(web, ws_path + "?token=forged") == 4401
    assert ws_close_code(web, ws_path + f"?token={access_token(outsider)}") == 4403
    with ws_open(web, ws_path + f"?token={access_token(board.members[1])}") as ws:
        snapshot = ws_json(ws)
    assert snapshot["board"] == f"league:{board.league.pk}"
    assert sorted(row["member"]["id"] for row in snapshot["top"]) == sorted(m.pk for m in board.members[:2])

    missing = httpx.get(sse_url, timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "not_authenticated"
    forbidden = httpx.get(sse_url, headers={"Authorization": f"Bearer {access_token(outsider)}"}, timeout=10)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "not_league_member"
    member = sse_readers(sse_url, {"Authorization": f"Bearer {access_token(board.members[0])}"})
    wait_until(lambda: member.named("snapshot"), timeout=10, what="the member's SSE snapshot")
    by_query = sse_readers(f"{sse_url}?token={access_token(board.members[1])}")
    wait_until(lambda: by_query.named("snapshot"), timeout=10, what="the SSE snapshot with ?token=")


def test_tournament_boards_are_public_and_unknown_boards_are_refused(processes):
    board = board_make(members=2)
    web = processes.daphne()
    with ws_open(web, f"/ws/tournaments/{board.tournament.pk}/leaderboard/") as ws:
        assert ws_json(ws)["type"] == "snapshot"
    assert ws_close_code(web, "/ws/tournaments/999999/leaderboard/") == 4404
    assert ws_close_code(web, "/ws/leagues/999999/leaderboard/?token=x") == 4404
    for kind in ("tournaments", "leagues"):
        response = httpx.get(f"{web.base}/api/v1/{kind}/999999/leaderboard/events", timeout=10)
        assert response.status_code == 404
        assert set(response.json()) == {"detail", "code"}


def test_sse_sends_heartbeats_and_resumes_from_last_event_id(processes, sse_readers):
    board = board_make(members=3)
    web = processes.daphne(LIVE_HEARTBEAT_SECONDS="0.3")
    url = f"{web.base}/api/v1/tournaments/{board.tournament.pk}/leaderboard/events"
    first = sse_readers(url)
    wait_until(lambda: first.named("snapshot"), timeout=10, what="the snapshot")
    _, event_id, snapshot = first.named("snapshot")[0]
    assert event_id == str(snapshot["version"])
    wait_until(lambda: len(first.named("comment")) >= 2, timeout=10, what="two heartbeats")

    # Resuming at the current version: nothing but heartbeats until the next update.
    resumed = sse_readers(url, {"Last-Event-ID": event_id})
    wait_until(lambda: len(resumed.named("comment")) >= 2, timeout=10, what="heartbeats on the resumed stream")
    assert resumed.named("snapshot") == []
    # Resuming from an older version: a snapshot first.
    behind = sse_readers(url, {"Last-Event-ID": str(snapshot["version"] - 1)})
    wait_until(lambda: behind.named("snapshot"), timeout=10, what="a snapshot for a client behind")


def test_sse_streams_wait_on_the_event_loop_not_on_a_thread_each(processes, sse_readers):
    board = board_make(members=2)
    # All 40 come from 127.0.0.1.
    web = processes.daphne(LIVE_MAX_CONNECTIONS_PER_IP="40")
    url = f"{web.base}/api/v1/tournaments/{board.tournament.pk}/leaderboard/events"
    streams = [sse_readers(url) for _ in range(40)]
    wait_until(lambda: all(s.named("snapshot") for s in streams), timeout=20, what="40 SSE snapshots")
    with open(f"/proc/{web.process.pid}/status") as status:
        threads = int(next(line for line in status if line.startswith("Threads:")).split()[1])
    assert threads < 10


def test_more_clients_than_the_redis_connection_cap_connect_at_once_and_all_receive(processes, real_celery):
    import asyncio

    from websockets.asyncio.client import connect as aconnect

    board = board_make(members=11)
    match = match_with_exact_guess(board, winners=[board.members[10]])
    clients = 150
    # All of them come from 127.0.0.1.
    web = processes.daphne(LIVE_MAX_CONNECTIONS_PER_IP=str(clients))
    processes.worker()
    url = f"{web.ws_base}/ws/tournaments/{board.tournament.pk}/leaderboard/"

    async def run() -> list[dict]:
        sockets = await asyncio.gather(*[aconnect(url, origin=web.base, open_timeout=30) for _ in range(clients)])
        try:
            snapshots = await asyncio.gather(*[ws.recv() for ws in sockets])
            assert all(parse(text)["type"] == "snapshot" for text in snapshots)
            await asyncio.to_thread(match_finish, match)
            return [parse(text) for text in await asyncio.gather(*[asyncio.wait_for(ws.recv(), 20) for ws in sockets])]
        finally:
            await asyncio.gather(*[ws.close() for ws in sockets])

    updates = asyncio.run(run())
    assert len(updates) == clients
    assert {(u["type"], u["version"], leader_name(u)) for u in updates} == {
        ("update", updates[0]["version"], "Player 11")
    }


def test_a_killed_process_stops_counting_as_a_subscriber(processes):
    board = board_make(members=2)
    web = processes.daphne(LIVE_SUBSCRIBER_TTL_SECONDS="1.5")
    with ws_open(web, f"/ws/tournaments/{board.tournament.pk}/leaderboard/", close_timeout=1) as ws:
        ws_json(ws)
        wait_until(lambda: subscriber_count(board=board.key) == 1, timeout=10, what="the subscriber counted")
        # No clean shutdown: the process cannot unregister, its entry must expire.
        web.kill(signal.SIGKILL)
        wait_until(lambda: subscriber_count(board=board.key) == 0, timeout=10, what="the entry to expire")
    assert registry.store().boards_watched([board.key]) == []


def test_a_lost_update_shows_as_a_version_gap_that_a_snapshot_request_heals(processes, monkeypatch):
    """Redis pub/sub delivers at most once: the next update names the version the client missed."""
    board = board_make(members=12)
    first = match_with_exact_guess(board, winners=[board.members[11]])
    second = match_with_exact_guess(board, winners=[board.members[10]], score=(3, 0))
    web = processes.daphne()
    with ws_open(web, f"/ws/tournaments/{board.tournament.pk}/leaderboard/") as ws:
        snapshot = ws_json(ws)
        # Settled here (eagerly); the first update is lost on its way.
        real_send = publisher.group_send_all
        monkeypatch.setattr(publisher, "group_send_all", lambda messages: None)
        assert settlement_done(match_finish(first))
        monkeypatch.setattr(publisher, "group_send_all", real_send)
        assert settlement_done(match_finish(second, score=(3, 0)))
        update = ws_json(ws)
        assert update["previous_version"] > snapshot["version"]
        ws.send('{"type": "snapshot"}')
        healed = ws_json(ws)
    assert healed["type"] == "snapshot" and healed["version"] == update["version"]
    assert [row["member"]["display_name"] for row in healed["top"][:2]] == ["Player 11", "Player 12"]


def test_the_embedded_default_without_redis_still_shows_updates(processes):
    """No REDIS_URL: in-memory channel layer; the web process re-reads watched boards itself."""
    board = board_make(members=11)
    match = match_with_exact_guess(board, winners=[board.members[10]])
    web = processes.daphne(REDIS_URL="", LIVE_POLL_SECONDS="0.2")
    with ws_open(web, f"/ws/tournaments/{board.tournament.pk}/leaderboard/") as ws:
        snapshot = ws_json(ws)
        assert leader_name(snapshot) == "Player 01"
        # Settled here, eagerly, as the embedded replay process does.
        request = match_finish(match)
        assert settlement_done(request)
        update = ws_json(ws, timeout=10)
    assert update["type"] == "update" and update["version"] > snapshot["version"]
    assert leader_name(update) == "Player 11"
