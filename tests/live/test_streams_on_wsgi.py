"""Event streams belong to the realtime (ASGI) role: on gunicorn they answer at once instead of holding a worker."""

import httpx
import pytest

from tests.live.boards import board_make
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIVE_URL = "http://live.example.com:8001"


def test_gunicorn_answers_stream_paths_at_once_with_where_to_connect_while_daphne_streams(processes, sse_readers):
    board = board_make(members=2)
    league_board = board_make(members=2, league_members=2)
    # One sync worker: a stream held open would leave nothing to answer the next request.
    web = processes.gunicorn(LIVE_PUBLIC_URL=LIVE_URL)
    realtime = processes.daphne()
    paths = [
        f"/api/v1/tournaments/{board.tournament.pk}/leaderboard/events",
        f"/api/v1/leagues/{league_board.league.pk}/leaderboard/events",
    ]

    for path in paths * 3:
        response = httpx.get(f"{web.base}{path}", timeout=5)
        assert response.status_code == 421
        assert response.json() == {
            "detail": f"Live streams are served at {LIVE_URL}, not here.",
            "code": "stream_not_served_here",
            "live_url": LIVE_URL,
        }
    assert httpx.get(f"{web.base}/api/v1/tournaments", timeout=5).status_code == 200

    stream = sse_readers(f"{realtime.base}{paths[0]}")
    wait_until(lambda: stream.named("snapshot"), timeout=10, what="the snapshot from daphne")
    assert stream.status == 200
