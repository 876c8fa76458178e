"""A bonus question settled for a whole tournament, end to end through a real worker.

    .venv/bin/python bench/bonus.py --members 1000000

Builds a tournament of N members (COPY), a closed `number` question answered
once by every member (COPY; answers 0..9, low numbers the usual ones), builds
the Redis projection, then, through a real Celery worker (solo pool):

- settle: staff settle the question (correct answer, version and outbox row
  in one transaction) and the clock runs until the request is done: every
  batch committed and the projection moved;
- re-settle (with --resettle): the same with another correct answer, which
  takes the points from the first winners and gives them to the new ones.

Prints one JSON line with the times, the answers walked, the standings moved,
the worker's peak RSS, and whether verify_standings found the database and
Redis exact. Target: settle <= 6 s at 1M members.
"""

import argparse
import random
import time
from datetime import timedelta

import benchdb

WEIGHTS = [8, 14, 18, 18, 14, 10, 7, 5, 4, 2]  # answers 0..9


def load_question(*, tournament_id: int, seed: int = 11) -> tuple[int, float]:
    from django.db import connection
    from django.utils import timezone

    from apps.matches.models import BonusQuestion

    now = timezone.now()
    question = BonusQuestion.objects.create(
        tournament_id=tournament_id, text="How many goals in the final?", kind="number", points=10,
        closes_at=now - timedelta(seconds=1),
    )  # fmt: skip
    rng = random.Random(seed)
    started = time.perf_counter()
    raw = connection.cursor().cursor  # psycopg's own cursor, for COPY
    raw.execute("SELECT member_id FROM leaderboards_standing WHERE tournament_id = %s ORDER BY member_id",
                [tournament_id])  # fmt: skip
    member_ids = [row[0] for row in raw.fetchall()]
    with raw.copy(
        "COPY matches_bonusanswer (question_id, member_id, number, created_at, updated_at) FROM STDIN"
    ) as copy:
        for member_id, number in zip(member_ids, rng.choices(range(10), WEIGHTS, k=len(member_ids))):
            copy.write_row((question.pk, member_id, number, now, now))
    raw.execute("ANALYZE matches_bonusanswer")
    return question.pk, time.perf_counter() - started


def settle(question_id: int, answer: int) -> tuple[int, float]:
    """Settle through the staff operation and wait for the request; (request id, seconds)."""
    from apps.leaderboards.models import QuestionSettlementRequest
    from apps.leaderboards.settlement.operations import question_settle_now

    started = time.perf_counter()
    request = question_settle_now(question_id=question_id, answer=answer)  # enqueued on commit
    while True:
        status = QuestionSettlementRequest.objects.values_list("status", flat=True).get(pk=request.pk)
        if status == "done":
            return request.pk, time.perf_counter() - started
        if status == "failed" or time.perf_counter() - started > 600:
            raise RuntimeError(f"question settlement {request.pk} ended {status}")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=None, help="SETTLEMENT_BATCH_SIZE for the worker")
    parser.add_argument("--league-size", type=int, default=0, help="also split members into leagues of this size")
    parser.add_argument("--resettle", action="store_true", help="also time a re-settle with another answer")
    args = parser.parse_args()

    benchdb.setup()
    from apps.leaderboards.models import QuestionSettlementRequest
    from apps.leaderboards.settlement.verify import standings_verify

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=0, league_size=args.league_size)
    tournament_id = data["tournament_id"]
    question_id, answers_load = load_question(tournament_id=tournament_id)
    env = {"SETTLEMENT_BATCH_SIZE": args.batch_size} if args.batch_size else {}
    worker = benchdb.Worker(pool="solo", **env)
    try:
        idle_rss = worker.peak_rss_mb()
        request_id, settle_seconds = settle(question_id, 3)
        resettle_seconds = None
        if args.resettle:
            _, resettle_seconds = settle(question_id, 2)
        peak_rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    request = QuestionSettlementRequest.objects.get(pk=request_id)
    differences = standings_verify(tournament_id=tournament_id)
    benchdb.emit(
        {
            "benchmark": "bonus",
            "members": args.members,
            "league_size": args.league_size,
            "answers": request.answers_walked,
            "standings_moved": request.standings_moved,
            "settle_seconds": round(settle_seconds, 3),
            "claim_to_done_seconds": round((request.finished_at - request.started_at).total_seconds(), 3),
            "resettle_seconds": round(resettle_seconds, 3) if resettle_seconds is not None else None,
            "worker_peak_rss_mb": peak_rss,
            "worker_idle_rss_mb": idle_rss,
            "verified": not differences,
            "load_seconds": round(data["load_seconds"] + answers_load, 2),
            "projection_build_seconds": data["projection_build_seconds"],
        }
    )


if __name__ == "__main__":
    main()
