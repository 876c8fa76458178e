"""WebSocket handshakes on a real daphne: native clients without `Origin` are served, foreign browsers refused."""

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.live.boards import board_make, parse

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _path(board) -> str:
    return f"/ws/tournaments/{board.tournament.pk}/leaderboard/"


def test_a_client_without_origin_gets_the_snapshot(processes):
    board = board_make(members=3)
    web = processes.daphne()
    # websockets sends no Origin unless asked: the way a mobile app or a script connects.
    with connect(f"{web.ws_base}{_path(board)}", open_timeout=10) as ws:
        assert "origin" not in {name.lower() for name in ws.request.headers}
        message = parse(ws.recv(timeout=10))
    assert message["type"] == "snapshot"
    assert len(message["top"]) == 3


def test_a_browser_on_an_allowed_host_or_trusted_origin_gets_the_snapshot(processes):
    board = board_make(members=2)
    web = processes.daphne(CSRF_TRUSTED_ORIGINS="https://app.example.com")
    for origin in (web.base, "https://app.example.com"):
        with connect(f"{web.ws_base}{_path(board)}", origin=origin, open_timeout=10) as ws:
            assert parse(ws.recv(timeout=10))["type"] == "snapshot", origin


@pytest.mark.parametrize("origin", ["https://evil.example.net", "null", "http://127.0.0.1.evil.example.net"])
def test_a_browser_from_a_foreign_origin_is_refused(processes, origin):
    board = board_make(members=2)
    web = processes.daphne()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{web.ws_base}{_path(board)}", origin=origin, open_timeout=10)
    assert refused.value.response.status_code == 403
