"""Live connections are bounded: a cap per client address and per process, and a bound on unsent output.

Real daphne processes; the slow readers are raw sockets with a small receive
buffer that stop reading, so what piles up is daphne's own buffer.
"""

import base64
import json
import os
import re
import socket
import struct

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live.frames import UPDATE_MESSAGE
from apps.leaderboards.live.hub import subscriber_count
from apps.leaderboards.live.limits import client_address
from apps.leaderboards.live.publisher import group_send_all
from tests.live.boards import board_make
from tests.live.test_live_processes import ws_json, ws_open
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def refused_code(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        message = ws.recv(timeout=10)
        pytest.fail(f"expected the socket refused, received {message[:200]}")
    return closed.value.rcvd.code


def metric(daphne, name: str) -> float:
    text = httpx.get(f"{daphne.base}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


# --- per-address cap -----------------------------------------------------------------------


def test_one_address_may_hold_only_the_capped_number_of_websocket_and_sse_streams(processes):
    board = board_make(members=2)
    web = processes.daphne(LIVE_MAX_CONNECTIONS_PER_IP="3")
    ws_path = f"/ws/tournaments/{board.tournament.pk}/leaderboard/"
    sse_url = f"{web.base}/api/v1/tournaments/{board.tournament.pk}/leaderboard/events"

    with ws_open(web, ws_path) as first, ws_open(web, ws_path) as second:
        assert ws_json(first)["type"] == "snapshot" and ws_json(second)["type"] == "snapshot"
        with httpx.Client(timeout=httpx.Timeout(10, read=None)) as http, http.stream("GET", sse_url) as third:
            assert third.status_code == 200  # WebSocket and SSE count together: this is the third
            with ws_open(web, ws_path) as fourth:
                assert refused_code(fourth) == 4429
            refused = httpx.get(sse_url, timeout=10)
            assert refused.status_code == 429
            assert refused.json() == {"detail": refused.json()["detail"], "code": "too_many_connections"}
            assert int(refused.headers["Retry-After"]) > 0
        # The SSE stream closed: its place is free again.
        wait_until(
            lambda: metric(web, 'scoreboard_live_clients{transport="sse"}') == 0, timeout=10, what="the SSE client gone"
        )
        with ws_open(web, ws_path) as again:
            assert ws_json(again)["type"] == "snapshot"
    assert metric(web, 'scoreboard_live_connections_refused_total{transport="websocket"}') == 1
    assert metric(web, 'scoreboard_live_connections_refused_total{transport="sse"}') == 1


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_counted(processes):
    board = board_make(members=2)
    web = processes.daphne(LIVE_MAX_CONNECTIONS_PER_IP="1", NUM_PROXIES="1")
    ws_path = f"/ws/tournaments/{board.tournament.pk}/leaderboard/"

    def behind_proxy(forwarded_for: str):
        return ws_open(web, ws_path, additional_headers={"X-Forwarded-For": forwarded_for})

    with behind_proxy("203.0.113.5") as first, behind_proxy("203.0.113.6") as other_client:
        assert ws_json(first)["type"] == "snapshot"
        assert ws_json(other_client)["type"] == "snapshot"
        # The client's own entry left of what the proxy appended is not believed.
        with behind_proxy("198.51.100.1, 203.0.113.5") as same_client:
            assert refused_code(same_client) == 4429


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.9"),
        (1, None, "10.0.0.9"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.1, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (3, "203.0.113.5", "203.0.113.5"),
    ],
)
def test_the_client_address_is_the_socket_peer_unless_num_proxies_trusts_forwarded_hops(
    settings, proxies, forwarded, expected
):
    settings.NUM_PROXIES = proxies
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    assert client_address({"client": ("10.0.0.9", 50000), "headers": headers}) == expected


# --- unsent output -------------------------------------------------------------------------


def slow_socket(port: int) -> socket.socket:
    """A TCP connection that takes almost nothing off the wire until read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def read_headers(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, "connection closed during the handshake"
        data += chunk
    return data


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def drain_until_closed(sock: socket.socket) -> int:
    """Read what the kernel still holds; return the byte count once the server has closed or reset the connection."""
    received = 0
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            received += len(chunk)
    except ConnectionResetError:
        pass
    return received


def test_a_websocket_client_that_stops_reading_is_dropped_once_its_unsent_output_passes_the_bound(processes):
    board = board_make(members=12)
    limit = 64 * 1024
    web = processes.daphne(LIVE_MAX_BUFFERED_BYTES=str(limit))
    path = f"/ws/tournaments/{board.tournament.pk}/leaderboard/"
    sock = slow_socket(web.port)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {web.base}\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in read_headers(sock).split(b"\r\n")[0]

    # Each request makes the server send the whole top 10 (over 1 KB); the
    # client asks for 4 MB of them and reads none.
    request = masked_text_frame('{"type": "snapshot"}')
    requests = 4000
    try:
        sock.sendall(request * requests)
    except (TimeoutError, ConnectionError):
        pass  # the server stopped reading or dropped us before all requests went out
    wait_until(
        lambda: metric(web, 'scoreboard_live_clients_dropped_total{transport="websocket"}') == 1,
        timeout=30,
        what="the slow WebSocket client to be dropped",
    )
    received = drain_until_closed(sock)
    sock.close()
    assert received < requests * 1024 / 4
    # The process lets the client go and keeps serving others.
    wait_until(
        lambda: metric(web, 'scoreboard_live_clients{transport="websocket"}') == 0, timeout=10, what="the client gone"
    )
    with ws_open(web, path) as ws:
        assert ws_json(ws)["type"] == "snapshot"


def test_an_sse_client_that_stops_reading_is_dropped_once_its_unsent_output_passes_the_bound(
    processes, sse_readers
):
    board = board_make(members=2)
    limit = 512 * 1024
    web = processes.daphne(LIVE_MAX_BUFFERED_BYTES=str(limit))
    url = f"{web.base}/api/v1/tournaments/{board.tournament.pk}/leaderboard/events"
    sock = slow_socket(web.port)
    sock.sendall(f"GET {url.removeprefix(web.base)} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n\r\n".encode())
    assert b" 200 " in read_headers(sock).split(b"\r\n")[0]
    reader = sse_readers(url)
    wait_until(lambda: subscriber_count(board=board.key) == 2, timeout=10, what="both SSE clients on their board")

    # A busy board: 6 MB of updates in bursts of 20 through the real path
    # (board group, hub, stream), more than the kernel's socket buffers take
    # in. The reading client takes each burst before the next is sent.
    pad = "x" * 8 * 1024
    bursts, size = 40, 20
    version = 1_000_000
    for burst in range(bursts):
        messages = []
        for _ in range(size):
            version += 1
            text = json.dumps({"pad": pad})
            messages.append(
                (BoardKey.parse(board.key).group, {"type": UPDATE_MESSAGE, "board": board.key, "version": version, "text": text})
            )
        group_send_all(messages)
        wait_until(
            lambda: len(reader.named("update")) == (burst + 1) * size, timeout=10, what=f"burst {burst} on the reader"
        )
    wait_until(
        lambda: metric(web, 'scoreboard_live_clients_dropped_total{transport="sse"}') == 1,
        timeout=30,
        what="the slow SSE client to be dropped",
    )
    assert drain_until_closed(sock) < bursts * size * len(pad) / 2
    sock.close()
    wait_until(lambda: metric(web, 'scoreboard_live_clients{transport="sse"}') == 1, timeout=10, what="the client gone")
    # The client that reads got every update and stays.
    assert not reader.ended.is_set()
    assert metric(web, 'scoreboard_live_clients_dropped_total{transport="sse"}') == 1
