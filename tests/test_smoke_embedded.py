"""The embedded default end to end: what `make run` serves, with no PostgreSQL or Redis.

Migrates a fresh SQLite file, loads the demo, starts `run_embedded` (daphne and
the replay feed) on a spare port, then plays a member over HTTP: register, sign
in, guess a scheduled match, read the guess back; reads the demo leaderboard
over HTTP and its live snapshot over WebSocket. Finally stops the server the
way Ctrl-C or a process manager would.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from tests.waiting import spare_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
STARTUP_DEADLINE = 60
STOP_DEADLINE = 20

# The embedded default is what runs when none of these is set.
_SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "TEST_DATABASE_NAME")

pytestmark = pytest.mark.slow


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory) -> dict[str, str]:
    workdir = tmp_path_factory.mktemp("embedded")
    env = {key: value for key, value in os.environ.items() if key not in _SERVICE_VARS}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        # Only the file's location is chosen; it is the same SQLite engine and settings as the default.
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        STATIC_ROOT=str(workdir / "static"),
        PYTHONUNBUFFERED="1",
    )
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo", "--members", "20"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"
    return env


@pytest.fixture(scope="module")
def server(embedded_env, tmp_path_factory):
    port = spare_port()
    log_path = tmp_path_factory.mktemp("embedded-log") / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=embedded_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert process.poll() is None, f"run_embedded exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=STARTUP_DEADLINE, what=f"an answer on {base_url}", interval=0.2)
        yield {"process": process, "base_url": base_url, "port": port, "log": log_path}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_embedded_server_answers_health_and_readiness(server):
    with httpx.Client(base_url=server["base_url"], timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").json() == {"status": "ok"}
        assert client.get("/api/schema/").status_code == 200


def test_a_new_member_guesses_a_scheduled_demo_match_and_reads_it_back(server):
    with httpx.Client(base_url=server["base_url"], timeout=10) as client:
        tournaments = client.get("/api/v1/tournaments").json()["results"]
        world_cup = next(t for t in tournaments if t["slug"] == "world-cup-2026")
        matches = client.get(
            f"/api/v1/tournaments/{world_cup['id']}/matches", params={"status": "scheduled"}
        ).json()["results"]
        match = next(m for m in matches if not m["locked"])

        registered = client.post(
            "/api/v1/auth/register",
            json={"username": "smoke-tester", "password": "a-long-smoke-password", "display_name": "Smoke"},
        )
        assert registered.status_code == 201, registered.text
        token = client.post(
            "/api/v1/auth/token", json={"username": "smoke-tester", "password": "a-long-smoke-password"}
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access']}"

        submitted = client.put(f"/api/v1/matches/{match['id']}/guess", json={"home_goals": 2, "away_goals": 1})
        assert submitted.status_code == 201, submitted.text

        read_back = client.get(f"/api/v1/matches/{match['id']}/guess")
        assert read_back.status_code == 200
        assert read_back.json()["match"] == match["id"]
        assert (read_back.json()["home_goals"], read_back.json()["away_goals"]) == (2, 1)
        assert read_back.json()["points"] is None


def test_make_run_gets_the_demo_admin_because_local_settings_run_with_debug_on(server):
    with httpx.Client(base_url=server["base_url"], timeout=10) as client:
        token = client.post("/api/v1/auth/token", json={"username": "admin", "password": "scoreboard-demo-admin"})
    assert token.status_code == 200, token.text
    # The banner is printed once daphne listens, possibly just after /healthz first answers.
    wait_until(
        lambda: "password 'scoreboard-demo-admin'" in server["log"].read_text(),
        timeout=STARTUP_DEADLINE,
        what="the admin's credentials in run_embedded's banner",
    )


def test_the_demo_leaderboard_is_served_over_http_and_websocket(server):
    with httpx.Client(base_url=server["base_url"], timeout=10) as client:
        tournaments = client.get("/api/v1/tournaments").json()["results"]
        replay = next(t for t in tournaments if t["slug"] == "world-cup-2022-replay")
        board = client.get(f"/api/v1/tournaments/{replay['id']}/leaderboard", params={"limit": 10})
    assert board.status_code == 200, board.text
    assert board.json()["total"] == 20
    assert len(board.json()["results"]) == 10

    async def snapshot() -> dict:
        url = f"ws://127.0.0.1:{server['port']}/ws/tournaments/{replay['id']}/leaderboard/"
        async with websockets.connect(url, origin=server["base_url"], open_timeout=10) as socket_:
            return json.loads(await asyncio.wait_for(socket_.recv(), timeout=10))

    message = asyncio.run(snapshot())
    assert message["type"] == "snapshot"
    assert message["board"] == f"tournament:{replay['id']}"
    assert len(message["top"]) == 10


def test_the_demo_board_answers_chosen_members_a_name_search_and_a_preview(server):
    with httpx.Client(base_url=server["base_url"], timeout=10) as client:
        tournaments = client.get("/api/v1/tournaments").json()["results"]
        replay = next(t for t in tournaments if t["slug"] == "world-cup-2022-replay")
        base = f"/api/v1/tournaments/{replay['id']}/leaderboard"
        top = client.get(base, params={"limit": 3}).json()["results"]
        ids = [row["member"]["id"] for row in top]
        chosen = client.get(base, params={"members": ",".join(map(str, reversed(ids)))})
        assert chosen.status_code == 200, chosen.text
        assert [row["member"]["id"] for row in chosen.json()["results"]] == ids
        name = top[0]["member"]["display_name"]
        found = client.get(f"{base}/search", params={"q": name[:3].upper()})
        assert found.status_code == 200, found.text
        assert top[0]["member"]["id"] in [row["member"]["id"] for row in found.json()["results"]]
        token = client.post("/api/v1/auth/token", json={"username": "admin", "password": "scoreboard-demo-admin"})
        client.headers["Authorization"] = f"Bearer {token.json()['access']}"
        assert client.put(f"/api/v1/me/pins/{ids[1]}").status_code == 204
        preview = client.get(f"{base}/preview")
    assert preview.status_code == 200, preview.text
    rows = preview.json()["results"]
    assert [row["tags"] for row in rows if row["member"]["id"] == ids[1]] == [["top", "pinned"]]


def test_sigterm_stops_the_server_and_its_children(server):
    process = server["process"]

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=STOP_DEADLINE) == 0, server["log"].read_text()
    wait_until(lambda: not _port_open(server["port"]), timeout=STOP_DEADLINE, what="daphne to stop listening")
    assert "database is locked" not in server["log"].read_text()
