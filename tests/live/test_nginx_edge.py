"""The nginx edge (deploy/nginx/scoreboard.conf) in front of real gunicorn and daphne on loopback.

Debian's nginx runs as a plain process of this test: its own prefix, temp and
cache directories under tmp_path, `daemon off`, the error log in a file. The
project's config is rendered the way the official image renders its
templates, with loopback upstreams instead of docker-compose service names.
"""

import math
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from websockets.sync.client import connect

from tests.live.boards import board_make, parse
from tests.live.conftest import ROOT, START_TIMEOUT, Child, Gunicorn, child_env
from tests.waiting import spare_port, wait_until

CONF = ROOT / "deploy" / "nginx" / "scoreboard.conf"
PLACEHOLDER = re.compile(r"\$\{(SCOREBOARD_[A-Z_]+)\}")


def _nginx() -> str:
    """Debian's nginx; outside CI its absence skips the test, under CI it fails it."""
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if path is None:
        missing = "nginx is not installed (apt-get install -y nginx)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing}; CI must run the edge test")
        pytest.skip(f"{missing}; the edge test needs it")
    return path


def render(values: dict[str, str]) -> str:
    """The config with its ${SCOREBOARD_*} placeholders filled in, as envsubst does in the nginx image."""
    text = CONF.read_text()
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    assert not missing, f"no value for {sorted(missing)}"
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


class LoggedGunicorn(Gunicorn):
    """The web role with two workers and an access log that records the request id each request carried."""

    def __init__(self, env: dict[str, str], access_log: Path):
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.access_log = access_log
        Child.__init__(
            self,
            f"gunicorn:{self.port}",
            [
                sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "2",
                "--access-logfile", str(access_log), "--access-logformat", '"%(r)s" %(s)s id=%({x-request-id}i)s',
                "scoreboard.wsgi:application",
            ],
            env,
        )  # fmt: skip

    def requests_for(self, path: str) -> list[str]:
        if not self.access_log.exists():
            return []
        return [line for line in self.access_log.read_text().splitlines() if f"GET {path} " in line]


class Nginx(Child):
    def __init__(self, binary: str, prefix: Path, *, web: str, realtime: str):
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.error_log = prefix / "error.log"
        for name in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / name).mkdir(parents=True, exist_ok=True)
        (prefix / "scoreboard.conf").write_text(
            render(
                {
                    "SCOREBOARD_LISTEN": f"127.0.0.1:{self.port}",
                    "SCOREBOARD_WEB": web,
                    "SCOREBOARD_REALTIME": realtime,
                    "SCOREBOARD_CACHE_DIR": str(prefix / "cache"),
                }
            )
        )
        # As root nginx would hand its workers to `nobody`, who cannot enter tmp_path.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {self.error_log} info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"  access_log {prefix}/access.log;\n"
            f"  client_body_temp_path {prefix}/client_body;\n  proxy_temp_path {prefix}/proxy;\n"
            f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
            "  default_type application/octet-stream;\n"
            f"  include {prefix}/scoreboard.conf;\n"
            "}\n"
        )
        super().__init__(
            f"nginx:{self.port}",
            [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(self.error_log)],
            os.environ.copy(),
        )

    def ready(self) -> bool:
        if not self.alive():
            log = self.error_log.read_text() if self.error_log.exists() else ""
            raise AssertionError(f"nginx exited:\n{self.output()}\n{log}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def edge(processes, tmp_path):
    """gunicorn and daphne as docker-compose runs them behind the edge (NUM_PROXIES=1), and nginx in front."""
    binary = _nginx()
    web = LoggedGunicorn(child_env(NUM_PROXIES="1"), tmp_path / "gunicorn-access.log")
    started = [web]
    try:
        wait_until(web.ready, timeout=START_TIMEOUT, what=f"{web.name} to answer /healthz")
        realtime = processes.daphne(NUM_PROXIES="1", LIVE_HEARTBEAT_SECONDS="1")
        nginx = Nginx(binary, tmp_path / "nginx", web=f"127.0.0.1:{web.port}", realtime=f"127.0.0.1:{realtime.port}")
        started.append(nginx)
        wait_until(nginx.ready, timeout=START_TIMEOUT, what="nginx to answer /healthz")
        yield nginx, web
    finally:
        for child in reversed(started):
            child.kill()




@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rest_websocket_and_sse_pass_through_the_edge_with_the_request_id(edge, sse_readers):
    nginx, web = edge
    board = board_make(members=3)
    path = "/api/v1/tournaments"

    response = httpx.get(f"{nginx.base}{path}", headers={"X-Request-ID": "client-id-42"}, timeout=10)
    assert response.status_code == 200 and response.json()
    assert response.headers["x-request-id"] == "client-id-42"
    generated = httpx.get(f"{nginx.base}{path}", headers={"X-Request-ID": "not ok\tat all"}, timeout=10)
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    # gunicorn saw the same ids the client was given.
    wait_until(lambda: len(web.requests_for(path)) == 2, timeout=10, what="gunicorn's access log")
    assert [line.rsplit("id=", 1)[1] for line in web.requests_for(path)] == [
        "client-id-42",
        generated.headers["x-request-id"],
    ]

    with connect(
        f"{nginx.ws_base}/ws/tournaments/{board.tournament.pk}/leaderboard/", origin=nginx.base, open_timeout=10
    ) as ws:
        snapshot = parse(ws.recv(timeout=10))
    assert snapshot["type"] == "snapshot" and snapshot["board"] == board.key

    # Unbuffered: the snapshot and then each one-second keep-alive arrive while the stream stays open.
    stream = sse_readers(f"{nginx.base}/api/v1/tournaments/{board.tournament.pk}/leaderboard/events")
    wait_until(lambda: stream.named("snapshot"), timeout=10, what="the snapshot through the edge")
    wait_until(lambda: len(stream.named("comment")) >= 2, timeout=10, what="two keep-alives through the edge")
    assert stream.status == 200
    # Streams never reach gunicorn (which would answer 421).
    assert not web.requests_for(f"/api/v1/tournaments/{board.tournament.pk}/leaderboard/events")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_identical_public_top_10_requests_reach_gunicorn_at_most_twice_and_come_back_gzipped(edge):
    nginx, web = edge
    board = board_make(members=12)
    path = f"/api/v1/tournaments/{board.tournament.pk}/leaderboard?limit=10"
    url = f"{nginx.base}{path}"
    clients = [httpx.Client(timeout=10) for _ in range(16)]

    def get(n: int) -> httpx.Response:
        return clients[n % len(clients)].get(url, headers={"Accept-Encoding": "gzip"})

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            responses = list(pool.map(get, range(200)))
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.close()

    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert [row["member"]["id"] for row in responses[0].json()["results"]][:3] == [m.pk for m in board.members[:3]]
    assert responses[0].headers["content-encoding"] == "gzip"
    assert {r.headers["x-cache-status"] for r in responses} <= {"MISS", "HIT", "UPDATING", "EXPIRED", "STALE"}
    reached = len(web.requests_for(path))
    # One fill, and at most one refresh per second the burst lasted (once, on a quiet machine, within one second).
    assert 1 <= reached <= (2 if elapsed <= 1 else 1 + math.ceil(elapsed)), (reached, elapsed)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_board_read_with_a_token_and_the_metrics_path_are_never_served_from_the_edge(edge):
    nginx, web = edge
    board = board_make(members=2)
    path = f"/api/v1/tournaments/{board.tournament.pk}/leaderboard"
    for _ in range(3):
        response = httpx.get(f"{nginx.base}{path}", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert response.headers["x-cache-status"] == "BYPASS"
    wait_until(lambda: len(web.requests_for(path)) == 3, timeout=10, what="three requests at gunicorn")
    assert httpx.get(f"{nginx.base}/metrics", timeout=10).status_code == 404


def test_every_location_that_sets_its_own_headers_sets_the_shared_ones_again():
    """nginx inherits proxy_set_header and add_header from the server only into locations that set none."""
    text = CONF.read_text()
    server = text[text.index("server {") :]
    blocks = re.findall(r"location [^{]+\{(.*?)\n    \}", server, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        if "proxy_set_header" in block:
            for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
                assert f"proxy_set_header {header} " in block, (header, block)
        if "add_header" in block:
            assert "add_header X-Request-ID " in block, block


def test_docker_compose_renders_the_same_config_with_service_names():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    edge = compose["services"]["edge"]
    assert edge["image"].startswith("nginx:")
    assert "./deploy/nginx/scoreboard.conf:/etc/nginx/templates/scoreboard.conf.template:ro" in edge["volumes"]
    values = edge["environment"]
    rendered = render(values)
    assert "server web:8000;" in rendered and "server realtime:8001;" in rendered
    # The edge is the single entry point: the roles behind it publish nothing and count it as their one proxy.
    for role in ("web", "realtime"):
        assert "ports" not in compose["services"][role]
        value = str(compose["services"][role]["environment"]["NUM_PROXIES"])
        assert re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value) == "1"


def test_a_missing_nginx_skips_with_its_reason_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nginx is not installed"):
        _nginx()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the edge test"):
        _nginx()


def test_the_ci_script_installs_nginx_with_chromium():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"apt-get install -y -qq [^\n]*\bnginx\b", script)
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
