"""Score actions: pending awards applied in batches end to end, and HTTP intake against /healthz.

    .venv/bin/python bench/actions.py --members 100000 --awards 100000 --seconds 10

Two parts, one JSON line:

- apply: a tournament of N members (COPY, projection built), `--awards`
  pending awards spread over them (COPY), then one job message through a real
  Celery worker (solo pool) and the clock runs until every award is applied
  and the boards owe nothing; verify_standings then checks the database and
  Redis. Reports awards per second and the batches (board versions) used.
- intake: gunicorn as the Procfile runs it (one sync worker per core), wrk
  with `--connections` connections POSTing score actions (a fresh
  idempotency key per request, members' tokens in turn) and, in the same
  run, GET /healthz; reports both rates and their ratio. No worker runs
  during intake: the awards wait, as they would behind a busy queue.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import benchdb

ACTION = "bench_tap"


def pending_awards(*, tournament_id: int, first: int, last: int, awards: int) -> int:
    """`awards` pending awards of 1 point, spread evenly over the members first..last; returns the action id."""
    from django.db import connection
    from django.utils import timezone

    from apps.leaderboards.models import ScoreAction

    action = ScoreAction.objects.create(
        tournament_id=tournament_id, code=ACTION, name="Bench tap", points=1, limit=10**9, period="tournament"
    )
    members = last - first + 1
    now = timezone.now()
    raw = connection.cursor().cursor
    with raw.copy(
        "COPY leaderboards_scoreactionaward (action_id, tournament_id, member_id, idempotency_key, points, status, "
        "created_at) FROM STDIN"
    ) as copy:
        for n in range(awards):
            copy.write_row((action.pk, tournament_id, first + n % members, uuid.uuid4(), 1, "pending", now))
    raw.execute("ANALYZE leaderboards_scoreactionaward")
    return action.pk


def apply_run(*, tournament_id: int, awards: int, batch_size: int | None) -> dict:
    from apps.leaderboards.boards.keys import owed_key
    from apps.leaderboards.boards.projection_read import redis_client
    from apps.leaderboards.models import BoardState, ScoreActionAward
    from scoreboard.celery import app

    env = {"SCORE_ACTION_BATCH_SIZE": batch_size} if batch_size else {}
    worker = benchdb.Worker(pool="solo", **env)
    version_before = BoardState.objects.get(tournament_id=tournament_id).version
    client = redis_client()
    try:
        started = time.perf_counter()
        app.send_task(
            "apps.leaderboards.tasks.score_actions_apply", kwargs={"tournament_id": tournament_id}, queue="settlement"
        )
        while True:
            if not ScoreActionAward.objects.filter(status="pending").exists() and not client.exists(
                owed_key(tournament_id)
            ):
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError("awards not applied within 600 s")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        peak_rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    return {
        "apply_seconds": round(seconds, 3),
        "awards_per_second": round(awards / seconds),
        "batches": BoardState.objects.get(tournament_id=tournament_id).version - version_before,
        "worker_peak_rss_mb": peak_rss,
    }


LUA = """
-- setup runs in wrk's main state; thread:set makes `id` a global of that thread's state.
local tokens = {%(tokens)s}
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
request = function()
  counter = counter + 1
  local key = string.format("%%08x-0000-4000-8000-%%012x", id or 0, counter)
  local token = tokens[(counter %% #tokens) + 1]
  return wrk.format("POST", "%(path)s", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, '{"idempotency_key": "' .. key .. '"}')
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return {"rps": float(found.group(1)), "p99": p99.group(1) if p99 else None, "errors": int(errors.group(1)) if errors else 0}


def intake_run(*, tournament_id: int, first: int, last: int, seconds: int, connections: int, tokens: int) -> dict:
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.members.models import Member

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    step = max(1, (last - first + 1) // tokens)
    access = [str(AccessToken.for_user(Member(pk=first + i * step))) for i in range(tokens)]
    path = f"/api/v1/tournaments/{tournament_id}/actions/{ACTION}"
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    # Each wrk thread numbers its keys from its own id: unique keys without randomness.
    script.write_text(LUA % {"tokens": ", ".join(f'"{t}"' for t in access), "path": path})
    port = benchdb.spare_port()
    workers = os.cpu_count() or 2
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--access-logfile", "/dev/null", "scoreboard.wsgi:application"],
        cwd=benchdb.ROOT, env={**os.environ, **benchdb.ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/healthz"], capture_output=True).returncode == 0:
                    break
            except FileNotFoundError:
                import urllib.request

                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/healthz", 1, connections)  # warm up both paths
        wrk(f"{base}{path}", 1, connections, script)
        health = wrk(f"{base}/healthz", seconds, connections)
        intake = wrk(f"{base}{path}", seconds, connections, script)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        script.unlink(missing_ok=True)
    return {
        "healthz_rps": health["rps"],
        "intake_rps": intake["rps"],
        "intake_vs_healthz": round(intake["rps"] / health["rps"], 2) if health["rps"] else None,
        "intake_p99": intake["p99"],
        "intake_errors": intake["errors"],
        "healthz_errors": health["errors"],
        "gunicorn_workers": workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--awards", type=int, default=None, help="pending awards to apply (default: one per member)")
    parser.add_argument("--batch-size", type=int, default=None, help="SCORE_ACTION_BATCH_SIZE for the worker")
    parser.add_argument("--seconds", type=int, default=10, help="wrk run length per path")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=1000, help="members whose tokens the intake load cycles through")
    parser.add_argument("--skip-intake", action="store_true")
    args = parser.parse_args()
    awards = args.awards or args.members

    benchdb.setup()
    from apps.leaderboards.settlement.verify import standings_verify

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=0)
    tournament_id = data["tournament_id"]
    first, last = data["member_ids"]
    from apps.leaderboards.models import BoardState

    BoardState.objects.get_or_create(tournament_id=tournament_id)
    pending_awards(tournament_id=tournament_id, first=first, last=last, awards=awards)
    figures = {"benchmark": "actions", "members": args.members, "awards": awards}
    figures.update(apply_run(tournament_id=tournament_id, awards=awards, batch_size=args.batch_size))
    figures["verified"] = not standings_verify(tournament_id=tournament_id)
    if not args.skip_intake:
        figures.update(
            intake_run(
                tournament_id=tournament_id,
                first=first,
                last=last,
                seconds=args.seconds,
                connections=args.connections,
                tokens=min(args.tokens, args.members),
            )
        )
    benchdb.emit(figures)


if __name__ == "__main__":
    main()
