"""Settlement end to end against the plain two-statement SQL baseline, on the same data.

    .venv/bin/python bench/settlement.py --members 1000000 --guesses 1000000

Builds a tournament of N members with one guess each on one match (COPY),
builds its Redis projection, then:

- ours: finishes the match (result + outbox row in one transaction) and waits,
  through a real Celery worker (solo pool, so its peak RSS is the job's), until
  the request is done: every batch committed and the projection moved;
- baseline: on scratch copies (the guesses table with its indexes plus a
  points column, standings with the same keys), UPDATE every guess's points
  with a CASE, then UPDATE the standings FROM the aggregate, in one
  transaction.

Prints one JSON line: both times, their ratio, the worker's peak RSS, and
whether verify_standings found the database and Redis exact.
"""

import argparse
import time

import benchdb


def baseline(*, match_id: int, tournament_id: int, result: tuple[int, int]) -> float:
    from django.db import connection, transaction

    from apps.leaderboards.settlement.sql import Applied, score_sql

    applied = Applied(home=result[0], away=result[1], points_exact=4, points_goal_difference=3,
                      points_outcome=2, multiplier=1, round_id=None)  # fmt: skip
    points, exact, outcome, _ = score_sql(applied)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_guess_points, bench_standing")
        # The guesses table as it would be with a points column: same columns, keys and indexes.
        cursor.execute("CREATE TABLE bench_guess_points (LIKE guesses_guess INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE bench_guess_points ADD COLUMN points integer, ADD COLUMN exact integer, "
            "ADD COLUMN outcome integer"
        )
        cursor.execute("INSERT INTO bench_guess_points SELECT * FROM guesses_guess WHERE match_id = %s", [match_id])
        cursor.execute("CREATE TABLE bench_standing (LIKE leaderboards_standing INCLUDING ALL)")
        cursor.execute("INSERT INTO bench_standing SELECT * FROM leaderboards_standing WHERE tournament_id = %s",
                       [tournament_id])  # fmt: skip
        cursor.execute("UPDATE bench_standing SET points = 0, exact_hits = 0, outcome_hits = 0")
        cursor.execute("VACUUM ANALYZE bench_guess_points")
        cursor.execute("VACUUM ANALYZE bench_standing")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE bench_guess_points g SET points = {points}, exact = {exact}, outcome = {outcome} "
            f"WHERE g.match_id = %s",
            [match_id],
        )
        cursor.execute(
            "UPDATE bench_standing s SET points = s.points + a.points, exact_hits = s.exact_hits + a.exact, "
            "outcome_hits = s.outcome_hits + a.outcome "
            "FROM (SELECT member_id, SUM(points) AS points, SUM(exact) AS exact, SUM(outcome) AS outcome "
            "FROM bench_guess_points WHERE match_id = %s GROUP BY member_id) a "
            "WHERE s.tournament_id = %s AND s.member_id = a.member_id",
            [match_id, tournament_id],
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_guess_points, bench_standing")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--guesses", type=int, default=None, help="members with a guess (default: all)")
    parser.add_argument("--batch-size", type=int, default=None, help="SETTLEMENT_BATCH_SIZE for the worker")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--league-size", type=int, default=0, help="also split members into leagues of this size")
    parser.add_argument("--jokers", type=float, default=0.0, help="share of guesses carrying a joker (0.1 = 10%%)")
    args = parser.parse_args()
    guesses = args.guesses or args.members

    benchdb.setup()
    from apps.leaderboards.models import SettlementRequest
    from apps.leaderboards.settlement.verify import standings_verify

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=guesses, league_size=args.league_size, jokers=args.jokers)
    match_id, tournament_id = data["match_ids"][0], data["tournament_id"]
    env = {"SETTLEMENT_BATCH_SIZE": args.batch_size} if args.batch_size else {}
    worker = benchdb.Worker(pool="solo", **env)
    try:
        idle_rss = worker.peak_rss_mb()
        started = time.perf_counter()
        request = benchdb.finish(match_id, 2, 1)  # enqueued on commit
        benchdb.wait_done([request.pk])
        ours = time.perf_counter() - started
        peak_rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    request = SettlementRequest.objects.get(pk=request.pk)
    committed = (request.heartbeat_at - request.started_at).total_seconds() if request.started_at else None
    differences = standings_verify(tournament_id=tournament_id)
    base = None if args.skip_baseline else baseline(match_id=match_id, tournament_id=tournament_id, result=(2, 1))
    benchdb.emit(
        {
            "benchmark": "settlement",
            "members": args.members,
            "league_size": args.league_size,
            "jokers": args.jokers,
            "guesses": request.guesses_walked,
            "standings_moved": request.standings_moved,
            "settle_seconds": round(ours, 3),
            "claim_to_done_seconds": round(committed, 3) if committed is not None else None,
            "baseline_seconds": round(base, 3) if base is not None else None,
            "speedup": round(base / ours, 2) if base else None,
            "worker_peak_rss_mb": peak_rss,
            "worker_idle_rss_mb": idle_rss,
            "verified": not differences,
            "load_seconds": data["load_seconds"],
            "projection_build_seconds": data["projection_build_seconds"],
        }
    )


if __name__ == "__main__":
    main()
