"""The Redis projection of the leaderboards (ARCHITECTURE.md "Data stores").

One sorted set per board, all of a tournament's keys in one Redis Cluster hash
slot through the `{t:ID}` tag:

    lb:{t:7}            the tournament board
    lb:{t:7}:r:3        the round table of round 3
    lb:{t:7}:l:42       league 42 (its members with their tournament totals)
    lb:{t:7}:meta       hash: v (the boards' version), at (as_of, ISO 8601)
    lb:{t:7}:ready      present once the tournament's sets were built from the database
    lb:{t:7}:leagues    set of league ids whose sets are built
    lb:{t:7}:leagues:fp hash: league id -> the membership fingerprint its set was built from

Members are zero-padded ids and scores are the negated `board_score`, so an
ascending ZRANGE lists points desc, exact hits desc, then member id asc: the
order of SCORING.md, with ties listed by id because equal scores sort by
member string. rank = 1 + ZCOUNT(-inf, (score).

The database is the source of truth; every value written here is an absolute
total read back from it (never an increment), so replaying a write is harmless
and a rebuild restores everything. Writers serialise per tournament on the
tournament lock so a slower write can never overwrite a newer total.
"""

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.leaderboards import metrics
from apps.leaderboards.ranking import board_score

logger = logging.getLogger(__name__)

MEMBER_WIDTH = 12
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

RedisError = (redis.RedisError, OSError)


# --- keys and encoding -----------------------------------------------------
def tournament_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}"


def round_key(tournament_id: int, round_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:r:{round_id}"


def league_key(tournament_id: int, league_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:l:{league_id}"


def meta_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:meta"


def ready_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:ready"


def leagues_ready_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:leagues"


def league_fingerprint(count: int, member_sum: int | None) -> str:
    """What a league's set was built from: its member count and the sum of their ids.

    A read compares it with the league's memberships now: any join or leave
    changes it (a swap of members changes the sum), so a set never outlives
    the membership it was built from, whoever changed the league.
    """
    return f"{count}:{member_sum or 0}"


def league_fingerprint_now(*, league_id: int) -> str:
    from django.db.models import Count, Sum

    from apps.leaderboards.models import LeagueMembership

    now = LeagueMembership.objects.filter(league_id=league_id).aggregate(n=Count("member_id"), s=Sum("member_id"))
    return league_fingerprint(now["n"], now["s"])


def league_fingerprints_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}:leagues:fp"


def member_field(member_id: int) -> bytes:
    return b"%012d" % member_id


def zscore(points: int, exact_hits: int) -> int:
    return -board_score(points, exact_hits)


def zscore_split(score: float) -> tuple[int, int]:
    """(points, exact_hits) back from a stored score."""
    from apps.leaderboards.ranking import EXACT_BASE

    value = -int(score)
    return value // EXACT_BASE, value % EXACT_BASE


# --- the client ------------------------------------------------------------
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
# After a failure, reads skip Redis for a moment instead of paying a timeout each.
_down_until: dict[str, float] = {}
BREAKER_SECONDS = 1.0


def projection_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=getattr(settings, "LEADERBOARD_REDIS_CONNECT_TIMEOUT", 0.5),
                    socket_timeout=getattr(settings, "LEADERBOARD_REDIS_TIMEOUT", 2.0),
                    health_check_interval=30,
                )
                _clients[url] = client
    return client


def redis_available() -> bool:
    """Whether reads should try Redis now (configured, and not failed in the last moment)."""
    return projection_enabled() and _down_until.get(settings.REDIS_URL, 0.0) <= time.monotonic()


def redis_failed(exc: BaseException) -> None:
    _down_until[settings.REDIS_URL] = time.monotonic() + BREAKER_SECONDS
    logger.warning("leaderboard projection unavailable: %s", exc)


def projection_clients_reset() -> None:
    """Forget cached connections (after REDIS_URL changes, or in a forked child)."""
    with _clients_lock:
        for client in _clients.values():
            try:
                client.close()
            except Exception:  # closing a dead connection may fail; it is discarded anyway
                pass
        _clients.clear()
        _down_until.clear()


def projection_ready(*, tournament_id: int) -> bool:
    """Whether the tournament's sets were built and may be moved incrementally; False when Redis is away."""
    if not projection_enabled():
        return False
    try:
        return bool(redis_client().exists(ready_key(tournament_id)))
    except RedisError as exc:
        redis_failed(exc)
        return False


# --- incremental moves ----------------------------------------------------
def projection_move(
    *,
    tournament_id: int,
    rows: Iterable[Sequence[int]],
    version: int,
    as_of: datetime,
    client: redis.Redis | None = None,
) -> set[str]:
    """Write the new totals of the members that changed; returns the live board names touched.

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
    boards: set[str] = set()
    with metrics.timed(metrics.redis_write_seconds):
        pipe = client.pipeline(transaction=False)
        queued = 0  # members in the pipeline not yet sent
        for (kind, key_id), args in by_key.items():
            if kind == KIND_TOURNAMENT:
                key = tournament_key(tournament_id)
                boards.add(f"tournament:{tournament_id}")
            elif kind == KIND_ROUND:
                key = round_key(tournament_id, key_id)
            else:
                key = league_key(tournament_id, key_id)
                boards.add(f"league:{key_id}")
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
                pipe.execute_command("ZREM", round_key(tournament_id, key_id), *members[start : start + ZADD_CHUNK])
        pipe.hset(meta_key(tournament_id), mapping={"v": version, "at": as_of.isoformat()})
        pipe.execute()
    return boards


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
        pipe.delete(league_key(tournament_id, league_id))
        pipe.execute()
    except RedisError as exc:
        redis_failed(exc)
        projection_mark_stale(tournament_id=tournament_id)


def projection_mark_stale(*, tournament_id: int) -> None:
    """Record in the database that Redis missed a write; the sweeper rebuilds the tournament."""
    from apps.leaderboards.models import BoardState

    try:
        updated = BoardState.objects.filter(tournament_id=tournament_id).update(projection_stale=True)
        if not updated:
            BoardState.objects.get_or_create(tournament_id=tournament_id, defaults={"projection_stale": True})
    except Exception as exc:  # the database may be what failed; the rebuild command still fixes it
        logger.error("could not mark the projection of tournament %s stale: %s", tournament_id, exc)


# --- rebuilds ---------------------------------------------------------------
def round_ids_with_rows(*, tournament_id: int) -> list[int]:
    """The tournament's rounds that have a round table (round rows are keyed by round, not tournament)."""
    from apps.leaderboards.models import RoundStanding
    from apps.matches.models import Round

    return [
        round_id
        for round_id in Round.objects.filter(tournament_id=tournament_id).order_by("id").values_list("id", flat=True)
        if RoundStanding.objects.filter(round_id=round_id).exists()
    ]


def _standing_table() -> str:
    from apps.leaderboards.models import Standing

    return Standing._meta.db_table


def _round_standing_table() -> str:
    from apps.leaderboards.models import RoundStanding

    return RoundStanding._meta.db_table


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
    from apps.leaderboards.models import LeagueMembership

    return (
        f"SELECT lm.member_id, COALESCE(s.points, 0), COALESCE(s.exact_hits, 0) "
        f"FROM {LeagueMembership._meta.db_table} lm "
        f"LEFT JOIN {_standing_table()} s ON s.tournament_id = %s AND s.member_id = lm.member_id "
    )


def _fill_league(client: redis.Redis, *, tournament_id: int, league_id: int) -> int:
    sql = _league_sql() + "WHERE lm.league_id = %s AND lm.member_id > %s ORDER BY lm.member_id LIMIT %s"
    return _fill(client, league_key(tournament_id, league_id), _chunks(sql, [tournament_id, league_id], 1), None)


def _fill_leagues(client: redis.Redis, *, tournament_id: int, progress: Callable[[int], None] | None) -> list[int]:
    """Rebuild every league set of the tournament in one keyset pass over its memberships.

    Leagues are many and mostly small: one query per league would cost more
    than the rows. Each league's set is written to a temporary key and renamed
    over the live one in the same pipeline, so no reader sees it half-built.
    """
    from apps.leaderboards.models import League

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
        temporary = f"{league_key(tournament_id, current)}:rebuild"
        pipe.delete(temporary)
        for start in range(0, len(args), 2 * ZADD_CHUNK):
            pipe.execute_command("ZADD", temporary, *args[start : start + 2 * ZADD_CHUNK])
        pipe.rename(temporary, league_key(tournament_id, current))
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
    from apps.leaderboards.models import BoardState, League
    from apps.leaderboards.services.settlement_locks import tournament_lock

    client = redis_client()
    with tournament_lock(tournament_id=tournament_id):
        state, _ = BoardState.objects.get_or_create(tournament_id=tournament_id)
        client.delete(ready_key(tournament_id), leagues_ready_key(tournament_id), league_fingerprints_key(tournament_id))
        members = _fill(
            client,
            tournament_key(tournament_id),
            _chunks(
                f"SELECT member_id, points, exact_hits FROM {_standing_table()} "
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
                round_key(tournament_id, round_id),
                _chunks(
                    f"SELECT member_id, points, exact_hits FROM {_round_standing_table()} "
                    f"WHERE round_id = %s AND member_id > %s ORDER BY member_id LIMIT %s",
                    [round_id],
                    1,
                ),
                progress,
            )
        league_ids = set(League.objects.filter(tournament_id=tournament_id).values_list("id", flat=True))
        filled = set(_fill_leagues(client, tournament_id=tournament_id, progress=progress))
        # A league without members (never left so by the services) has no set to show.
        for league_id in league_ids - filled:
            client.delete(league_key(tournament_id, league_id))
            client.hset(league_fingerprints_key(tournament_id), league_id, league_fingerprint(0, 0))
            client.sadd(leagues_ready_key(tournament_id), league_id)
        league_ids = sorted(league_ids)
        as_of = state.as_of or timezone.now()
        pipe = client.pipeline(transaction=True)
        pipe.hset(meta_key(tournament_id), mapping={"v": state.version, "at": as_of.isoformat()})
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
    from apps.leaderboards.services.settlement_locks import tournament_lock

    client = redis_client()
    with tournament_lock(tournament_id=tournament_id, wait_seconds=0) as acquired:
        if not acquired:
            return False
        # Taken before the rows: a change in between makes the next read rebuild again.
        fingerprint = league_fingerprint_now(league_id=league_id)
        _fill_league(client, tournament_id=tournament_id, league_id=league_id)
        client.hset(league_fingerprints_key(tournament_id), league_id, fingerprint)
        client.sadd(leagues_ready_key(tournament_id), league_id)
    return True
