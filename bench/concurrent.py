"""Ten final whistles at once: ten matches of one tournament settled concurrently.

    .venv/bin/python bench/concurrent.py --members 100000 --matches 10

Every member guesses every match (COPY). All matches finish within a moment,
each in its own transaction with its outbox row, and a real Celery worker
with two pool processes (the Procfile's default) settles them. Prints one
JSON line: total time, the database's deadlock count during the run, retries,
and whether verify_standings found the database and Redis exact (no lost
update).
"""

import os
import sysconfig

if __name__ != "__main__":
    # Scripts in bench/ have this folder first on sys.path, so `import
    # concurrent.futures` (asyncio, psycopg) finds this file before the
    # standard library's package. Imported that way, stand in for it: point the
    # package path at the standard library's folder (its __init__ is empty).
    __path__ = [os.path.join(sysconfig.get_paths()["stdlib"], "concurrent")]
else:
    import argparse
    import time

    import benchdb


def deadlocks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--matches", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    benchdb.setup()
    from apps.leaderboards.models import SettlementRequest
    from apps.leaderboards.settlement.verify import standings_verify

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=args.members, matches=args.matches)
    worker = benchdb.Worker(pool="prefork", concurrency=args.concurrency)
    try:
        before = deadlocks()
        started = time.perf_counter()
        results = [(2, 1), (0, 0), (1, 3), (1, 0), (2, 2), (3, 1), (0, 1), (1, 1), (4, 2), (0, 2)]
        request_ids = [
            benchdb.finish(match_id, *results[index % len(results)]).pk
            for index, match_id in enumerate(data["match_ids"])
        ]
        benchdb.wait_done(request_ids, timeout=1800)
        total = time.perf_counter() - started
        peak_rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    requests = list(SettlementRequest.objects.filter(pk__in=request_ids))
    durations = sorted((r.finished_at - r.started_at).total_seconds() for r in requests)
    differences = standings_verify(tournament_id=data["tournament_id"])
    benchdb.emit(
        {
            "benchmark": "concurrent",
            "matches": args.matches,
            "guesses_per_match": args.members,
            "guesses": sum(r.guesses_walked for r in requests),
            "total_seconds": round(total, 3),
            "job_seconds_min_max": [round(durations[0], 3), round(durations[-1], 3)],
            "deadlocks": deadlocks() - before,
            "attempts": sum(r.attempts for r in requests),
            "all_done": all(r.status == "done" for r in requests),
            "verified": not differences,
            "worker_peak_rss_mb": peak_rss,
        }
    )


if __name__ == "__main__":
    main()
