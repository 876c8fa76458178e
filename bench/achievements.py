"""Achievements after a settlement: what evaluating them adds to a million-guess settlement.

    .venv/bin/python bench/achievements.py --members 1000000

A tournament of N members, each with one guess on each of `--matches` matches
(default 4) of one round, loaded with COPY, its Redis projection built. A real
Celery worker (solo pool) settles the matches with ACHIEVEMENTS_ENABLED off:

- the earlier matches are settled one after another, and the achievements of
  each evaluated here afterwards (untimed), so members hold first_exact and
  the standings hold the exact hits a hat trick needs;
- the last match is settled, timed from the result's commit to "done"
  (`settle_seconds`: the settlement without evaluation); then its
  evaluation runs here under the tournament lock, timed
  (`evaluate_seconds`). It is the worst case of a match: it finishes the
  round, so every member with 3 outcome hits in the round is checked for
  perfect_round besides the exact guessers' first_exact and hat_trick.

Prints one JSON line: both times, `ratio` ((settle + evaluate) / settle),
the achievements the last match handed out per code, and whether a full
recomputation from the guesses agrees with what is stored.
"""

import argparse
import time

import benchdb

# Results of the matches in order: common scores, so exact hits (and hat tricks) are as frequent as in a real game.
RESULTS = [(1, 0), (1, 1), (0, 0), (2, 1), (0, 1), (2, 0)]


def evaluate(request_id: int, tournament_id: int) -> float:
    from apps.leaderboards.achievements.evaluate import achievements_evaluate
    from apps.leaderboards.boards.locks import tournament_lock

    started = time.perf_counter()
    with tournament_lock(tournament_id=tournament_id):
        achievements_evaluate(request_id=request_id)
    return time.perf_counter() - started


def counts(tournament_id: int) -> dict[str, int]:
    from django.db.models import Count

    from apps.leaderboards.models import Achievement

    rows = Achievement.objects.filter(tournament_id=tournament_id).values("code").annotate(n=Count("id"))
    return {row["code"]: row["n"] for row in rows}


def recomputed(tournament_id: int, round_id: int) -> dict[str, int]:
    """The number of holders of each match code, computed from scratch from the guesses and results."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """WITH g AS (
                SELECT g.member_id, m.kickoff_at, m.id AS match_id,
                       (g.home_goals = m.home_score AND g.away_goals = m.away_score) AS exact,
                       sign(g.home_goals - g.away_goals) = sign(m.home_score - m.away_score) AS outcome
                FROM guesses_guess g JOIN matches_match m ON m.id = g.match_id
                WHERE m.tournament_id = %(t)s AND m.status = 'finished'),
            w AS (SELECT member_id, exact AND lag(exact, 1) OVER s AND lag(exact, 2) OVER s AS hat
                  FROM g WINDOW s AS (PARTITION BY member_id ORDER BY kickoff_at, match_id))
            SELECT (SELECT count(DISTINCT member_id) FROM g WHERE exact),
                   (SELECT count(DISTINCT member_id) FROM w WHERE hat),
                   (SELECT count(*) FROM (SELECT member_id FROM g GROUP BY member_id
                                          HAVING count(*) >= 3 AND bool_and(outcome)) p)""",
            {"t": tournament_id},
        )
        first_exact, hat_trick, perfect_round = cursor.fetchone()
    return {"first_exact": first_exact, "hat_trick": hat_trick, "perfect_round": perfect_round}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--matches", type=int, default=4, help="matches of the round, each guessed by every member")
    parser.add_argument("--batch-size", type=int, default=None, help="SETTLEMENT_BATCH_SIZE for the worker")
    args = parser.parse_args()
    if not 1 <= args.matches <= len(RESULTS):
        parser.error(f"--matches must be 1..{len(RESULTS)}")

    benchdb.setup()
    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=args.members, matches=args.matches)
    tournament_id, match_ids = data["tournament_id"], data["match_ids"]
    env = {"ACHIEVEMENTS_ENABLED": "false"}
    if args.batch_size:
        env["SETTLEMENT_BATCH_SIZE"] = args.batch_size
    worker = benchdb.Worker(pool="solo", **env)
    try:
        for match_id, result in zip(match_ids[:-1], RESULTS):
            request = benchdb.finish(match_id, *result)
            benchdb.wait_done([request.pk])
            evaluate(request.pk, tournament_id)
        before = counts(tournament_id)
        started = time.perf_counter()
        request = benchdb.finish(match_ids[-1], *RESULTS[len(match_ids) - 1])
        benchdb.wait_done([request.pk])
        settle = time.perf_counter() - started
    finally:
        worker.stop()
    evaluation = evaluate(request.pk, tournament_id)
    after = counts(tournament_id)
    stored = {code: after.get(code, 0) for code in ("first_exact", "hat_trick", "perfect_round")}
    benchdb.emit(
        {
            "benchmark": "achievements",
            "members": args.members,
            "matches": args.matches,
            "guesses": args.members * args.matches,
            "settle_seconds": round(settle, 3),
            "evaluate_seconds": round(evaluation, 3),
            "ratio": round((settle + evaluation) / settle, 3),
            "earned_by_last_match": {code: n - before.get(code, 0) for code, n in after.items()},
            "held": stored,
            "verified": stored == recomputed(tournament_id, data["round_id"]),
            "load_seconds": data["load_seconds"],
        }
    )


if __name__ == "__main__":
    main()
