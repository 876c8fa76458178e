"""Board reads against /healthz over HTTP: gunicorn as the Procfile runs it, wrk as the load, one JSON line out.

    .venv/bin/python bench/http_reads.py --members 1000000 --seconds 15 --connections 16

Loads N members with random standings (COPY) into the bench database,
builds the projection, starts the web role the way the Procfile does
(production settings, `gunicorn -w $WEB_CONCURRENCY scoreboard.wsgi:application`,
default 2 workers), then runs wrk (apt-get install wrk) on, in one run:

- healthz:      GET /healthz (the floor: a view that touches nothing)
- top10:        GET /api/v1/tournaments/{id}/leaderboard?limit=10
- top10_304:    the same with the ETag of the page in If-None-Match
- around:       GET /api/v1/tournaments/{id}/leaderboard/me?around=5, each request
                with the token of one of --tokens random members

and prints requests/s, p99 and each ratio to /healthz as one JSON line.
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchdb
from reads import randomise_standings


def wrk(url: str, seconds: int, connections: int, *, header: str | None = None, script: str | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if header:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": round(rps, 1), "p99": p99.group(1) if p99 else None, "errors": int(errors.group(1)) if errors else 0}


def token_script(path: str, tokens: list[str]) -> str:
    """A wrk script that sends each request with the next token of the list."""
    lines = ", ".join(json.dumps(token) for token in tokens)
    source = f"""
local tokens = {{{lines}}}
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", {json.dumps(path)}, {{["Authorization"] = "Bearer " .. tokens[i]}})
end
"""
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write(source)
    handle.close()
    return handle.name


class Web:
    """The Procfile's web role: production settings, gunicorn with WEB_CONCURRENCY sync workers."""

    def __init__(self, workers: int):
        self.port = benchdb.spare_port()
        env = {
            **os.environ,
            **benchdb.ENV,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Plain HTTP on loopback, as behind a proxy that terminates TLS.
            "SECURE_SSL_REDIRECT": "false",
            # The pool replaces persistent connections (DATABASE_POOL_MAX sizes it).
            "DATABASE_CONN_MAX_AGE": "0",
        }
        self.log = open(f"/tmp/bench-http-reads-web-{os.getpid()}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", str(workers),
             "--log-level", "warning", "scoreboard.wsgi:application"],  # fmt: skip
            cwd=benchdb.ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"gunicorn did not start; see {self.log.name}")
            time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, dict(response.getheaders())

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=200, help="distinct members asking around-me")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    benchdb.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.members.models import Member

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=args.members)
    tournament_id = data["tournament_id"]
    randomise_standings(tournament_id)
    projection_rebuild(tournament_id=tournament_id)
    first, last = data["member_ids"]
    rng = random.Random(3)
    tokens = [str(AccessToken.for_user(Member(pk=rng.randint(first, last)))) for _ in range(args.tokens)]
    top10 = f"/api/v1/tournaments/{tournament_id}/leaderboard?limit=10"
    around = f"/api/v1/tournaments/{tournament_id}/leaderboard/me?around=5"
    around_script = token_script(around, tokens)

    web = Web(args.workers)
    try:
        status, headers = web.get(top10)
        if status != 200 or headers.get("X-Leaderboard-Source") != "redis":
            raise SystemExit(f"the top 10 answered {status} from {headers.get('X-Leaderboard-Source')}")
        etag = headers["ETag"]
        if web.get(top10, {"If-None-Match": etag})[0] != 304:
            raise SystemExit("a matching If-None-Match was not answered 304")
        runs = {
            "healthz": (web.url("/healthz"), {}),
            "top10": (web.url(top10), {}),
            "top10_304": (web.url(top10), {"header": f"If-None-Match: {etag}"}),
            "around": (web.url(around), {"script": around_script}),
        }
        results = {}
        for name, (url, options) in runs.items():
            wrk(url, 1, args.connections, **options)  # warm up: connections, caches, names
            results[name] = wrk(url, args.seconds, args.connections, **options)
    finally:
        web.stop()
        os.unlink(around_script)

    floor = results["healthz"]["rps"] or 1
    line = {
        "members": args.members,
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "cores": os.cpu_count(),
        **{f"{name}_rps": result["rps"] for name, result in results.items()},
        **{f"{name}_p99": result["p99"] for name, result in results.items()},
        **{f"{name}_ratio": round(result["rps"] / floor, 2) for name, result in results.items() if name != "healthz"},
        "errors": {name: result["errors"] for name, result in results.items() if result["errors"]},
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
