"""daphne's access log never holds the access tokens that league streams carry in `?token=`."""

import sys

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.common.access_log import query_tokens_redact
from tests.live.boards import access_token, board_make
from tests.live.conftest import START_TIMEOUT, Child, child_env
from tests.waiting import spare_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def logged_daphne(tmp_path):
    port = spare_port()
    log = tmp_path / "access.log"
    child = Child(
        f"daphne:{port}",
        [
            sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "--access-log", str(log), "scoreboard.asgi:application",
        ],
        child_env(),
    )
    child.base = f"http://127.0.0.1:{port}"
    child.log = log

    def ready() -> bool:
        assert child.alive(), child.output()
        try:
            return httpx.get(f"{child.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=START_TIMEOUT, what="daphne to answer /healthz")
        yield child
    finally:
        child.kill()


def test_the_access_log_redacts_stream_tokens(logged_daphne):
    board = board_make(members=4, league_members=3)
    outsider_token = access_token(board.members[3])
    forged_token = "not.a.valid-token"
    league = board.league.pk
    events = f"{logged_daphne.base}/api/v1/leagues/{league}/leaderboard/events"

    assert httpx.get(f"{events}?token={forged_token}", timeout=10).status_code == 401
    assert httpx.get(f"{events}?x=1&token={outsider_token}", timeout=10).status_code == 403
    ws_url = f"{logged_daphne.base.replace('http', 'ws')}/ws/leagues/{league}/leaderboard/?token={outsider_token}"
    with connect(ws_url, origin=logged_daphne.base, open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)

    def logged() -> str:
        text = logged_daphne.log.read_text() if logged_daphne.log.exists() else ""
        return text if text.count("leaderboard/events") == 2 and "WSDISCONNECT" in text else ""

    text = wait_until(logged, timeout=15, what="both stream requests and the WebSocket in the access log")
    assert outsider_token not in text and forged_token not in text
    assert f'"GET /api/v1/leagues/{league}/leaderboard/events?token=[redacted]" 401' in text
    assert f'"GET /api/v1/leagues/{league}/leaderboard/events?x=1&token=[redacted]" 403' in text


def test_only_token_values_are_redacted():
    assert query_tokens_redact("/a?page=2&access_token=abc.def&b=1") == "/a?page=2&access_token=[redacted]&b=1"
    assert query_tokens_redact("/a?tokens=1&b=token=x") == "/a?tokens=1&b=token=x"
    assert query_tokens_redact("/api/v1/token/refresh") == "/api/v1/token/refresh"
