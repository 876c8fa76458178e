"""SIGTERM to a realtime (daphne) process: live clients are let go cleanly before it stops."""

import signal
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.boards import board_make
from tests.live.test_live_processes import ws_json, ws_open
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class SseStream:
    """Reads one SSE response in a thread and records whether it ended cleanly or broke off."""

    def __init__(self, url: str):
        self.lines: list[str] = []
        self.clean_end = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=30)) as response:
                for line in response.iter_lines():
                    self.lines.append(line)
            # iter_lines returns only after the terminating chunk: an aborted
            # chunked response raises instead.
            self.clean_end = True
        except Exception as exc:
            self.error = repr(exc)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def test_sigterm_closes_websockets_with_1012_and_ends_sse_streams_before_daphne_stops(processes):
    board = board_make(members=2)
    web = processes.daphne(LIVE_SHUTDOWN_SECONDS="10", LOG_LEVEL="INFO")
    tournament = board.tournament.pk
    sse = SseStream(f"{web.base}/api/v1/tournaments/{tournament}/leaderboard/events")
    with ws_open(web, f"/ws/tournaments/{tournament}/leaderboard/") as ws:
        assert ws_json(ws)["type"] == "snapshot"
        wait_until(lambda: any(line.startswith("event: snapshot") for line in sse.lines), timeout=10, what="SSE")

        asked_at = time.monotonic()
        web.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            try:
                ws.recv(timeout=10)
            except TimeoutError:
                raise AssertionError(web.output(80))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
    sse.join(timeout=15)
    assert sse.clean_end, sse.error
    web.process.wait(timeout=15)
    assert time.monotonic() - asked_at < 12
    assert web.saw("live streams ended"), web.output()
