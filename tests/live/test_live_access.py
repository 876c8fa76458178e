"""League streams hold only while access does: removal, deactivation and token expiry end them.

Real daphne processes; the removal is committed here (or, embedded, through
the REST API of the daphne process itself) and must reach every process that
holds the board.
"""

import time
from datetime import timedelta

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import ConnectionClosed

from apps.leagues.services import league_member_remove
from tests.live.boards import access_token, board_make, match_finish, match_with_exact_guess, settlement_done
from tests.live.test_live_processes import ws_json, ws_open
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def close_code(ws, timeout: float = 10) -> int:
    """Read until the server closes the socket; fail if anything else arrives first."""
    with pytest.raises(ConnectionClosed) as closed:
        message = ws.recv(timeout=timeout)
        pytest.fail(f"expected the socket closed, received {message[:200]}")
    return closed.value.rcvd.code


def league_paths(board, daphne) -> tuple[str, str]:
    league = board.league.pk
    return f"/ws/leagues/{league}/leaderboard/", f"{daphne.base}/api/v1/leagues/{league}/leaderboard/events"


def an_update_reaches(ws, board, winner) -> dict:
    """Settle a match `winner` guessed (eagerly, here) and return the update `ws` receives."""
    assert settlement_done(match_finish(match_with_exact_guess(board, winners=[winner])))
    update = ws_json(ws, timeout=15)
    assert update["type"] == "update"
    return update


def test_a_member_removed_from_a_league_loses_its_websockets_on_every_process_while_others_keep_receiving(processes):
    board = board_make(members=4, league_members=3)
    owner, removed, staying = board.members[0], board.members[1], board.members[2]
    web_a, web_b = processes.daphne(), processes.daphne()
    ws_path, _ = league_paths(board, web_a)

    with (
        ws_open(web_a, ws_path + f"?token={access_token(removed)}") as removed_a,
        ws_open(web_b, ws_path + f"?token={access_token(removed)}") as removed_b,
        ws_open(web_b, ws_path + f"?token={access_token(staying)}") as other,
    ):
        for ws in (removed_a, removed_b, other):
            assert ws_json(ws)["type"] == "snapshot"

        league_member_remove(league_id=board.league.pk, actor_id=owner.pk, member_id=removed.pk)
        # Asked again right after the removal committed: answered by the close, not a snapshot.
        removed_a.send

        assert close_code(removed_a) == 4403
        assert close_code(removed_b) == 4403
        update = an_update_reaches(other, board, winner=staying)
    assert update["top"][0]["member"]["id"] == staying.pk
    assert removed.pk not in [row["member"]["id"] for row in update["top"]]


def test_a_removal_that_rolls_back_keeps_the_stream_open(processes):
    from django.db import transaction

    board = board_make(members=3, league_members=3)
    owner, member = board.members[0], board.members[1]
    web = processes.daphne()
    ws_path, _ = league_paths(board, web)
    with ws_open(web, ws_path + f"?token={access_token(member)}") as ws:
        assert ws_json(ws)["type"] == "snapshot"
        with pytest.raises(RuntimeError), transaction.atomic():
            league_member_remove(league_id=board.league.pk, actor_id=owner.pk, member_id=member.pk)
            raise RuntimeError("rolled back")
        assert an_update_reaches(ws, board, winner=member)["top"][0]["member"]["id"] == member.pk


def test_a_member_removed_from_a_league_has_its_sse_stream_ended_while_another_members_flows(
    processes, sse_readers
):
    board = board_make(members=3, league_members=3)
    owner, removed, staying = board.members
    web = processes.daphne()
    _, sse_url = league_paths(board, web)
    removed_stream = sse_readers(sse_url, {"Authorization": f"Bearer {access_token(removed)}"})
    staying_stream = sse_readers(sse_url, {"Authorization": f"Bearer {access_token(staying)}"})
    wait_until(lambda: removed_stream.named("snapshot") and staying_stream.named("snapshot"), timeout=10,
               what="both SSE snapshots")

    league_member_remove(league_id=board.league.pk, actor_id=owner.pk, member_id=removed.pk)

    wait_until(removed_stream.ended_by_server, timeout=10, what="the removed member's stream to end")
    assert not staying_stream.ended.is_set()
    assert settlement_done(match_finish(match_with_exact_guess(board, winners=[staying])))
    wait_until(lambda: staying_stream.named("update"), timeout=15, what="the other member's update")
    assert removed_stream.named("update") == []
    # Reconnecting is refused now.
    again = httpx.get(sse_url, headers={"Authorization": f"Bearer {access_token(removed)}"}, timeout=10)
    assert again.status_code == 403 and again.json()["code"] == "not_league_member"


def test_a_deactivated_member_loses_its_league_streams(processes, sse_readers):
    board = board_make(members=3, league_members=3)
    member, other = board.members[1], board.members[2]
    web = processes.daphne()
    ws_path, sse_url = league_paths(board, web)
    stream = sse_readers(sse_url, {"Authorization": f"Bearer {access_token(member)}"})
    with (
        ws_open(web, ws_path + f"?token={access_token(member)}") as ws,
        ws_open(web, ws_path + f"?token={access_token(other)}") as other_ws,
    ):
        assert ws_json(ws)["type"] == "snapshot" and ws_json(other_ws)["type"] == "snapshot"
        wait_until(lambda: stream.named("snapshot"), timeout=10, what="the SSE snapshot")

        member.is_active = False
        member.save(update_fields=["is_active"])

        assert close_code(ws) == 4403
        wait_until(stream.ended_by_server, timeout=10, what="the deactivated member's SSE stream to end")
        assert an_update_reaches(other_ws, board, winner=other)["type"] == "update"


def test_a_stream_opened_with_a_short_lived_token_ends_when_the_token_expires(processes, sse_readers):
    board = board_make(members=2, league_members=2)
    member = board.members[1]
    web = processes.daphne()
    ws_path, sse_url = league_paths(board, web)
    token = AccessToken.for_user(member)
    token.set_exp(lifetime=timedelta(seconds=4))
    expires_at = token["exp"]

    stream = sse_readers(f"{sse_url}?token={token}")
    with ws_open(web, ws_path + f"?token={token}") as ws:
        assert ws_json(ws)["type"] == "snapshot"
        wait_until(lambda: stream.named("snapshot"), timeout=10, what="the SSE snapshot")
        assert close_code(ws, timeout=15) == 4401
        closed_at = time.time()
    wait_until(stream.ended_by_server, timeout=5, what="the SSE stream to end")
    # Not before the token's expiry (a second of slack: `exp` is whole seconds).
    assert closed_at >= expires_at - 1
    assert closed_at < expires_at + 5
    expired = httpx.get(f"{sse_url}?token={token}", timeout=10)
    assert expired.status_code == 401 and expired.json()["code"] == "token_not_valid"


def test_the_embedded_default_closes_a_removed_members_stream_too(processes):
    """No Redis: one process serves the API and the streams, and its hub hears of the removal directly."""
    board = board_make(members=3, league_members=3)
    owner, removed, staying = board.members
    web = processes.daphne(REDIS_URL="", LIVE_POLL_SECONDS="0.2")
    ws_path, _ = league_paths(board, web)
    with (
        ws_open(web, ws_path + f"?token={access_token(removed)}") as ws,
        ws_open(web, ws_path + f"?token={access_token(staying)}") as other,
    ):
        assert ws_json(ws)["type"] == "snapshot" and ws_json(other)["type"] == "snapshot"
        response = httpx.delete(
            f"{web.base}/api/v1/leagues/{board.league.pk}/members/{removed.pk}",
            headers={"Authorization": f"Bearer {access_token(owner)}"},
            timeout=10,
        )
        assert response.status_code == 204, response.text
        assert close_code(ws) == 4403
        assert an_update_reaches(other, board, winner=staying)["type"] == "update"
