"""What one board version costs a realtime process for members' own ranks: `member_ranks` over the connected members.

    .venv/bin/python bench/own_ranks.py --members 1000000 --connected 20000

Loads a tournament of N members with random standings (COPY), builds the
projection, then reads the ranks of C random members on the tournament board
the way the hub does for one board version (`boards.selectors.member_ranks`,
batches of MEMBER_RANK_BATCH), several times, from Redis and then from the
database alone (Redis away). Prints one JSON line: per path the time of one
version (p50, max), per batch, and the database queries of one version; and
whether both paths gave the same answer (exits 1 when not).
"""

import argparse
import json
import random
import statistics
import time

import benchdb
from reads import randomise_standings


def timed(read, rounds: int) -> tuple[list[float], object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, answer, queries = [], None, 0
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            answer = read()
            times.append(time.perf_counter() - started)
        queries = len(captured)
    return times, answer, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--connected", type=int, default=20_000, help="members with an open own-rank stream")
    parser.add_argument("--rounds", type=int, default=5, help="board versions read on each path")
    args = parser.parse_args()

    benchdb.setup()
    from django.conf import settings

    from apps.leaderboards.boards import projection_read
    from apps.leaderboards.boards.keys import BoardKey
    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.leaderboards.boards.selectors import MEMBER_RANK_BATCH, member_ranks

    benchdb.reset()
    data = benchdb.load(members=args.members, guesses=0)
    tournament_id = data["tournament_id"]
    randomise_standings(tournament_id)
    projection_rebuild(tournament_id=tournament_id)
    first, last = data["member_ids"]
    connected = random.Random(5).sample(range(first, last + 1), min(args.connected, last - first + 1))
    board = BoardKey.of_tournament(tournament_id)
    batches = -(-len(connected) // MEMBER_RANK_BATCH)

    def read():
        return member_ranks(board=board, member_ids=connected)

    results = {}
    results["redis"] = timed(read, args.rounds)
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: the database answers
    projection_read.projection_clients_reset()
    try:
        results["database"] = timed(read, max(1, args.rounds // 2))
    finally:
        settings.REDIS_URL = redis_url
        projection_read.projection_clients_reset()

    same = results["redis"][1][1] == results["database"][1][1]
    figures = {"members": args.members, "connected": len(connected), "batches": batches, "same_answer": same}
    for path, (times, _, queries) in results.items():
        median = statistics.median(times)
        figures[path] = {
            "version_p50_ms": round(median * 1000, 1),
            "version_max_ms": round(max(times) * 1000, 1),
            "batch_p50_ms": round(median / batches * 1000, 2),
            "queries_per_version": queries,
        }
    print(json.dumps(figures))
    if not same:
        raise SystemExit(1)

if __name__ == "__main__":
    main()
