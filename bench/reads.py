"""Leaderboard read latency over HTTP, idle and while a 1M-guess settlement runs.

    .venv/bin/python bench/reads.py --members 1000000

Loads N members with random standings (COPY) and one guess each on a match,
builds the projection, serves the API with gunicorn (as many workers as
cores), and measures with one sequential client, for each of

- top10:  GET /api/v1/tournaments/{id}/leaderboard?limit=10
- page:   the same at offset 499,999 (rank ~500,000)
- around: GET /api/v1/tournaments/{id}/leaderboard/me?around=5 as a random member

p50 and p99 over the idle phase and over the settlement (through a real
Celery worker) of the match. Reads never take the tournament lock; the answer
header X-Leaderboard-Source is counted to show they were served from Redis.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict

import benchdb


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def randomise_standings(tournament_id: int, seed: int = 11) -> None:
    """Spread points and exact hits as after a few matches, so ranks and ties look real."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 100])
        cursor.execute(
            "UPDATE leaderboards_standing SET exact_hits = floor(random() * 4)::int, "
            "outcome_hits = floor(random() * 8)::int WHERE tournament_id = %s",
            [tournament_id],
        )
        cursor.execute(
            "UPDATE leaderboards_standing SET points = exact_hits * 4 + outcome_hits * 2 WHERE tournament_id = %s",
            [tournament_id],
        )
        cursor.execute("VACUUM ANALYZE leaderboards_standing")


class Server:
    def __init__(self, workers: int):
        self.port = benchdb.spare_port()
        self.log = open(f"/tmp/bench-reads-web-{os.getpid()}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "scoreboard.wsgi:application", "-w", str(workers),
             "-b", f"127.0.0.1:{self.port}", "--log-level", "warning"],  # fmt: skip
            cwd=benchdb.ROOT,
            env={**os.environ, **benchdb.ENV},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/healthz")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("gunicorn did not start")
                time.sleep(0.1)

    def get(self, path: str, token: str | None = None) -> tuple[int, str, float]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        connection.close()
        return response.status, response.getheader("X-Leaderboard-Source", ""), elapsed

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--idle-requests", type=int, default=300, help="requests of each kind while idle")
    parser.add_argument("--tokens", type=int, default=200, help="distinct members asking around-me")
    parser.add_argument("--worker-nice", type=int, default=0, help="SETTLEMENT_WORKER_NICE for the worker")
    parser.add_argument("--batch-pause", type=float, default=0.0, help="SETTLEMENT_BATCH_PAUSE_SECONDS")
    args = parser.parse_args()

    benchdb.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.leaderboards.models import SettlementRequest
    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.members.models import Member

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=args.members)
    tournament_id, match_id = data["tournament_id"], data["match_ids"][0]
    randomise_standings(tournament_id)
    projection_rebuild(tournament_id=tournament_id)
    first, last = data["member_ids"]
    rng = random.Random(3)
    tokens = [
        str(AccessToken.for_user(Member(pk=rng.randint(first, last)))) for _ in range(args.tokens)
    ]
    paths = {
        "top10": (f"/api/v1/tournaments/{tournament_id}/leaderboard?limit=10", None),
        "page": (f"/api/v1/tournaments/{tournament_id}/leaderboard?limit=10&offset=499999", None),
        "around": (f"/api/v1/tournaments/{tournament_id}/leaderboard/me?around=5", "token"),
    }

    server = Server(workers=os.cpu_count() or 2)
    worker_env = {"SETTLEMENT_WORKER_NICE": args.worker_nice, "SETTLEMENT_BATCH_PAUSE_SECONDS": args.batch_pause}
    worker = benchdb.Worker(pool="solo", **worker_env)
    latencies: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    sources: Counter = Counter()
    errors: Counter = Counter()

    def one_round(phase: str) -> None:
        for kind, (path, auth) in paths.items():
            token = rng.choice(tokens) if auth else None
            status, source, elapsed = server.get(path, token)
            if status != 200:
                errors[f"{phase}:{kind}:{status}"] += 1
                continue
            latencies[phase][kind].append(elapsed)
            sources[f"{phase}:{source}"] += 1

    try:
        for _ in range(20):  # warm the processes and caches
            one_round("warmup")
        for _ in range(args.idle_requests):
            one_round("idle")
        request = benchdb.finish(match_id, 2, 1)
        started = time.perf_counter()
        while SettlementRequest.objects.filter(pk=request.pk).values_list("status", flat=True)[0] != "done":
            one_round("settling")
        settle_seconds = time.perf_counter() - started
    finally:
        worker.stop()
        server.stop()

    figures = {
        "benchmark": "reads",
        "members": args.members,
        "settle_seconds_under_reads": round(settle_seconds, 3),
        "worker_nice": args.worker_nice,
        "batch_pause": args.batch_pause,
    }
    for phase in ("idle", "settling"):
        for kind, values in latencies[phase].items():
            figures[f"{phase}_{kind}_p50_ms"] = round(1000 * statistics.median(values), 2)
            figures[f"{phase}_{kind}_p99_ms"] = round(1000 * percentile(values, 0.99), 2)
            figures[f"{phase}_{kind}_n"] = len(values)
    figures["sources"] = dict(sources)
    figures["errors"] = dict(errors)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
