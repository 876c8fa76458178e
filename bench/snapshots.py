"""Rank snapshots and the guess summary at World Cup scale.

    .venv/bin/python bench/snapshots.py --members 1000000 --guesses 1000000

Loads N members with spread standings and one match with G guesses (COPY),
builds the projection, then measures

- snapshot: one staff snapshot of every rank (`snapshot_record`: the
  INSERT ... SELECT with RANK(), the version bump, and the Redis hash of the
  latest ranks swapped in), split into the database part and the Redis fill;
  target <= 10 s at 1M members;
- history: GET .../members/{id}/history for random members over HTTP (p50/p99);
- board: GET .../leaderboard?limit=10 at a deep offset, whose rows now carry
  rank_delta from the Redis hash (p50/p99, uncached pages: offsets vary);
- summary: GET /matches/{id}/guesses/summary once locked: the first answer
  counts the G guesses (target <= 2 s), then p50/p99 of the cached answer
  over HTTP (target p99 <= 10 ms).

HTTP is served by gunicorn (as many workers as cores) and measured with one
sequential client, as in bench/reads.py.
"""

import argparse
import json
import os
import random
import statistics
import time

import benchdb
from reads import Server, percentile


def load(*, members: int, guesses: int, seed: int = 5) -> dict:
    """A running tournament of `members` members with spread totals, and a match the first `guesses` guessed."""
    from django.db import connection
    from django.utils import timezone

    from apps.matches.models import Match, Round, Team, Tournament

    rng = random.Random(seed)
    now = timezone.now()
    tournament = Tournament.objects.create(
        name="Bench Cup", slug=f"bench-{time.time_ns()}", starts_at=now, status=Tournament.Status.RUNNING
    )
    round_ = Round.objects.create(tournament=tournament, name="Group", name_key="group", order=1)
    home = Team.objects.create(tournament=tournament, name="H", name_key="h")
    away = Team.objects.create(tournament=tournament, name="A", name_key="a")
    match = Match.objects.create(
        tournament=tournament, round=round_, home_team=home, away_team=away, kickoff_at=now + timezone.timedelta(hours=1)
    )
    started = time.perf_counter()
    raw = connection.cursor().cursor  # psycopg's own cursor, for COPY
    with raw.copy(
        "COPY members_member (password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined, display_name) FROM STDIN"
    ) as copy:
        for i in range(members):
            copy.write_row(("!", False, f"bench{i}", "", "", "", False, True, now, f"Bench {i}"))
    raw.execute("SELECT id FROM members_member ORDER BY id")
    member_ids = [row[0] for row in raw.fetchall()]
    with raw.copy(
        "COPY leaderboards_standing (tournament_id, member_id, points, exact_hits, outcome_hits, live_points) "
        "FROM STDIN"
    ) as copy:
        for member_id in member_ids:
            exact, outcome = rng.randrange(4), rng.randrange(8)
            copy.write_row((tournament.pk, member_id, 4 * exact + 2 * outcome, exact, outcome, 0))
    weights = [30, 30, 20, 12, 8]  # goals 0..4: low scores are the usual guesses
    with raw.copy(
        "COPY guesses_guess (created_at, updated_at, member_id, match_id, home_goals, away_goals) FROM STDIN"
    ) as copy:
        for member_id in member_ids[:guesses]:
            h, a = rng.choices(range(5), weights, k=2)
            copy.write_row((now, now, member_id, match.pk, h, a))
    raw.execute("ANALYZE")
    return {
        "tournament_id": tournament.pk,
        "match_id": match.pk,
        "member_ids": member_ids,
        "load_seconds": round(time.perf_counter() - started, 2),
    }


def timings(server: Server, paths: list[str], token: str | None = None) -> tuple[list[float], int]:
    latencies, errors = [], 0
    for path in paths:
        status, _, elapsed = server.get(path, token)
        if status != 200:
            errors += 1
            continue
        latencies.append(elapsed)
    return latencies, errors


def summarise(name: str, latencies: list[float], figures: dict) -> None:
    figures[f"{name}_p50_ms"] = round(1000 * statistics.median(latencies), 2) if latencies else None
    figures[f"{name}_p99_ms"] = round(1000 * percentile(latencies, 0.99), 2) if latencies else None
    figures[f"{name}_n"] = len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--guesses", type=int, default=1_000_000, help="guesses on the summarised match")
    parser.add_argument("--requests", type=int, default=1000, help="HTTP requests of each kind")
    args = parser.parse_args()

    benchdb.setup()
    from django.db import connection
    from django.core.cache import cache
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.leaderboards.boards.projection_read import redis_client
    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.leaderboards.boards.snapshots.projection import snapshot_projection_fill
    from apps.leaderboards.boards.snapshots.record import snapshot_record
    from apps.leaderboards.models import RankSnapshot
    from apps.matches.models import Match
    from apps.members.models import Member

    benchdb.reset()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leaderboards_ranksnapshotrow, leaderboards_ranksnapshot, guesses_guesssummary")
    cache.clear()
    data = load(members=args.members, guesses=min(args.guesses, args.members))
    tournament_id, match_id, member_ids = data["tournament_id"], data["match_id"], data["member_ids"]
    started = time.perf_counter()
    projection_rebuild(tournament_id=tournament_id)
    figures = {
        "benchmark": "snapshots",
        "members": args.members,
        "guesses": min(args.guesses, args.members),
        "load_seconds": data["load_seconds"],
        "projection_build_seconds": round(time.perf_counter() - started, 2),
    }

    # --- the snapshot ---------------------------------------------------------
    started = time.perf_counter()
    snapshot = snapshot_record(tournament_id=tournament_id, trigger=RankSnapshot.Trigger.STAFF)
    figures["snapshot_seconds"] = round(time.perf_counter() - started, 3)
    figures["snapshot_rows"] = snapshot.total
    # The Redis part alone (the same fill again, without the version move).
    started = time.perf_counter()
    snapshot_projection_fill(tournament_id=tournament_id, client=redis_client())
    figures["snapshot_redis_fill_seconds"] = round(time.perf_counter() - started, 3)
    figures["snapshot_database_seconds"] = round(figures["snapshot_seconds"] - figures["snapshot_redis_fill_seconds"], 3)
    # A second snapshot: the key index then holds two rows per member, as every later day does.
    started = time.perf_counter()
    snapshot_record(tournament_id=tournament_id, trigger=RankSnapshot.Trigger.STAFF)
    figures["second_snapshot_seconds"] = round(time.perf_counter() - started, 3)
    figures["snapshot_hash_memory_mb"] = round(
        (redis_client().memory_usage(f"lb:{{t:{tournament_id}}}:snap", samples=1000) or 0) / 2**20, 1
    )

    # --- reads over HTTP ------------------------------------------------------
    rng = random.Random(9)
    # Locked a minute ago, its guesses first shown then: the first summary read counts and keeps the result.
    a_minute_ago = timezone.now() - timezone.timedelta(minutes=1)
    Match.objects.filter(pk=match_id).update(kickoff_at=a_minute_ago, guesses_revealed_at=a_minute_ago)
    token = str(AccessToken.for_user(Member(pk=member_ids[0])))
    server = Server(workers=os.cpu_count() or 2)
    try:
        summary_path = f"/api/v1/matches/{match_id}/guesses/summary"
        status, _, first = server.get(summary_path, token)
        assert status == 200, status
        figures["summary_first_seconds"] = round(first, 3)
        history = [
            f"/api/v1/tournaments/{tournament_id}/members/{rng.choice(member_ids)}/history"
            for _ in range(args.requests)
        ]
        deep = max(0, args.members - 20)
        board = [
            f"/api/v1/tournaments/{tournament_id}/leaderboard?limit=10&offset={rng.randrange(deep)}"
            for _ in range(args.requests)
        ]
        timings(server, history[:50] + board[:50] + [summary_path] * 50, token)  # warm every worker
        for name, paths, auth in (
            ("history", history, None),
            ("board_deep_page", board, None),
            ("summary_cached", [summary_path] * args.requests, token),
        ):
            latencies, errors = timings(server, paths, auth)
            summarise(name, latencies, figures)
            figures[f"{name}_errors"] = errors
    finally:
        server.stop()
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
