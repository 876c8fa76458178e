"""Board reads about the people a member follows, over HTTP on a tournament of N members.

    .venv/bin/python bench/social.py --members 1000000
    .venv/bin/python bench/social.py --members 20000 --requests 200 --scenarios search,preview

Loads N members (COPY) with varied names (first and last names, some with
accents) and spread standings, gives `--tokens` members 10 pins each, builds
the projection, serves the API with gunicorn (as many workers as cores) and
measures with one sequential client, scenario by scenario:

- search:  GET /api/v1/tournaments/{id}/leaderboard/search?q=  with 2 to 5 letter
           prefixes, short ones matching a large share of the members
- preview: GET /api/v1/tournaments/{id}/leaderboard/preview  as a random member with pins
- members: GET /api/v1/tournaments/{id}/leaderboard?members=  with 50 random ids

Each prints p50 and p99 (ms) and the X-Leaderboard-Source counts; search also
prints whether its candidate query walks the name indexes (EXPLAIN).

More scenarios (rank snapshots, summaries) are added to SCENARIOS below: a
function of the loaded `Context` that returns its figures, run in the order
listed when named in --scenarios.
"""

import argparse
import json
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import benchdb
from reads import Server, percentile, randomise_standings

FIRST = ["Anna", "Ben", "Chloé", "David", "Émile", "Fatima", "Georg", "Hana", "Ivan", "José", "Kai", "Lena",
         "Mateo", "Nora", "Otto", "Paula", "Quinn", "Rosa", "Søren", "Tomás"]  # fmt: skip
LAST = ["Müller", "Mueller", "Muller", "Agüero", "Smith", "García", "Nguyen", "Kowalski", "Rossi", "Dubois",
        "Novák", "Öztürk", "Silva", "Jensen", "Bauer", "Moreau", "Costa", "Yilmaz", "Ivanova", "Lee"]  # fmt: skip
PINS_EACH = 10


@dataclass
class Context:
    """What every scenario gets: the loaded tournament, the running server and the members with tokens."""

    server: Server
    tournament_id: int
    member_ids: tuple[int, int]  # first and last id
    tokens: list[str]
    requests: int
    rng: random.Random
    extra: dict = field(default_factory=dict)


def name_members(first: int, last: int) -> None:
    """Varied display names and their folded keys, set-based (the folding of these names is lower case with
    the accents dropped, as `apps.common.names.name_key` gives for them)."""
    from django.db import connection

    from apps.common.names import name_key

    firsts = "ARRAY[" + ",".join(f"'{name}'" for name in FIRST) + "]"
    lasts = "ARRAY[" + ",".join(f"'{name}'" for name in LAST) + "]"
    accented = "".join(sorted({ch for name in FIRST + LAST for ch in name.lower() if not ch.isascii()}))
    plain = "".join(name_key(ch) for ch in accented)
    assert len(plain) == len(accented), "each accented letter folds to one letter"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE members_member SET display_name = ({firsts})[1 + id %% {len(FIRST)}] || ' ' || "
            f"({lasts})[1 + (id / {len(FIRST)}) %% {len(LAST)}] WHERE id BETWEEN %s AND %s",
            [first, last],
        )
        cursor.execute(
            "UPDATE members_member SET display_name_key = translate(lower(display_name), %s, %s) "
            "WHERE id BETWEEN %s AND %s",
            [accented, plain, first, last],
        )
        cursor.execute("VACUUM ANALYZE members_member")


def pin_members(member_ids: list[int], first: int, last: int, rng: random.Random) -> None:
    from django.db import connection

    rows = [(member_id, other) for member_id in member_ids for other in rng.sample(range(first, last + 1), PINS_EACH)]
    rows = [(a, b) for a, b in rows if a != b]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY members_pin (member_id, pinned_id, created_at) FROM STDIN") as copy:
            for member_id, other in set(rows):
                copy.write_row((member_id, other, "now"))


def measure(context: Context, paths: Callable[[], tuple[str, str | None]]) -> dict:
    latencies: list[float] = []
    sources: Counter = Counter()
    errors: Counter = Counter()
    for index in range(context.requests + 20):
        path, token = paths()
        status, source, elapsed = context.server.get(path, token)
        if index < 20:  # warm the processes, their connections and scripts
            continue
        if status != 200:
            errors[status] += 1
            continue
        latencies.append(elapsed)
        sources[source] += 1
    if not latencies:
        return {"errors": dict(errors)}
    return {
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
        "n": len(latencies),
        "sources": dict(sources),
        "errors": dict(errors),
    }


# --- scenarios ------------------------------------------------------------------------------
def search(context: Context) -> dict:
    from django.db import connection

    from apps.leaderboards.boards.keys import BoardKey
    from apps.leaderboards.boards.social import search_prefix

    # First names start display names; last names match nobody's start; "be" and "bench" start every
    # username (bench{i}): the widest prefixes, where the candidate cap bounds the work.
    prefixes = sorted({name[:length] for name in FIRST + LAST for length in (2, 3, 5)} | {"be", "bench", "bench12"})
    base = f"/api/v1/tournaments/{context.tournament_id}/leaderboard/search?q="

    def path():
        from urllib.parse import quote

        return base + quote(context.rng.choice(prefixes)), None

    figures = measure(context, path)
    # The candidate query as a search runs it, for the shortest prefix of the commonest names.
    from apps.leaderboards.boards import social

    captured: list = []

    def capture(execute, sql, params, many, ctx):
        captured.append((sql, params))
        return execute(sql, params, many, ctx)

    with connection.execute_wrapper(capture):
        social._search_candidates(BoardKey.of_tournament(context.tournament_id), search_prefix("be"))
    sql, params = captured[-1]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    figures["plan_walks_name_indexes"] = "member_display_name_key_like" in plan and "member_username_key_like" in plan
    figures["prefixes"] = len(prefixes)
    return figures


def preview(context: Context) -> dict:
    base = f"/api/v1/tournaments/{context.tournament_id}/leaderboard/preview"
    return measure(context, lambda: (base, context.rng.choice(context.tokens)))


def members(context: Context) -> dict:
    first, last = context.member_ids
    base = f"/api/v1/tournaments/{context.tournament_id}/leaderboard?members="

    def path():
        ids = context.rng.sample(range(first, last + 1), 50)
        return base + ",".join(map(str, ids)), None

    return measure(context, path)


# Name -> scenario, run in this order. Add new scenarios here (for example rank snapshots and summaries).
SCENARIOS: dict[str, Callable[[Context], dict]] = {
    "search": search,
    "preview": preview,
    "members": members,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500, help="measured requests per scenario")
    parser.add_argument("--tokens", type=int, default=200, help="distinct members asking for their preview")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, of: " + ", ".join(SCENARIOS))
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")

    benchdb.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.leaderboards.boards.projection_write import projection_rebuild
    from apps.members.models import Member

    benchdb.reset()
    started = time.perf_counter()
    data = benchdb.load(members=args.members, guesses=0)
    tournament_id = data["tournament_id"]
    first, last = data["member_ids"]
    name_members(first, last)
    randomise_standings(tournament_id)
    rng = random.Random(5)
    askers = [rng.randint(first, last) for _ in range(args.tokens)]
    pin_members(askers, first, last, rng)
    projection_rebuild(tournament_id=tournament_id)
    tokens = [str(AccessToken.for_user(Member(pk=member_id))) for member_id in askers]
    figures: dict = {"benchmark": "social", "members": args.members, "load_seconds": round(time.perf_counter() - started, 2)}

    server = Server(workers=os.cpu_count() or 2)
    try:
        context = Context(
            server=server,
            tournament_id=tournament_id,
            member_ids=(first, last),
            tokens=tokens,
            requests=args.requests,
            rng=rng,
        )
        for name in chosen:
            for key, value in SCENARIOS[name](context).items():
                figures[f"{name}_{key}"] = value
    finally:
        server.stop()
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
