"""Provider sources cannot reach inside: public addresses only, redirects re-checked, a size cap,
one deadline per request, files only under INGESTION_FILE_ROOT."""

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from apps.ingestion import sources
from apps.ingestion.normalize import ProviderError
from tests.ingestion.conftest import Answer

PROVIDER = "openfootball"
FEED = b'{"name": "Cup", "matches": []}'


def _read(source: str):
    return sources.source_read_json(source=source, provider=PROVIDER)


class DripServer:
    """Answers every connection with headers and no Content-Length, then `body_bytes` one chunk at a time."""

    def __init__(self, *, chunk: bytes, count: int, pause: float):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.chunk, self.count, self.pause = chunk, count, pause
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/feed.json"

    def _serve(self):
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
                for _ in range(self.count):
                    if self.stop.wait(self.pause):
                        return
                    conn.sendall(self.chunk)
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.listener.close()


@pytest.fixture
def drip(settings):
    settings.INGESTION_ALLOW_PRIVATE_HOSTS = True
    settings.INGESTION_HTTP_RETRIES = 0
    servers = []

    def start(**kwargs) -> DripServer:
        server = DripServer(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


# --- addresses ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_loopback_source_is_refused_before_any_request_unless_private_hosts_are_allowed(http_server, settings, host):
    url = http_server.script("/feed.json", FEED).replace("127.0.0.1", host)
    settings.INGESTION_ALLOW_PRIVATE_HOSTS = False

    with pytest.raises(ProviderError, match="which is not a public address"):
        _read(url)
    assert http_server.requests == []

    if host != "[::1]":  # the test server listens on IPv4 only
        settings.INGESTION_ALLOW_PRIVATE_HOSTS = True
        assert _read(url) == {"name": "Cup", "matches": []}


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "0.0.0.0",
                "[fe80::1]", "[fd00::1]", "[::ffff:10.0.0.1]"],
)
def test_private_link_local_multicast_and_mapped_addresses_are_refused(settings, address):
    settings.INGESTION_ALLOW_PRIVATE_HOSTS = False

    with pytest.raises(ProviderError, match="which is not a public address"):
        _read(f"https://{address}/latest/meta-data/")


def test_a_redirect_to_an_inside_address_is_refused(http_server, settings, monkeypatch):
    # Stand-in for a public feed: the loopback test server counts as public here,
    # the metadata range stays refused, so only the redirect's target is inside.
    monkeypatch.setattr(sources, "_address_refused", lambda ip: ip.is_link_local)
    settings.INGESTION_ALLOW_PRIVATE_HOSTS = False
    url = http_server.script("/feed.json", Answer(302, headers={"Location": "https://169.254.169.254/latest/"}))

    with pytest.raises(ProviderError, match="Refusing 169.254.169.254: it resolves to 169.254.169.254"):
        _read(url)
    assert len(http_server.requests) == 1


def test_a_redirect_from_https_to_plain_http_is_refused():
    response = httpx.Response(
        301,
        headers={"Location": "http://feeds.example.com/wc.json"},
        request=httpx.Request("GET", "https://feeds.example.com/wc.json"),
    )

    with pytest.raises(ProviderError, match="Refusing a redirect from https to http"):
        sources._redirect_target(response)


def test_credentials_follow_a_redirect_on_the_same_host_but_not_to_another_host(http_server, settings):
    settings.FOOTBALL_DATA_TOKEN = "secret-provider-token"
    other_host = http_server.url("/moved.json").replace("127.0.0.1", "localhost")
    same = http_server.script("/same.json", Answer(301, headers={"Location": "/moved.json"}))
    elsewhere = http_server.script("/elsewhere.json", Answer(307, headers={"Location": other_host}))
    http_server.script("/moved.json", FEED)
    headers = {"X-Auth-Token": settings.FOOTBALL_DATA_TOKEN}

    sources.http_get_json(url=same, provider="football-data", headers=headers)
    sources.http_get_json(url=elsewhere, provider="football-data", headers=headers)

    tokens = [(r["path"], r["headers"].get("X-Auth-Token")) for r in http_server.requests]
    assert tokens == [
        ("/same.json", "secret-provider-token"),
        ("/moved.json", "secret-provider-token"),
        ("/elsewhere.json", "secret-provider-token"),
        ("/moved.json", None),
    ]


# --- size and time -----------------------------------------------------------


def test_an_answer_over_the_byte_cap_is_refused_with_or_without_a_content_length(http_server, drip, settings):
    settings.INGESTION_MAX_BYTES = 1000
    declared = http_server.script("/big.json", b"[" + b"0," * 2000 + b"0]")
    undeclared = drip(chunk=b" " * 500, count=100, pause=0)

    for url in (declared, undeclared.url):
        with pytest.raises(ProviderError, match=r"larger than INGESTION_MAX_BYTES \(1000 bytes\)"):
            _read(url)
    settings.INGESTION_MAX_BYTES = 10_000
    assert _read(http_server.script("/small.json", FEED))["name"] == "Cup"


def test_a_server_that_drips_bytes_is_cut_off_at_the_request_deadline(drip, settings):
    settings.INGESTION_HTTP_TIMEOUT = 0.5
    server = drip(chunk=b" ", count=200, pause=0.05)  # 10 s of one byte each 50 ms

    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0.5 s \(1 attempts\)"):
        _read(server.url)
    assert time.monotonic() - started < 3


# --- files ---------------------------------------------------------------------


def test_file_sources_are_read_only_under_the_file_root(settings, tmp_path):
    root = tmp_path / "feeds"
    root.mkdir()
    (root / "cup.json").write_bytes(FEED)
    outside = tmp_path / "secret.json"
    outside.write_bytes(FEED)
    (root / "link.json").symlink_to(outside)
    settings.INGESTION_FILE_ROOT = str(root)

    assert _read(str(root / "cup.json"))["name"] == "Cup"
    for path in (outside, root / ".." / "secret.json", root / "link.json", Path("/etc/hostname")):
        with pytest.raises(ProviderError, match="file sources must be under INGESTION_FILE_ROOT"):
            _read(str(path))


def test_the_default_file_root_is_the_projects_data_directory(settings):
    from config.settings import base

    assert Path(base.INGESTION_FILE_ROOT) == Path(settings.BASE_DIR) / "data"
    settings.INGESTION_FILE_ROOT = base.INGESTION_FILE_ROOT
    assert _read("data/openfootball/worldcup-2026.json")["name"]
    with pytest.raises(ProviderError, match="file sources must be under INGESTION_FILE_ROOT"):
        _read("config/settings/base.py")
