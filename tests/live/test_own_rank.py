"""The caller's own rank, live: `/ws/me/` and `/api/v1/me/events` on real daphne processes and a real worker."""

import signal
import time
from datetime import timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from apps.leaderboards.live.hub import subscriber_count
from apps.leaderboards.models import Standing
from apps.leagues.services import league_member_remove
from rest_framework_simplejwt.tokens import AccessToken
from tests.live.test_live_access import close_code
from tests.live.boards import access_token, board_make, match_finish, match_with_exact_guess, settlement_done
from tests.live.test_live_processes import ws_close_code, ws_json, ws_open
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Long enough for a message that was going to come: the member who moved got
# theirs from the same batched read, on the same process, already.
QUIET_SECONDS = 1.5


def rank_json(ws, timeout: float = 10) -> dict:
    """The next `rank` message, past any `achievement` a settlement also handed out."""
    while True:
        message = ws_json(ws, timeout=timeout)
        if message["type"] != "achievement":
            return message


def by_board(messages: list[dict]) -> dict[str, dict]:
    return {message["board"]: message for message in messages}


def test_both_transports_on_two_processes_get_the_new_rank_and_a_member_who_did_not_move_gets_nothing(
    processes, sse_readers, real_celery
):
    # Four members; the league holds the first three.
    board = board_make(members=4, league_members=3)
    first_, second_, third_, fourth_ = board.members
    league = f"league:{board.league.pk}"
    # Settled before anyone connects: the first two lead, level.
    lead = match_with_exact_guess(board, winners=[first_, second_])
    # Then the third draws level with them: they rise, nobody else's rank or points move but the fourth's.
    catch_up = match_with_exact_guess(board, winners=[third_])
    web_a, web_b = processes.daphne(), processes.daphne()
    processes.worker()
    led = match_finish(lead)
    wait_until(lambda: settlement_done(led), timeout=20, what="the first settlement")
    points = Standing.objects.get(tournament=board.tournament, member=first_).points
    assert points > 0

    with ws_open(web_a, f"/ws/me/?token={access_token(third_)}") as riser, ws_open(
        web_a, f"/ws/me/?token={access_token(first_)}"
    ) as leader:
        sse = sse_readers(f"{web_b.base}/api/v1/me/events", {"Authorization": f"Bearer {access_token(third_)}"})
        first_messages = by_board([ws_json(riser), ws_json(riser)])
        assert set(first_messages) == {board.key, league}
        assert first_messages[board.key] == {
            "type": "rank", "board": board.key, "version": first_messages[board.key]["version"],
            "rank": 3, "total": 4, "points": 0, "live_points": 0,
        }
        league_first = first_messages[league]
        assert (league_first["rank"], league_first["total"], league_first["points"]) == (3, 3, 0)
        leader_first = by_board([ws_json(leader), ws_json(leader)])
        assert {b: (m["rank"], m["points"]) for b, m in leader_first.items()} == {
            board.key: (1, points), league: (1, points)
        }
        wait_until(lambda: len(sse.named("rank")) == 2, timeout=10, what="the SSE stream's first ranks")
        assert by_board([data for _, _, data in sse.named("rank")]) == first_messages

        caught_up = match_finish(catch_up)
        # Two new ranks, and the riser's first exact hit: an achievement, pushed after the request is done.
        received = [ws_json(riser, timeout=15) for _ in range(3)]
        moved = by_board([m for m in received if m["type"] == "rank"])
        assert [m for m in received if m["type"] == "achievement"] == [
            {"type": "achievement", "tournament": board.tournament.pk, "code": "first_exact", "name": "First exact"}
        ]
        assert {b: (m["type"], m["rank"], m["points"]) for b, m in moved.items()} == {
            board.key: ("rank", 1, points), league: ("rank", 1, points)
        }
        assert moved[board.key]["total"] == 4 and moved[league]["total"] == 3
        assert moved[board.key]["version"] > first_messages[board.key]["version"]
        wait_until(lambda: len(sse.named("rank")) == 4, timeout=15, what="the SSE stream's new ranks")
        assert by_board([data for _, _, data in sse.named("rank")[2:]]) == moved
        wait_until(lambda: len(sse.named("achievement")) == 1, timeout=15, what="the SSE stream's achievement")
        assert sse.named("achievement")[0][2]["code"] == "first_exact"
        wait_until(lambda: settlement_done(caught_up), timeout=20, what="the second settlement")

        # The leader is still first with the same points on both boards: nothing.
        with pytest.raises(TimeoutError):
            leader.recv(timeout=QUIET_SECONDS)


def test_the_own_rank_streams_need_a_valid_token(processes):
    board = board_make(members=2)
    web = processes.daphne()
    assert ws_close_code(web, "/ws/me/") == 4401
    assert ws_close_code(web, "/ws/me/?token=forged") == 4401
    missing = httpx.get(f"{web.base}/api/v1/me/events", timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "not_authenticated"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = httpx.get(f"{web.base}/api/v1/me/events", headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.status_code == 401 and forged.json()["code"] == "token_not_valid"
    # A member with a token and no board gets a stream and nothing on it.
    from tests.factories import MemberFactory

    with ws_open(web, f"/ws/me/?token={access_token(MemberFactory())}") as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=QUIET_SECONDS)
    with ws_open(web, f"/ws/me/?token={access_token(board.members[0])}") as ws:
        assert ws_json(ws)["board"] == board.key


def test_the_own_rank_stream_on_a_wsgi_process_points_to_the_realtime_role(processes):
    web = processes.gunicorn()
    member = board_make(members=1).members[0]
    response = httpx.get(f"{web.base}/api/v1/me/events", headers={"Authorization": f"Bearer {access_token(member)}"})
    assert response.status_code == 421 and response.json()["code"] == "stream_not_served_here"


def test_sigterm_closes_an_own_rank_websocket_with_1012(processes):
    board = board_make(members=2)
    web = processes.daphne(LIVE_SHUTDOWN_SECONDS="10", LOG_LEVEL="INFO")
    with ws_open(web, f"/ws/me/?token={access_token(board.members[0])}") as ws:
        assert ws_json(ws)["type"] == "rank"
        web.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    web.process.wait(timeout=15)


def test_the_embedded_default_without_redis_still_sends_the_new_rank(processes):
    board = board_make(members=3)
    match = match_with_exact_guess(board, winners=[board.members[2]])
    web = processes.daphne(REDIS_URL="", LIVE_POLL_SECONDS="0.2")
    with ws_open(web, f"/ws/me/?token={access_token(board.members[2])}") as ws:
        first = ws_json(ws)
        assert (first["board"], first["rank"], first["points"]) == (board.key, 1, 0)
        # Settled here, eagerly, as the embedded replay process does.
        assert settlement_done(match_finish(match))
        moved = rank_json(ws, timeout=10)
    assert moved["rank"] == 1 and moved["points"] > 0 and moved["version"] > first["version"]


def test_a_member_who_leaves_a_league_keeps_their_stream_without_that_league(processes):
    board = board_make(members=3, league_members=3)
    owner, leaving, _ = board.members
    league = f"league:{board.league.pk}"
    web_a, web_b = processes.daphne(), processes.daphne()
    with ws_open(web_a, f"/ws/me/?token={access_token(leaving)}") as on_a, ws_open(
        web_b, f"/ws/me/?token={access_token(leaving)}"
    ) as on_b:
        for ws in (on_a, on_b):
            assert set(by_board([ws_json(ws), ws_json(ws)])) == {board.key, league}
        league_member_remove(league_id=board.league.pk, actor_id=leaving.pk, member_id=leaving.pk)
        # The owner scores (settled here, eagerly): the leaving member falls to 2nd on both boards,
        # but hears only of the tournament.
        assert settlement_done(match_finish(match_with_exact_guess(board, winners=[owner])))
        for ws in (on_a, on_b):
            moved = rank_json(ws, timeout=15)
            assert (moved["board"], moved["rank"]) == (board.key, 2)
            with pytest.raises(TimeoutError):
                ws.recv(timeout=QUIET_SECONDS)


def test_a_deactivated_members_own_streams_end_on_every_process(processes, sse_readers):
    board = board_make(members=2)
    member = board.members[0]
    web_a, web_b = processes.daphne(), processes.daphne()
    stream = sse_readers(f"{web_b.base}/api/v1/me/events", {"Authorization": f"Bearer {access_token(member)}"})
    with ws_open(web_a, f"/ws/me/?token={access_token(member)}") as ws:
        assert ws_json(ws)["type"] == "rank"
        wait_until(lambda: stream.named("rank"), timeout=10, what="the SSE stream's first rank")
        member.is_active = False
        member.save(update_fields=["is_active"])
        assert close_code(ws) == 4403
    wait_until(stream.ended_by_server, timeout=10, what="the deactivated member's SSE stream to end")


def test_an_own_stream_ends_when_its_token_expires(processes):
    board = board_make(members=2)
    web = processes.daphne()
    token = AccessToken.for_user(board.members[0])
    token.set_exp(lifetime=timedelta(seconds=3))
    with ws_open(web, f"/ws/me/?token={token}") as ws:
        assert ws_json(ws)["type"] == "rank"
        assert close_code(ws, timeout=15) == 4401
    # Not before the token's expiry (a second of slack: `exp` is whole seconds).
    assert time.time() >= token["exp"] - 1


def test_a_board_held_for_own_ranks_after_its_top_ten_clients_left_serves_a_fresh_top_ten(processes):
    """Once nobody watches the top 10, its updates stop: the next top-10 client must not get the old one."""
    board = board_make(members=12)
    winner = board.members[11]
    match = match_with_exact_guess(board, winners=[winner])
    web = processes.daphne()
    top_path = f"/ws/tournaments/{board.tournament.pk}/leaderboard/"
    with ws_open(web, f"/ws/me/?token={access_token(winner)}") as mine:
        assert ws_json(mine)["points"] == 0
        with ws_open(web, top_path) as top:
            assert ws_json(top)["top"][0]["member"]["id"] == board.members[0].pk
        wait_until(
            lambda: subscriber_count(board=board.key) == 0, timeout=10, what="the top-10 client to be unregistered"
        )
        assert settlement_done(match_finish(match))
        moved = rank_json(mine, timeout=15)
        assert (moved["rank"], moved["points"] > 0) == (1, True)
        with ws_open(web, top_path) as top:
            snapshot = ws_json(top)
    assert snapshot["top"][0]["member"]["id"] == winner.pk
    assert snapshot["version"] >= moved["version"]


def test_own_rank_streams_share_the_origin_rule_and_the_per_address_cap(processes):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    member = board_make(members=1).members[0]
    web = processes.daphne(LIVE_MAX_CONNECTIONS_PER_IP="1")
    path = f"/ws/me/?token={access_token(member)}"
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{web.ws_base}{path}", origin="https://evil.example.net", open_timeout=10)
    assert refused.value.response.status_code == 403
    with ws_open(web, path) as first:
        assert ws_json(first)["type"] == "rank"
        with ws_open(web, path) as second:
            assert close_code(second) == 4429
        over = httpx.get(f"{web.base}/api/v1/me/events", headers={"Authorization": f"Bearer {access_token(member)}"})
        assert over.status_code == 429 and over.json()["code"] == "too_many_connections"


def test_a_league_joined_while_the_stream_is_open_is_followed_from_then_on(processes):
    from apps.leagues.services import league_member_add

    board = board_make(members=3, league_members=2)
    newcomer = board.members[2]
    league = f"league:{board.league.pk}"
    web_a, web_b = processes.daphne(), processes.daphne()
    with ws_open(web_a, f"/ws/me/?token={access_token(newcomer)}") as on_a, ws_open(
        web_b, f"/ws/me/?token={access_token(newcomer)}"
    ) as on_b:
        for ws in (on_a, on_b):
            assert ws_json(ws)["board"] == board.key
        league_member_add(league=board.league, member_id=newcomer.pk)
        for ws in (on_a, on_b):
            joined = ws_json(ws)
            assert (joined["board"], joined["rank"], joined["total"]) == (league, 1, 3)
        # And its changes reach the stream: the owner scores (settled here, eagerly).
        assert settlement_done(match_finish(match_with_exact_guess(board, winners=[board.members[0]])))
        for ws in (on_a, on_b):
            moved = by_board([rank_json(ws, timeout=15), rank_json(ws, timeout=15)])
            assert {b: m["rank"] for b, m in moved.items()} == {board.key: 2, league: 2}
