"""Fan-out of the live top 10: N WebSocket clients over P daphne processes, real settlements.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scoreboard_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/fanout.py --clients 1000 --web 1

Starts the web processes and a settlement worker itself (they inherit the
environment), connects the clients from a few client processes, then finishes
matches whose settlement changes the tournament's top 10, one after another.
For each update it reports how many clients got it and the latency from the
settlement commit (the message's `committed_at`) to the client reading it:
p50, p99, max. Then dropped connections (closed by the server, or never
opened) and the web processes' resident memory per connection.

The database is created and migrated when missing. Everything runs on this
machine, so the clients compete with the servers for the same cores: the
figures are an upper bound of what the servers alone would take.
"""

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/scoreboard_bench"
CONNECT_WAVE = 250


# --- client processes ------------------------------------------------------------


def client_process(urls, origin_of, ready, received_counter, stop, results):
    """Hold len(urls) WebSocket connections; record when each update arrives."""
    asyncio.run(_clients(urls, origin_of, ready, received_counter, stop, results))


async def _clients(urls, origin_of, ready, received_counter, stop, results):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    arrivals: list[tuple[float, str]] = []
    closed = 0
    failed = 0
    sockets = []

    async def open_one(url):
        nonlocal failed
        try:
            ws = await connect(url, origin=origin_of[url], open_timeout=120, ping_interval=None, max_queue=None)
            await ws.recv()  # the snapshot
            sockets.append(ws)
        except Exception:
            failed += 1

    for start in range(0, len(urls), CONNECT_WAVE):
        await asyncio.gather(*[open_one(url) for url in urls[start : start + CONNECT_WAVE]])
    ready.put((len(sockets), failed))

    async def listen(ws):
        nonlocal closed
        try:
            async for text in ws:
                # Timestamp first; parsing waits until the run is over.
                arrivals.append((time.time(), text))
                with received_counter.get_lock():
                    received_counter.value += 1
        except ConnectionClosed:
            pass
        if not stop.is_set():
            closed += 1

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for ws in sockets:
        ws.transport.abort()
    await asyncio.gather(*listeners, return_exceptions=True)
    results.put(
        {
            "arrivals": [(t, _version(text), _committed(text)) for t, text in arrivals if '"type": "update"' in text[:20]],
            "closed": closed,
            "failed": failed,
        }
    )


def _version(text: str) -> int:
    start = text.index('"version": ') + 11
    return int(text[start : text.index(",", start)])


def _committed(text: str) -> float:
    start = text.index('"committed_at": "') + 17
    return datetime.fromisoformat(text[start : text.index('"', start)]).timestamp()


# --- the servers ----------------------------------------------------------------------


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


def metrics_lag(port: int) -> tuple[int, float]:
    """(updates, seconds) of the web process's commit-to-last-write histogram, from its /metrics."""
    import urllib.request

    count = total = 0.0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("scoreboard_live_delivery_lag_seconds_count"):
                count = float(line.split()[-1])
            elif line.startswith("scoreboard_live_delivery_lag_seconds_sum"):
                total = float(line.split()[-1])
    return int(count), total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- data --------------------------------------------------------------------------------


def database_ensure(url: str) -> None:
    import psycopg
    from urllib.parse import urlparse

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def board_prepare(updates: int):
    """A tournament of 20 members and `updates` matches; settling match k puts member k on top."""
    from django.db import transaction

    from apps.guesses.models import Guess
    from apps.matches.models import Match, Round, Team, Tournament
    from apps.matches.services import tournament_join
    from apps.members.models import Member

    stamp = f"{int(time.time())}-{os.getpid()}"
    with transaction.atomic():
        tournament = Tournament.objects.create(name=f"Fan-out {stamp}", slug=f"fanout-{stamp}", status="running")
        round_ = Round.objects.create(tournament=tournament, name="Bench", name_key="bench", order=1)
        home = Team.objects.create(tournament=tournament, name="Home", name_key="home", code="HOM")
        away = Team.objects.create(tournament=tournament, name="Away", name_key="away", code="AWY")
        members = [
            Member.objects.create(username=f"fanout-{stamp}-{i}", display_name=f"Bench {i:02d}") for i in range(20)
        ]
        matches = []
        for k in range(updates):
            match = Match.objects.create(
                tournament=tournament, round=round_, home_team=home, away_team=away,
                kickoff_at=datetime.now().astimezone(),
            )
            Guess.objects.bulk_create(
                Guess(match=match, member=m, home_goals=(1 if i == 19 - k else 0), away_goals=0)
                for i, m in enumerate(members)
            )
            matches.append(match)
    for member in members:
        tournament_join(tournament_id=tournament.pk, member_id=member.pk)
    return tournament, matches


def match_finish(match) -> None:
    from django.db import transaction
    from django.db.models import F

    from apps.leaderboards.settlement.outbox import settlement_request_write
    from apps.matches.models import Match

    with transaction.atomic():
        Match.objects.filter(pk=match.pk).update(
            status=Match.Status.FINISHED, home_score=1, away_score=0, result_version=F("result_version") + 1
        )
        match.refresh_from_db()
        settlement_request_write(match=match)


# --- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--web", type=int, default=1, help="daphne processes")
    parser.add_argument("--client-processes", type=int, default=0, help="default: one per 2,500 clients, at least 1")
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for each update")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    needed = args.clients + 200
    if hard < needed:
        raise SystemExit(f"open files limit {hard} < {needed}: raise `ulimit -Hn` first")

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    # DEBUG off refuses the embedded key; one random key per run, inherited by the servers.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    database_ensure(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tournament, matches = board_prepare(args.updates)
    # Every client comes from 127.0.0.1: the per-address cap (0 = none) would refuse all but 20.
    env = dict(os.environ, PYTHONUNBUFFERED="1", CELERY_TASK_ALWAYS_EAGER="false", LIVE_MAX_CONNECTIONS_PER_IP="0")
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"fanout-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)

    children: list[subprocess.Popen] = []

    def stop_children(*_):
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop_children(), sys.exit(1)))
    clients_procs = []
    try:
        ports = [spare_port() for _ in range(args.web)]
        webs = []
        for port in ports:
            endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=4096"
            web = start([sys.executable, "-m", "daphne", "-e", endpoint, "scoreboard.asgi:application"], env,
                        logs / f"daphne-{port}.log")
            children.append(web)
            webs.append(web)
        worker = start(
            [sys.executable, "-m", "celery", "-A", "scoreboard", "worker", "-Q", "settlement", "-P", "solo",
             "-n", f"fanout-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            env, logs / "worker.log",
        )
        children.append(worker)
        for port in ports:
            wait_for(lambda: healthy(port), 60, f"daphne on {port}")
        wait_for(lambda: " ready." in (logs / "worker.log").read_text(), 60, "the settlement worker")
        rss_before = [rss_bytes(web.pid) for web in webs]

        path = f"/ws/tournaments/{tournament.pk}/leaderboard/"
        urls = [f"ws://127.0.0.1:{ports[i % len(ports)]}{path}" for i in range(args.clients)]
        origin_of = {f"ws://127.0.0.1:{port}{path}": f"http://127.0.0.1:{port}" for port in ports}
        nproc = args.client_processes or max(1, -(-args.clients // 2500))
        ctx = mp.get_context("spawn")
        ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        counter = ctx.Value("l", 0)
        started = time.monotonic()
        for k in range(nproc):
            proc = ctx.Process(target=client_process, args=(urls[k::nproc], origin_of, ready, counter, stop, results))
            proc.start()
            clients_procs.append(proc)
        opened = failed = 0
        for _ in range(nproc):
            got, lost = ready.get(timeout=600)
            opened, failed = opened + got, failed + lost
        connect_seconds = time.monotonic() - started
        rss_after = [rss_bytes(web.pid) for web in webs]
        print(f"{os.cpu_count()} cores; {opened} of {args.clients} clients connected over {args.web} web process(es) "
              f"in {connect_seconds:.1f} s from {nproc} client process(es); {failed} failed to connect")

        for k, match in enumerate(matches):
            target = opened * (k + 1)
            match_finish(match)
            deadline = time.monotonic() + args.timeout
            while counter.value < target and time.monotonic() < deadline:
                time.sleep(0.02)
            # Let stragglers of this update land before the next one starts.
            time.sleep(0.5)
        server_lag = [metrics_lag(port) for port in ports]
        stop.set()
        arrivals, closed = [], 0
        for _ in range(nproc):
            result = results.get(timeout=120)
            arrivals += result["arrivals"]
            closed += result["closed"]
        for proc in clients_procs:
            proc.join(timeout=30)
    finally:
        stop_children()
        for proc in clients_procs:
            if proc.is_alive():
                proc.kill()

    by_version: dict[int, list[float]] = {}
    for received, version, committed in arrivals:
        by_version.setdefault(version, []).append(received - committed)
    print(f"{'update':>8} {'version':>8} {'delivered':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    all_lat = []
    for index, version in enumerate(sorted(by_version), start=1):
        lat = by_version[version]
        all_lat += lat
        print(f"{index:>8} {version:>8} {len(lat):>10} {1000 * statistics.median(lat):>8.0f} "
              f"{1000 * percentile(lat, 0.99):>8.0f} {1000 * max(lat):>8.0f}")
    if all_lat:
        print(f"all updates: p50 {1000 * statistics.median(all_lat):.0f} ms, p99 {1000 * percentile(all_lat, 0.99):.0f} ms, "
              f"max {1000 * max(all_lat):.0f} ms over {len(all_lat)} deliveries "
              f"(expected {opened * len(matches)})")
    print(f"dropped: {closed} closed by the server, {failed} never opened")
    for i, (count, total) in enumerate(server_lag):
        if count:
            print(f"web {i + 1}: commit to last local client written, mean {1000 * total / count:.0f} ms over {count} updates")
    per_process = [max(1, opened // args.web + (1 if i < opened % args.web else 0)) for i in range(args.web)]
    for i, (before, after) in enumerate(zip(rss_before, rss_after)):
        print(f"web {i + 1}: RSS {before / 2**20:.0f} MiB idle, {after / 2**20:.0f} MiB with "
              f"{per_process[i]} clients: {(after - before) / per_process[i] / 1024:.1f} KiB per connection")


if __name__ == "__main__":
    main()
