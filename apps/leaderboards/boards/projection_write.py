"""The Redis projection, write half: incremental moves, rebuilds and league sets (ARCHITECTURE.md "Data stores").

Key names are in `keys`, the encoding and the client in `projection_read`.
The database is the source of truth; every value written here is an absolute
total read back from it (never an increment), so replaying a write is harmless
and a rebuild restores everything. Writers serialise per tournament on the
tournament lock (`locks`) so a slower write can never overwrite a newer total;
writers that commit without it (score awards) leave their members "owed" for
the lock's next holder (below).
"""

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import redis
from django.db import connection
from django.utils import timezone

from apps.leaderboards.boards import metrics
from apps.leaderboards.boards.keys import (
    BoardKey,
    league_fingerprints_key,
    league_snapshot_key,
    leagues_ready_key,
    member_field,
    meta_key,
    names_key,
    owed_key,
    ready_key,
    stats_key,
    tournament_key,
)
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.boards.projection_read import (
    RedisError,
    league_fingerprint,
    league_fingerprint_now,
    projection_enabled,
    redis_client,
    redis_failed,
    zscore,
)
from apps.leaderboards.boards.snapshots.projection import league_snapshot_fill, snapshot_projection_fill
from apps.leaderboards.models import ROUND_EARNED_SQL, BoardState, RoundStanding, Standing
from apps.leagues.models import League, LeagueMembership
from apps.matches.models import Round

logger = logging.getLogger(__name__)

# Members per ZADD: Redis runs one command at a time, so a read waits behind
# at most one command. 2,000 members take about 2 ms; 10,000 held reads ~10 ms.
ZADD_CHUNK = 2_000
# Members written per pipeline round trip, however many commands (a league
# board often takes a handful of members per batch) they are spread over.
PIPELINE_MEMBERS = 32_000
# Rows read from the database per rebuild step: bounds the rebuild's memory.
REBUILD_CHUNK = 20_000

# Kinds of rows a settlement batch returns: (kind, key id, member id, points, exact hits).
KIND_TOURNAMENT = 0
KIND_ROUND = 1
KIND_LEAGUE = 2


def board_of_row(*, tournament_id: int, kind: int, key_id: int) -> BoardKey:
    """The board a settlement row (KIND_*, key id) moves."""
    if kind == KIND_TOURNAMENT:
        return BoardKey.of_tournament(tournament_id)
    if kind == KIND_ROUND:
        return BoardKey.of_round(tournament_id, key_id)
    return BoardKey.of_league(key_id, tournament_id)


# --- incremental moves ----------------------------------------------------
def projection_move(
    *,
    tournament_id: int,
    rows: Iterable[Sequence[int]],
    version: int,
    as_of: datetime,
    client: redis.Redis | None = None,
) -> set[BoardKey]:
    """Write the new totals of the members that changed; returns the boards touched.

    `rows` are (kind, key id, member id, points, exact hits) as a settlement
    batch returns them. Commands are pipelined in chunks of ZADD_CHUNK members.
    Raises a Redis error when Redis is away; the caller marks the projection stale.
    """
    client = client or redis_client()
    by_key: dict[tuple[int, int], list] = defaultdict(list)
    removed: dict[tuple[int, int], list] = defaultdict(list)
    for kind, key_id, member_id, points, exact_hits in rows:
        if points is None:
            # A round row that fell back to nothing leaves its round table.
            removed[(kind, key_id)].append(member_field(member_id))
            continue
        args = by_key[(kind, key_id)]
        args.append(zscore(points, exact_hits))
        args.append(member_field(member_id))
    boards: set[BoardKey] = set()
    with metrics.timed(metrics.redis_write_seconds):
        pipe = client.pipeline(transaction=False)
        queued = 0  # members in the pipeline not yet sent
        for (kind, key_id), args in by_key.items():
            board = board_of_row(tournament_id=tournament_id, kind=kind, key_id=key_id)
            key = board.redis_key
            boards.add(board)
            step = 2 * ZADD_CHUNK
            for start in range(0, len(args), step):
                chunk = args[start : start + step]
                pipe.execute_command("ZADD", key, *chunk)
                queued += len(chunk) // 2
                if queued >= PIPELINE_MEMBERS:
                    pipe.execute()
                    queued = 0
        for (kind, key_id), members in removed.items():
            for start in range(0, len(members), ZADD_CHUNK):
                pipe.execute_command("ZREM", BoardKey.of_round(tournament_id, key_id).redis_key, *members[start : start + ZADD_CHUNK])
        pipe.hset(meta_key(tournament_id), mapping={"v": version, "at": as_of.isoformat()})
        pipe.execute()
    return boards


def projection_state_write(*, state: BoardState, client: redis.Redis | None = None) -> None:
    """Write the boards' version, time and matches in play (meta v, at, lm). Raises a Redis error."""
    client = client or redis_client()
    client.hset(meta_key(state.tournament_id), mapping=_meta_of(state))


def _meta_of(state: BoardState) -> dict:
    as_of = state.as_of or timezone.now()
    return {
        "v": state.version,
        "at": as_of.isoformat(),
        "lm": json.dumps(state.live_matches or [], separators=(",", ":")),
    }


# --- totals owed by writers that do not hold the tournament lock -------------
# Score actions commit their points without the tournament lock (a settlement
# may hold it for seconds), so they cannot write Redis in commit order
# themselves. Each batch adds its members to the tournament's "owed" set after
# it commits; whoever holds the lock next writes their totals as they are in
# the database at that moment (projection_owed_flush). The pop comes before
# the read, so a member added after the pop stays owed for the next holder,
# and a total read after its commit is never older than the one it replaces:
# settlement writes its batches only while it holds the lock, before any flush.
OWED_CHUNK = 5_000


def projection_owed_add(*, tournament_id: int, member_ids: Iterable[int], client: redis.Redis | None = None) -> None:
    """Record that these members' totals changed in the database (after commit). Raises a Redis error."""
    members = [int(member_id) for member_id in member_ids]
    if members:
        (client or redis_client()).sadd(owed_key(tournament_id), *members)


def projection_owed_forget(*, tournament_id: int) -> None:
    """Drop the owed set: a rebuild (which reads every total afresh) is on its way."""
    redis_client().delete(owed_key(tournament_id))


def projection_owed_count(*, tournament_id: int) -> int:
    return int(redis_client().scard(owed_key(tournament_id)))


def projection_owed_flush(*, tournament_id: int, client: redis.Redis | None = None) -> set[BoardKey]:
    """Write the present totals of every owed member; returns the boards touched.

    Call holding the tournament lock: no other writer moves these members'
    sets meanwhile. Raises a Redis error (the caller marks the projection stale).
    """
    client = client or redis_client()
    key = owed_key(tournament_id)
    boards: set[BoardKey] = set()
    while True:
        popped = client.spop(key, OWED_CHUNK)
        if not popped:
            return boards
        members = sorted(int(member) for member in popped)
        totals = {
            member_id: (points, exact_hits)
            for member_id, points, exact_hits in Standing.objects.filter(
                tournament_id=tournament_id, member_id__in=members
            ).values_list("member_id", "points", "exact_hits")
        }
        rows = [(KIND_TOURNAMENT, tournament_id, m, *totals[m]) for m in members if m in totals]
        rows += [
            (KIND_LEAGUE, league_id, member_id, *totals[member_id])
            for league_id, member_id in LeagueMembership.objects.filter(
                member_id__in=list(totals), league__tournament_id=tournament_id
            ).values_list("league_id", "member_id")
        ]
        state = BoardState.objects.filter(tournament_id=tournament_id).values_list("version", "as_of").first()
        version, as_of = state if state else (0, None)
        boards |= projection_move(
            tournament_id=tournament_id, rows=rows, version=version, as_of=as_of or timezone.now(), client=client
        )


def projection_member_add(*, tournament_id: int, member_id: int) -> None:
    """A new participant enters the tournament board with 0 points (NX: never lowers a total)."""
    if not projection_enabled():
        return
    try:
        redis_client().zadd(tournament_key(tournament_id), {member_field(member_id): 0}, nx=True)
    except RedisError as exc:
        redis_failed(exc)
        projection_mark_stale(tournament_id=tournament_id)


def projection_league_invalidate(*, tournament_id: int, league_id: int) -> None:
    """Forget a league's set after its membership changed; the next read rebuilds it.

    Call after the membership change commits. Cheap: no lock, no database work.
    """
    if not projection_enabled():
        return
    try:
        pipe = redis_client().pipeline(transaction=True)
        pipe.srem(leagues_ready_key(tournament_id), league_id)
        pipe.hdel(league_fingerprints_key(tournament_id), league_id)
        pipe.delete(BoardKey.of_league(league_id, tournament_id).redis_key)
        pipe.delete(league_snapshot_key(BoardKey.of_league(league_id, tournament_id)))
        pipe.execute()
    except RedisError as exc:
        redis_failed(exc)
        projection_mark_stale(tournament_id=tournament_id)


def projection_member_name_forget(*, member_id: int) -> None:
    """Drop a member's cached display name from each tournament they stand in, and bump its name generation.

    Call after the member's change commits. The generation (`meta` n) is part
    of a public page's cache key and ETag, so pages listing the old name stop
    being served, and a read that fetched the old name before the change
    committed does not store it (see `read_cache._NAMES_STORE_LUA`).
    """
    if not projection_enabled():
        return
    tournament_ids = list(Standing.objects.filter(member_id=member_id).values_list("tournament_id", flat=True))
    if not tournament_ids:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for tournament_id in tournament_ids:
            pipe.hdel(names_key(tournament_id), member_field(member_id))
            pipe.hincrby(meta_key(tournament_id), "n", 1)
        pipe.execute()
    except RedisError as exc:
        # Names would stay stale until the cache expires: the rebuild drops them.
        redis_failed(exc)
        for tournament_id in tournament_ids:
            projection_mark_stale(tournament_id=tournament_id)


def projection_mark_stale(*, tournament_id: int) -> None:
    """Record in the database that Redis missed a write; the sweeper rebuilds the tournament."""
    try:
        updated = BoardState.objects.filter(tournament_id=tournament_id).update(projection_stale=True)
        if not updated:
            BoardState.objects.get_or_create(tournament_id=tournament_id, defaults={"projection_stale": True})
    except Exception as exc:  # the database may be what failed; the rebuild command still fixes it
        logger.error("could not mark the projection of tournament %s stale: %s", tournament_id, exc)


# --- rebuilds ---------------------------------------------------------------
def round_ids_with_rows(*, tournament_id: int) -> list[int]:
    """The tournament's rounds that have a round table (round rows are keyed by round, not tournament)."""
    return [
        round_id
        for round_id in Round.objects.filter(tournament_id=tournament_id).order_by("id").values_list("id", flat=True)
        if RoundStanding.objects.earned().filter(round_id=round_id).exists()
    ]


def _chunks(sql: str, params: list, cursor_columns: int) -> Iterable[list[tuple]]:
    """Keyset-paginate `sql` (whose last `cursor_columns` placeholders are the keyset) in REBUILD_CHUNK rows."""
    last: tuple | None = None
    while True:
        with connection.cursor() as cur:
            cur.execute(sql, params + list(last or (0,) * cursor_columns) + [REBUILD_CHUNK])
            rows = cur.fetchall()
        if not rows:
            return
        yield rows
        if len(rows) < REBUILD_CHUNK:
            return
        last = tuple(rows[-1][:cursor_columns])


def _fill(client: redis.Redis, key: str, chunks: Iterable[list[tuple]], progress: Callable[[int], None] | None) -> int:
    """Write (…, member id, points, exact) rows into a fresh temporary set and swap it in atomically."""
    temporary = f"{key}:rebuild"
    client.delete(temporary)
    count = 0
    for rows in chunks:
        args: list = []
        for row in rows:
            member_id, points, exact_hits = row[-3], row[-2], row[-1]
            args.append(zscore(points, exact_hits))
            args.append(member_field(member_id))
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(args), 2 * ZADD_CHUNK):
            pipe.execute_command("ZADD", temporary, *args[start : start + 2 * ZADD_CHUNK])
        pipe.execute()
        count += len(rows)
        if progress:
            progress(len(rows))
    if count:
        client.rename(temporary, key)
    else:
        client.delete(key)
    return count


def _league_sql() -> str:
    return (
        f"SELECT lm.member_id, COALESCE(s.points, 0), COALESCE(s.exact_hits, 0) "
        f"FROM {LeagueMembership._meta.db_table} lm "
        f"LEFT JOIN {Standing._meta.db_table} s ON s.tournament_id = %s AND s.member_id = lm.member_id "
    )


def _fill_league(client: redis.Redis, *, tournament_id: int, league_id: int) -> int:
    sql = _league_sql() + "WHERE lm.league_id = %s AND lm.member_id > %s ORDER BY lm.member_id LIMIT %s"
    return _fill(client, BoardKey.of_league(league_id, tournament_id).redis_key, _chunks(sql, [tournament_id, league_id], 1), None)


def _fill_leagues(client: redis.Redis, *, tournament_id: int, progress: Callable[[int], None] | None) -> list[int]:
    """Rebuild every league set of the tournament in one keyset pass over its memberships.

    Leagues are many and mostly small: one query per league would cost more
    than the rows. Each league's set is written to a temporary key and renamed
    over the live one in the same pipeline, so no reader sees it half-built.
    """
    sql = (
        _league_sql().replace("SELECT lm.member_id,", "SELECT lm.league_id, lm.member_id,")
        + f"JOIN {League._meta.db_table} l ON l.id = lm.league_id "
        + "WHERE l.tournament_id = %s AND (lm.league_id, lm.member_id) > (%s, %s) "
        + "ORDER BY lm.league_id, lm.member_id LIMIT %s"
    )
    built: list[int] = []
    current: int | None = None
    args: list = []
    member_sum = 0
    pipe = client.pipeline(transaction=False)

    def close_league() -> None:
        temporary = f"{BoardKey.of_league(current, tournament_id).redis_key}:rebuild"
        pipe.delete(temporary)
        for start in range(0, len(args), 2 * ZADD_CHUNK):
            pipe.execute_command("ZADD", temporary, *args[start : start + 2 * ZADD_CHUNK])
        pipe.rename(temporary, BoardKey.of_league(current, tournament_id).redis_key)
        pipe.hset(league_fingerprints_key(tournament_id), current, league_fingerprint(len(args) // 2, member_sum))
        pipe.sadd(leagues_ready_key(tournament_id), current)
        built.append(current)

    for rows in _chunks(sql, [tournament_id, tournament_id], 2):
        for league_id, member_id, points, exact_hits in rows:
            if league_id != current:
                if current is not None:
                    close_league()
                current, args, member_sum = league_id, [], 0
            args.append(zscore(points, exact_hits))
            args.append(member_field(member_id))
            member_sum += member_id
        pipe.execute()
        if progress:
            progress(len(rows))
    if current is not None:
        close_league()
        pipe.execute()
    return built


def projection_rebuild(*, tournament_id: int, progress: Callable[[int], None] | None = None) -> dict:
    """Rebuild every set of one tournament from the database, under the tournament lock.

    Each set is written to a temporary key and renamed over the live one, so
    readers see the old set or the new one, never a half-built one. Holding the
    tournament lock keeps settlement from moving totals mid-rebuild.
    `progress` is called with the number of rows written after each chunk.
    """
    client = redis_client()
    with tournament_lock(tournament_id=tournament_id):
        state, _ = BoardState.objects.get_or_create(tournament_id=tournament_id)
        client.delete(ready_key(tournament_id), leagues_ready_key(tournament_id), league_fingerprints_key(tournament_id))
        members = _fill(
            client,
            tournament_key(tournament_id),
            _chunks(
                f"SELECT member_id, points, exact_hits FROM {Standing._meta.db_table} "
                f"WHERE tournament_id = %s AND member_id > %s ORDER BY member_id LIMIT %s",
                [tournament_id],
                1,
            ),
            progress,
        )
        round_ids = round_ids_with_rows(tournament_id=tournament_id)
        for round_id in round_ids:
            _fill(
                client,
                BoardKey.of_round(tournament_id, round_id).redis_key,
                _chunks(
                    f"SELECT member_id, points, exact_hits FROM {RoundStanding._meta.db_table} "
                    f"WHERE round_id = %s AND {ROUND_EARNED_SQL} AND member_id > %s ORDER BY member_id LIMIT %s",
                    [round_id],
                    1,
                ),
                progress,
            )
        league_ids = set(League.objects.filter(tournament_id=tournament_id).values_list("id", flat=True))
        filled = set(_fill_leagues(client, tournament_id=tournament_id, progress=progress))
        # A league without members (never left so by the services) has no set to show.
        for league_id in league_ids - filled:
            client.delete(BoardKey.of_league(league_id, tournament_id).redis_key)
            client.hset(league_fingerprints_key(tournament_id), league_id, league_fingerprint(0, 0))
            client.sadd(leagues_ready_key(tournament_id), league_id)
        league_ids = sorted(league_ids)
        # The latest snapshot's ranks, which the board scripts read with the rows (rank_delta). Leagues'
        # are built on their next read (one query each), from the memberships as they are then.
        snapshot_projection_fill(tournament_id=tournament_id, client=client)
        for start in range(0, len(league_ids), ZADD_CHUNK):
            client.delete(
                *[
                    league_snapshot_key(BoardKey.of_league(league_id, tournament_id))
                    for league_id in league_ids[start : start + ZADD_CHUNK]
                ]
            )
        pipe = client.pipeline(transaction=True)
        pipe.hset(meta_key(tournament_id), mapping=_meta_of(state))
        # Cached names may have missed a rename while Redis was away: start them
        # afresh, under a new name generation (cached pages carry it in their
        # keys). From the clock, not counted up: after Redis lost everything a
        # count would start again at a value pages were already cached under.
        pipe.delete(names_key(tournament_id), stats_key(tournament_id))
        pipe.hset(meta_key(tournament_id), "n", time.time_ns() // 1000)
        pipe.set(ready_key(tournament_id), timezone.now().isoformat())
        pipe.execute()
        BoardState.objects.filter(tournament_id=tournament_id).update(projection_stale=False)
    return {"members": members, "rounds": len(round_ids), "leagues": len(league_ids)}


def projection_league_build(*, tournament_id: int, league_id: int) -> bool:
    """Build one league's set if the tournament lock is free right now; False when it is busy.

    Reads call this for a league whose set is missing or out of date: a small
    league costs one query, and a busy lock means the read is answered from the
    database instead.
    """
    client = redis_client()
    with tournament_lock(tournament_id=tournament_id, wait_seconds=0) as acquired:
        if not acquired:
            return False
        # Taken before the rows: a change in between makes the next read rebuild again.
        fingerprint = league_fingerprint_now(league_id=league_id)
        _fill_league(client, tournament_id=tournament_id, league_id=league_id)
        league_snapshot_fill(tournament_id=tournament_id, league_id=league_id, client=client)
        client.hset(league_fingerprints_key(tournament_id), league_id, fingerprint)
        client.sadd(leagues_ready_key(tournament_id), league_id)
    return True
