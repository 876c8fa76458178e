"""Boards in play: from a feed's score change to the new boards in Redis, goal after goal.

    .venv/bin/python bench/inplay.py --members 1000000 --goals 10
    .venv/bin/python bench/inplay.py --scenario four --members 250000

`one` (default): a tournament of N members with one guess each on one match,
its Redis projection built. The match kicks off (live 0-0), then scores
`--goals` goals one after another, alternating sides; each goal is recorded
the way ingestion records it (the score change, its new result version and
settlement request in one transaction) as soon as the previous goal is
visible. A goal is visible when the settlement request of its result version
is done (its last batch projected into Redis: every board holds the new
ranking) and Redis answers the boards' matches in play at the new score.
Prints the time from each score change to visible: p50 and max (kickoff
apart, its figure alongside).

`four`: four matches in play, N members each guessing all four (4 x N
guesses); one goal in each at the same moment (four score changes committed
back to back), then the time until all four are visible, whether any request
failed (a deadlock would), and whether verify_standings finds the database
and Redis exact.

A real Celery worker runs settlement, with the Procfile's concurrency (2).
"""

import argparse
import json
import statistics
import time

import benchdb


def score(match_id: int, status: str, home: int, away: int) -> int:
    """Record a feed's score the way ingestion does; returns the match's new result version."""
    from django.db import transaction

    from apps.matches.models import Match
    from apps.matches.services import match_result_save, match_result_snapshot

    with transaction.atomic():
        match = Match.objects.select_for_update().select_related("tournament").get(pk=match_id)
        before = match_result_snapshot(match=match)
        match.status, match.home_score, match.away_score = status, home, away
        match_result_save(match=match, before=before, actor="feed:bench")
    return match.result_version


def live_scores_in_redis(tournament_id: int) -> dict[int, tuple[int, int]]:
    from apps.leaderboards.boards.keys import meta_key
    from apps.leaderboards.boards.projection_read import redis_client

    raw = redis_client().hget(meta_key(tournament_id), "lm")
    return {m["id"]: (m["home_score"], m["away_score"]) for m in json.loads(raw or "[]")}


def wait_visible(tournament_id: int, wanted: dict[int, tuple[int, int, int]], *, timeout: float = 120) -> float:
    """Seconds until every match of `wanted` ({id: (home, away, result version)}) has that version's request
    done and Redis shows it in play at that score; raises on a failed request."""
    from apps.leaderboards.models import SettlementRequest

    started = time.perf_counter()
    checks = 0
    while True:
        shown = live_scores_in_redis(tournament_id)
        if all(shown.get(match_id) == (home, away) for match_id, (home, away, _) in wanted.items()) and all(
            SettlementRequest.objects.filter(match_id=match_id, result_version=version, status="done").exists()
            for match_id, (_, _, version) in wanted.items()
        ):
            return time.perf_counter() - started
        checks += 1
        if checks % 200 == 0 and SettlementRequest.objects.filter(
            match__tournament_id=tournament_id, status="failed"
        ).exists():
            raise RuntimeError("a settlement request failed")
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"not visible after {timeout}s: wanted {wanted}, Redis shows {shown}")
        time.sleep(0.005)


def _worker_env(args) -> dict:
    return {"SETTLEMENT_BATCH_SIZE": args.batch_size} if args.batch_size else {}


def one(args) -> dict:
    data = benchdb.load(members=args.members, guesses=args.members)
    tournament_id, match_id = data["tournament_id"], data["match_ids"][0]
    worker = benchdb.Worker(pool="prefork", concurrency=2, **_worker_env(args))
    seconds = []
    try:
        started = time.perf_counter()
        version = score(match_id, "live", 0, 0)
        wait_visible(tournament_id, {match_id: (0, 0, version)})
        kickoff = time.perf_counter() - started
        home = away = 0
        for goal in range(args.goals):
            if goal % 2 == 0:
                home += 1
            else:
                away += 1
            started = time.perf_counter()
            version = score(match_id, "live", home, away)
            wait_visible(tournament_id, {match_id: (home, away, version)})
            seconds.append(time.perf_counter() - started)
            print(f"goal {goal + 1}/{args.goals}: {home}-{away} visible in {seconds[-1]:.2f}s", flush=True)
    finally:
        worker.stop()
    return {
        "benchmark": "inplay",
        "scenario": "one",
        "members": args.members,
        "goals": args.goals,
        "batch_size": args.batch_size,
        "kickoff_seconds": round(kickoff, 3),
        "goal_p50_seconds": round(statistics.median(seconds), 3),
        "goal_max_seconds": round(max(seconds), 3),
        "goal_seconds": [round(s, 2) for s in seconds],
        "load_seconds": data["load_seconds"],
    }


def four(args) -> dict:
    from apps.leaderboards.models import SettlementRequest
    from apps.leaderboards.settlement.verify import standings_verify

    data = benchdb.load(members=args.members, guesses=args.members, matches=4)
    tournament_id, match_ids = data["tournament_id"], data["match_ids"]
    worker = benchdb.Worker(pool="prefork", concurrency=2, **_worker_env(args))
    try:
        versions = {match_id: score(match_id, "live", 0, 0) for match_id in match_ids}
        wait_visible(tournament_id, {match_id: (0, 0, versions[match_id]) for match_id in match_ids})
        started = time.perf_counter()
        versions = {match_id: score(match_id, "live", 1, 0) for match_id in match_ids}
        wait_visible(tournament_id, {match_id: (1, 0, versions[match_id]) for match_id in match_ids})
        seconds = time.perf_counter() - started
    finally:
        worker.stop()
    failed = SettlementRequest.objects.filter(match__tournament_id=tournament_id, status="failed").count()
    differences = standings_verify(tournament_id=tournament_id)
    return {
        "benchmark": "inplay",
        "scenario": "four",
        "members": args.members,
        "guesses": 4 * args.members,
        "four_goals_visible_seconds": round(seconds, 3),
        "failed_requests": failed,
        "verified": not differences,
        "load_seconds": data["load_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["one", "four"], default="one")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--goals", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None, help="SETTLEMENT_BATCH_SIZE for the worker")
    args = parser.parse_args()
    benchdb.setup()
    benchdb.reset()
    benchdb.emit(one(args) if args.scenario == "one" else four(args))


if __name__ == "__main__":
    main()
