"""REST on daphne (ASGI) or on gunicorn (WSGI)? Same DRF GETs, same machine, loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scoreboard_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/http_roles.py --seconds 10 --connections 16

Starts one daphne process and gunicorn with as many sync workers as cores,
then loads `/healthz` (a DRF view that touches nothing) and
`/api/v1/tournaments` (a DRF list from PostgreSQL) on each with wrk when it is
installed (apt-get install wrk), else with a small threaded Python client.
Prints requests per second and latency percentiles.
"""

import argparse
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["/healthz", "/api/v1/tournaments"]


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def load_wrk(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url], capture_output=True, text=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(label: str) -> str:
        found = re.search(rf"^\s+{label}%\s+(\S+)", out, re.M)
        return found.group(1) if found else "?"

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "errors": int(errors.group(1)) if errors else 0}


def load_python(url: str, seconds: int, connections: int) -> dict:
    host_port, path = url[len("http://") :].split("/", 1)
    host, port = host_port.split(":")
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def run():
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            connection.request("GET", "/" + path)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": f"{1000 * statistics.median(latencies):.1f}ms",
        "p99": f"{1000 * latencies[int(0.99 * (len(latencies) - 1))]:.1f}ms",
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
        # DEBUG off refuses the embedded key.
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
    )
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scoreboard_bench")
    workers = os.cpu_count() or 2
    daphne_port, gunicorn_port = spare_port(), spare_port()
    servers = {
        "daphne (1 process)": (
            daphne_port,
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(daphne_port), "scoreboard.asgi:application"],
        ),
        f"gunicorn ({workers} sync workers)": (
            gunicorn_port,
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{gunicorn_port}", "-w", str(workers),
             "--access-logfile", "/dev/null", "scoreboard.wsgi:application"],
        ),
    }
    load = load_wrk if shutil.which("wrk") else load_python
    print(f"{os.cpu_count()} cores, {args.connections} connections, {args.seconds} s per run, load by "
          f"{'wrk' if load is load_wrk else 'the Python client'}")
    for name, (port, command) in servers.items():
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not healthy(port):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"{name} did not start")
                time.sleep(0.2)
            for path in PATHS:
                load(f"http://127.0.0.1:{port}{path}", 2, args.connections)  # warm up
                result = load(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)
                print(f"{name:<28} GET {path:<22} {result['rps']:>8.0f} req/s  p50 {result['p50']:>8}  "
                      f"p99 {result['p99']:>8}  errors {result['errors']}")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


if __name__ == "__main__":
    main()
