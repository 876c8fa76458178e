"""Leaderboard reads: served from the Redis projection, from the database when Redis cannot answer.

Both paths list rows in SCORING.md order and share ranks the same way, with
the rules of `ranking` (rank = 1 + the number of rows strictly ahead). They
only read: a board whose Redis set is missing or out of date is answered from
the database with `projection_missing` set, and the caller that can write
(the API view, through `services.board_projection_repair`) has it rebuilt.
"""

import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.common.errors import NotFound
from apps.guesses.models import Guess
from apps.leaderboards.boards.keys import LEAGUE, ROUND, TOURNAMENT, BoardKey, member_field, meta_key, ready_key
from apps.leaderboards.boards.keys import league_fingerprints_key, leagues_ready_key, names_key, details_key, stats_key
from apps.leaderboards.boards.keys import league_snapshot_key, snapshot_key
from apps.leaderboards.boards.projection_read import (
    RedisError,
    redis_script,
    league_fingerprint_now,
    redis_available,
    redis_client,
    redis_failed,
    zscore_split,
)
from apps.leaderboards.boards.ranking import ahead_sql, order_by_sql, ranks_listed
from apps.leaderboards.boards.snapshots.selectors import snapshot_ranks
from apps.leaderboards.models import ROUND_EARNED_SQL, BoardState, RoundStanding, Standing
from apps.leagues.models import LeagueMembership
from apps.leagues.selectors import league_tournament_id
from apps.matches.selectors import match_scored_q
from apps.members.models import Member

logger = logging.getLogger(__name__)

SOURCE_REDIS = "redis"
SOURCE_DATABASE = "database"
TOP_SIZE = 10


def board_resolve(*, board: BoardKey | str) -> BoardKey:
    """The board with its tournament known; NotFound for a malformed name or an unknown league."""
    if isinstance(board, str):
        try:
            board = BoardKey.parse(board)
        except ValueError:
            raise NotFound("not_found", f"No board named {board!r}.") from None
    if board.tournament is not None:
        return board
    tournament_id = league_tournament_id(league_id=board.id)
    if tournament_id is None:
        raise NotFound("not_found", "No league with this id.")
    return board.with_tournament(tournament_id)


@dataclass(frozen=True)
class DetailsFill:
    """Names and row details a Redis read fetched from the database, to be cached for the next read."""

    board: BoardKey
    version: int
    generation: str
    fetched: dict[int, tuple[int, int, str]]  # member id -> (outcome hits, live points, display name)


@dataclass(frozen=True)
class StatsFill:
    """A member's stats worked out at `version`, to be cached for reads at the same version."""

    tournament_id: int
    member_id: int
    version: int
    stats: dict


@dataclass
class _Read:
    """What one read path found: (rank, member id, points, exact hits) rows and the board's state."""

    ranked: list
    total: int
    version: int
    as_of: str | None
    source: str
    # member id -> (outcome hits, live points): what Redis orders by leaves these out
    details: dict | None = None
    names: dict | None = None  # member id -> display name, those found in the Redis name cache
    generation: str = ""  # the board's name generation (meta n) the Redis read saw
    live_matches: list | None = None  # the tournament's matches in play as the boards count them
    # member id -> rank on this board at the latest rank snapshot; None: not read (`_finish` looks them up).
    snapshot_ranks: dict | None = None
    # A league's snapshot ranks in Redis were built for an older snapshot (or never): the league wants a rebuild.
    snapshot_stale: bool = False


# --- public selectors ---------------------------------------------------------
def leaderboard_page(*, board: BoardKey | str, limit: int, offset: int) -> dict:
    """Rows `offset`..`offset+limit` of a board.

    Returns {rows: [{rank, member: {id, display_name}, points, exact_hits,
    outcome_hits, live_points}], total, version, as_of (ISO 8601), live,
    live_matches, source ("redis" or "database"), projection_missing (the
    Redis set should be rebuilt)}.
    """
    target = board_resolve(board=board)
    found, missing = _redis_read(target, lambda client: _redis_page(client, target, offset, limit))
    if found is None:
        found = _db_page(target, offset, limit)
    return _finish(target, found, missing)


def leaderboard_around(*, board: BoardKey | str, member_id: int, around: int) -> dict:
    """The member's row with `around` rows either side, plus `me` (the member's row).

    NotFound `not_participating` when the member is not on the board.
    """
    target = board_resolve(board=board)
    found, missing = _redis_read(target, lambda client: _redis_around(client, target, member_id, around))
    if found is None:
        found = _db_around(target, member_id, around)
    if found is False:
        raise NotFound("not_participating", "You are not on this leaderboard.")
    out = _finish(target, found, missing)
    out["me"] = next((row for row in out["rows"] if row["member"]["id"] == member_id), None)
    return out


def leaderboard_top(*, board: BoardKey) -> tuple[int, list[dict]]:
    """The board's version and its top 10 rows (the live messages' `top`)."""
    # What the read fetched is not cached from here: the live push reads a
    # few boards once per change, the API reads them all the time.
    page = leaderboard_page(board=board, limit=TOP_SIZE, offset=0)
    return int(page["version"]), page["rows"]


# Members whose ranks one `member_ranks` round trip reads: one Lua call and one
# live-points query per batch, whatever the number of members asked for.
MEMBER_RANK_BATCH = 500


def member_ranks(*, board: BoardKey | str, member_ids: list[int]) -> tuple[int, dict[int, dict]]:
    """The board's version and, per member on the board, `{rank, total, points, live_points}`.

    Members not on the board are left out. A tournament or league board only
    (round tables have no live stream). Per batch of MEMBER_RANK_BATCH
    members: one Redis script (every member's score and the count strictly
    ahead of it, the total and the version, from one consistent state) and one
    query for their live points; without Redis, or while the board's set is
    not built, one database query per batch answers the same. On a league
    board the points are the member's tournament totals and the rank is
    within the league (SCORING.md "Ranking").
    """
    target = board_resolve(board=board)
    if target.kind == ROUND:
        raise ValueError("member ranks are read on tournament and league boards")
    version = 0
    ranks: dict[int, dict] = {}
    unique = list(dict.fromkeys(int(member_id) for member_id in member_ids))
    for start in range(0, len(unique), MEMBER_RANK_BATCH):
        batch = unique[start : start + MEMBER_RANK_BATCH]
        found, _ = _redis_read(target, lambda client: _redis_member_ranks(client, target, batch))
        if found is None:
            found = _db_member_ranks(target, batch)
        batch_version, batch_ranks = found
        version = max(version, batch_version)
        ranks.update(batch_ranks)
    if not unique:
        found, _ = _redis_read(target, lambda client: _redis_member_ranks(client, target, []))
        version = (found or _db_member_ranks(target, []))[0]
    return version, ranks


def board_versions(*, boards: list[BoardKey]) -> dict[str, int]:
    """The current version of each board (by public name): its tournament's, from Redis, else the database.

    One pipelined read of the tournaments' versions, whatever the number of
    boards (a league board named without its tournament costs a query to find it).
    """
    targets = [board_resolve(board=board) for board in boards]
    tournaments = sorted({target.tournament for target in targets})
    versions: dict[int, int] = {}
    if tournaments and redis_available():
        try:
            pipe = redis_client().pipeline(transaction=False)
            for tournament_id in tournaments:
                pipe.hget(meta_key(tournament_id), "v")
            for tournament_id, version in zip(tournaments, pipe.execute()):
                if version is not None:
                    versions[tournament_id] = int(version)
        except RedisError as exc:
            redis_failed(exc)
    missing = [tournament_id for tournament_id in tournaments if tournament_id not in versions]
    if missing:
        stored = dict(BoardState.objects.filter(tournament_id__in=missing).values_list("tournament_id", "version"))
        versions.update({tournament_id: stored.get(tournament_id, 0) for tournament_id in missing})
    return {str(target): versions[target.tournament] for target in targets}


def member_stats(*, tournament_id: int, member_id: int) -> dict:
    """A member's standing in a tournament with rank, percentile and round-by-round ranks.

    percentile = 100 * (total - rank + 1) / total: the share of participants
    the member is level with or ahead of (100 for the leader).

    Served from Redis in one round trip when the member's stats were worked
    out at the board's current version less than LEADERBOARD_CACHE_SECONDS
    ago (the age bound covers the settled-guess count, which turns when a
    settlement finishes, after its last version bump).
    Worked out afresh, the answer carries a `cache_fill` (a `StatsFill`, or
    None) for the caller to store with `read_cache.read_cache_fill`.
    """
    cached = _stats_cached(tournament_id, member_id)
    if cached is not None and cached[1] is not None:
        return {**cached[1], "cache_fill": None}
    stats = _member_stats_compute(tournament_id=tournament_id, member_id=member_id)
    fill = None
    if cached is not None and stats["source"] == SOURCE_REDIS:
        fill = StatsFill(tournament_id=tournament_id, member_id=member_id, version=cached[0], stats=dict(stats))
    return {**stats, "cache_fill": fill}


_STATS_LUA = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
return {1, redis.call('HGET', KEYS[1], 'v') or '', redis.call('HGET', KEYS[3], ARGV[1]) or ''}
"""


def _stats_cached(tournament_id: int, member_id: int) -> tuple[int, dict | None] | None:
    """(the board's version, the member's stats cached at it or None); None when Redis cannot answer."""
    if not redis_available():
        return None
    keys = [meta_key(tournament_id), ready_key(tournament_id), stats_key(tournament_id)]
    try:
        reply = redis_script(redis_client(), _STATS_LUA)(keys=keys, args=[member_field(member_id)])
    except RedisError as exc:
        redis_failed(exc)
        return None
    if reply[0] == 0:
        return None
    version = int(reply[1] or 0)
    stored_at, _, rest = reply[2].partition(b"|")
    written, _, stats = rest.partition(b"|")
    fresh = (
        stats
        and int(stored_at) == version
        and 0 <= time.time() - float(written) < settings.LEADERBOARD_CACHE_SECONDS
    )
    return version, (json.loads(stats) if fresh else None)


def _member_stats_compute(*, tournament_id: int, member_id: int) -> dict:
    standing = (
        Standing.objects.filter(tournament_id=tournament_id, member_id=member_id)
        .values("points", "exact_hits", "outcome_hits", "live_points")
        .first()
    )
    if standing is None:
        raise NotFound("not_participating", "This member does not take part in this tournament.")
    standing["settled_guesses"] = settled_guess_count(tournament_id=tournament_id, member_id=member_id)
    rounds = list(
        # Keyed by (round, member): look the member up round by round.
        RoundStanding.objects.earned()
        .filter(round__tournament_id=tournament_id, member_id=member_id)
        .order_by("round__order", "round_id")
        .values_list("round_id", "points", "exact_hits")
    )
    target = BoardKey.of_tournament(tournament_id)
    ranks, _ = _redis_read(target, lambda client: _redis_stats_ranks(client, tournament_id, member_id, rounds))
    source = SOURCE_REDIS
    if ranks is None:
        source = SOURCE_DATABASE
        ranks = _db_stats_ranks(tournament_id, standing, rounds)
    rank, total, round_ranks = ranks
    return {
        "rank": rank,
        "total": total,
        "percentile": round(100 * (total - rank + 1) / total, 2) if total else 0.0,
        **standing,
        "rounds": [
            {"round": round_id, "points": points, "rank": round_rank}
            for (round_id, points, _), round_rank in zip(rounds, round_ranks)
        ],
        "source": source,
    }


def settled_guess_count(*, tournament_id: int, member_id: int) -> int:
    """Guesses of the member whose points are counted, provisionally in play included (counted, not stored)."""
    return Guess.objects.filter(
        Q(member_id=member_id, match__tournament_id=tournament_id) & match_scored_q(prefix="match__")
    ).count()


# --- Redis path -----------------------------------------------------------------
# One round trip per read: the readiness check, the count, the rows, the
# count strictly ahead of the first row, the board's version and matches in
# play, and the cached display names and details (outcome hits, live points)
# of the listed members run as one script (all
# keys share the tournament's hash slot). Scores come back as strings; they
# are integers well inside a double's exact range.
_DETAILS_LUA = """
local names, outcomes, snap = {}, {}, {}
if #entries > 0 then
  local members = {}
  for i = 1, #entries, 2 do members[#members + 1] = entries[i] end
  names = redis.call('HMGET', KEYS[4], unpack(members))
  outcomes = redis.call('HMGET', KEYS[5], unpack(members))
  if KEYS[7] == KEYS[6] then
    -- The tournament's ranks at its latest snapshot (a round table's rows ignore them).
    snap = redis.call('HMGET', KEYS[6], unpack(members))
  else
    -- A league's ranks at the tournament's latest snapshot, or false: not built for it (yet).
    if redis.call('HGET', KEYS[7], '@') == redis.call('HGET', KEYS[6], '@') then
      snap = redis.call('HMGET', KEYS[7], unpack(members))
    else
      snap = false
    end
  end
end
local meta = redis.call('HMGET', KEYS[2], 'v', 'at', 'n', 'lm')
return {1, redis.call('ZCARD', KEYS[1]), ahead, entries, meta[1] or '', meta[2] or '', start, names, outcomes, meta[3] or '',
        meta[4] or '', snap}
"""
# Before any row: a board is read from Redis once the tournament's sets and
# its snapshot hash are built (the hash exists even before the first snapshot).
_READY_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[6]) == 0 then return {0} end
"""
_PAGE_LUA = _READY_LUA + """
local entries = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local ahead = 0
if #entries > 0 then ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. entries[2]) end
local start = tonumber(ARGV[1])
""" + _DETAILS_LUA
_AROUND_LUA = _READY_LUA + """
local position = redis.call('ZRANK', KEYS[1], ARGV[1])
if not position then return {1, -1} end
local around = tonumber(ARGV[2])
local start = position - around
if start < 0 then start = 0 end
local entries = redis.call('ZRANGE', KEYS[1], start, position + around, 'WITHSCORES')
local ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. entries[2])
""" + _DETAILS_LUA

def _redis_read(target: BoardKey, read) -> tuple:
    """(what `read` found in Redis or None, whether the board's set is missing and should be rebuilt).

    None with `missing` False: Redis is not configured, or away (the breaker
    then skips it for a moment).
    """
    if not redis_available():
        return None, False
    try:
        client = redis_client()
        if target.kind == LEAGUE and not _league_ready(client, target):
            return None, True
        found = read(client)
        # None: never built, or lost with Redis; the database answers until a rebuild.
        return found, found is None or bool(getattr(found, "snapshot_stale", False))
    except RedisError as exc:
        redis_failed(exc)
        return None, False


def _league_ready(client, target: BoardKey) -> bool:
    """Whether the league's set is built and still matches the league's membership."""
    pipe = client.pipeline(transaction=False)
    pipe.exists(ready_key(target.tournament))
    pipe.sismember(leagues_ready_key(target.tournament), target.id)
    pipe.hget(league_fingerprints_key(target.tournament), target.id)
    tournament_ready, built, built_from = pipe.execute()
    return bool(
        tournament_ready
        and built
        and built_from is not None
        and built_from.decode() == league_fingerprint_now(league_id=target.id)
    )


def _ranked_entries(entries: list, start: int, first_ahead: int) -> list[tuple[int, int, int, int]]:
    """(rank, member id, points, exact hits) for consecutive [member, score, ...] entries listed from `start`."""
    rows = [
        (int(entries[index]), *zscore_split(float(entries[index + 1]))) for index in range(0, len(entries), 2)
    ]
    ranks = ranks_listed([(points, exact) for _, points, exact in rows], start=start, first_ahead=first_ahead)
    return [(rank, *row) for rank, row in zip(ranks, rows)]


def _ranked_apart(entries: list, aheads: list) -> list[tuple[int, int, int, int]]:
    """(rank, member id, points, exact hits) for [member, score, ...] entries that need not be consecutive,
    each with the count of members strictly ahead of it."""
    return [
        (int(ahead) + 1, int(entries[2 * index]), *zscore_split(float(entries[2 * index + 1])))
        for index, ahead in enumerate(aheads)
    ]


def _scripted(reply) -> _Read | None:
    """A read script's reply (`_DETAILS_LUA`'s): consecutive rows when `ahead` is a count, rows apart when it is
    a list of counts, one per entry (`social`'s scripts)."""
    if reply[0] == 0:
        return None
    _, total, ahead, entries, version, as_of, start, names, outcomes, generation, live_matches, snap = reply
    version = int(version or 0)
    ids = [int(entries[index]) for index in range(0, len(entries), 2)]
    return _Read(
        ranked=(
            _ranked_apart(entries, ahead) if isinstance(ahead, list) else _ranked_entries(entries, int(start), int(ahead))
        ),
        total=int(total),
        version=version,
        as_of=as_of.decode() if as_of else None,
        source=SOURCE_REDIS,
        details=details_cached(ids, outcomes, version=version),
        names={member_id: name.decode() for member_id, name in zip(ids, names) if name is not None},
        generation=generation.decode(),
        live_matches=json.loads(live_matches) if live_matches else [],
        snapshot_ranks=_snapshot_ranks_scripted(ids, snap),
        snapshot_stale=snap is None,
    )


def details_cached(ids: list[int], values: list, *, version: int) -> dict[int, tuple[int, int]]:
    """member id -> (outcome hits, live points) from the details hash, only those stored at `version`.

    Values are "v:outcome hits:live points"; only details stored at the
    version read are the board's now (an older two-part value is a miss).
    """
    cached = {}
    for member_id, value in zip(ids, values):
        if value is not None:
            parts = value.split(b":")
            if len(parts) == 3 and int(parts[0]) == version:
                cached[member_id] = (int(parts[1]), int(parts[2]))
    return cached


def _snapshot_ranks_scripted(ids: list[int], snap: list | None) -> dict[int, int] | None:
    """The script's snapshot answer: "rank:score" (tournament) or a league rank per member; None when the
    league's ranks are not built for the latest snapshot."""
    if snap is None:
        return None
    return {
        member_id: int(value.partition(b":")[0]) for member_id, value in zip(ids, snap) if value is not None
    }


def _board_keys(target: BoardKey) -> list[str]:
    return [
        target.redis_key,
        meta_key(target.tournament),
        ready_key(target.tournament),
        names_key(target.tournament),
        details_key(target),
        snapshot_key(target.tournament),
        # A league's own ranks at the snapshot; any other board names the tournament's hash again (see
        # `_DETAILS_LUA`: the two keys being equal is how the script tells a league from the rest).
        league_snapshot_key(target) if target.kind == LEAGUE else snapshot_key(target.tournament),
    ]



def _redis_page(client, target: BoardKey, offset: int, limit: int) -> _Read | None:
    args = [offset, offset + limit - 1]
    return _scripted(redis_script(client, _PAGE_LUA)(keys=_board_keys(target), args=args))


def _redis_around(client, target: BoardKey, member_id: int, around: int):
    args = [member_field(member_id), around]
    reply = redis_script(client, _AROUND_LUA)(keys=_board_keys(target), args=args)
    if reply[0] == 1 and reply[1] == -1:
        return False
    return _scripted(reply)


def _redis_stats_ranks(client, tournament_id: int, member_id: int, rounds: list) -> tuple[int, int, list[int]] | None:
    member = member_field(member_id)
    keys = [BoardKey.of_tournament(tournament_id).redis_key] + [
        BoardKey.of_round(tournament_id, round_id).redis_key for round_id, _, _ in rounds
    ]
    pipe = client.pipeline(transaction=False)
    pipe.exists(ready_key(tournament_id))
    pipe.zcard(keys[0])
    for key in keys:
        pipe.zscore(key, member)
    ready, total, *scores = pipe.execute()
    if not ready or scores[0] is None:
        # Listed in the database but not (yet) in the projection: the database answers.
        return None
    pipe = client.pipeline(transaction=False)
    for key, score in zip(keys, scores):
        pipe.zcount(key, "-inf", f"({int(score)}" if score is not None else "+inf")
    aheads = pipe.execute()
    return aheads[0] + 1, total, [ahead + 1 for ahead in aheads[1:]]


# Every member's score, then the number of members strictly ahead of it
# (rank = 1 + ZCOUNT(-inf, (score)), the board's size and version: one call,
# one consistent state (all keys share the tournament's hash slot).
_MEMBER_RANKS_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local out = {1, redis.call('ZCARD', KEYS[1]), redis.call('HGET', KEYS[2], 'v') or ''}
for i = 1, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score then
    out[#out + 1] = score
    out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score)
  else
    out[#out + 1] = ''
    out[#out + 1] = -1
  end
end
return out
"""


def _redis_member_ranks(client, target: BoardKey, batch: list[int]) -> tuple[int, dict[int, dict]] | None:
    keys = [target.redis_key, meta_key(target.tournament), ready_key(target.tournament)]
    reply = redis_script(client, _MEMBER_RANKS_LUA)(keys=keys, args=[member_field(member_id) for member_id in batch])
    if reply[0] == 0:
        return None
    total, version = int(reply[1]), int(reply[2] or 0)
    found: dict[int, dict] = {}
    for index, member_id in enumerate(batch):
        score, ahead = reply[3 + 2 * index], int(reply[4 + 2 * index])
        if ahead < 0:
            continue
        points, _ = zscore_split(float(score))
        found[member_id] = {"rank": ahead + 1, "total": total, "points": points, "live_points": 0}
    if found:
        # The live part of the points is shown apart but does not rank, so the
        # projection does not hold it: one query per batch, by the unique key.
        # A settlement committing between the script and this query shows in
        # the message of its own version, which follows.
        for member_id, live_points in Standing.objects.filter(
            tournament_id=target.tournament, member_id__in=list(found)
        ).values_list("member_id", "live_points"):
            found[member_id]["live_points"] = live_points
    return version, found


# --- database path ----------------------------------------------------------------
def _source(target: BoardKey) -> tuple[str, list]:
    """A subquery of (member_id, points, exact_hits, outcome_hits, live_points) rows of the board."""
    if target.kind == TOURNAMENT:
        return (
            f"SELECT member_id, points, exact_hits, outcome_hits, live_points FROM {Standing._meta.db_table} "
            f"WHERE tournament_id = %s",
            [target.tournament],
        )
    if target.kind == ROUND:
        return (
            f"SELECT member_id, points, exact_hits, outcome_hits, live_points FROM {RoundStanding._meta.db_table} "
            f"WHERE round_id = %s AND tournament_id = %s AND {ROUND_EARNED_SQL}",
            [target.id, target.tournament],
        )
    return (
        f"SELECT lm.member_id AS member_id, COALESCE(s.points, 0) AS points, "
        f"COALESCE(s.exact_hits, 0) AS exact_hits, COALESCE(s.outcome_hits, 0) AS outcome_hits, "
        f"COALESCE(s.live_points, 0) AS live_points "
        f"FROM {LeagueMembership._meta.db_table} lm LEFT JOIN {Standing._meta.db_table} s "
        f"ON s.tournament_id = %s AND s.member_id = lm.member_id WHERE lm.league_id = %s",
        [target.tournament, target.id],
    )


def _db_state(target: BoardKey) -> tuple[int, str | None, list]:
    state = (
        BoardState.objects.filter(tournament_id=target.tournament)
        .values_list("version", "as_of", "live_matches")
        .first()
    )
    if state is None:
        return 0, None, []
    version, as_of, live_matches = state
    return version, as_of.isoformat() if as_of else None, live_matches or []


def _db_page(target: BoardKey, offset: int, limit: int) -> _Read:
    source, params = _source(target)
    # One statement, so the page, the count ahead of its first row and the
    # total come from the same snapshot even while settlement commits.
    sql = (
        f"WITH b AS ({source}), "
        f"page AS (SELECT member_id, points, exact_hits, outcome_hits, live_points FROM b {order_by_sql()} "
        f"LIMIT %s OFFSET %s), "
        f"head AS (SELECT points, exact_hits FROM page {order_by_sql()} LIMIT 1), "
        f"c AS (SELECT COUNT(*) AS total, SUM(CASE WHEN {ahead_sql('b', 'head')} THEN 1 ELSE 0 END) AS ahead "
        f"FROM b CROSS JOIN head) "
        f"SELECT page.member_id, page.points, page.exact_hits, page.outcome_hits, c.total, c.ahead, page.live_points "
        f"FROM page CROSS JOIN c {order_by_sql('page')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + [limit, offset])
        rows = cursor.fetchall()
        if rows:
            total, ahead = rows[0][4], rows[0][5] or 0
        else:
            cursor.execute(f"SELECT COUNT(*) FROM ({source}) b", params)
            total, ahead = cursor.fetchone()[0], 0
    ranks = ranks_listed([(points, exact) for _, points, exact, *_ in rows], start=offset, first_ahead=ahead)
    version, as_of, live_matches = _db_state(target)
    return _Read(
        ranked=[(rank, row[0], row[1], row[2]) for rank, row in zip(ranks, rows)],
        details={row[0]: (row[3], row[6]) for row in rows},
        total=total,
        version=version,
        as_of=as_of,
        source=SOURCE_DATABASE,
        live_matches=live_matches,
    )


def _db_around(target: BoardKey, member_id: int, around: int):
    source, params = _source(target)
    sql = (
        f"WITH b AS ({source}), me AS (SELECT points, exact_hits FROM b WHERE member_id = %s) "
        f"SELECT COUNT(*), SUM(CASE WHEN {ahead_sql('b', 'me')} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN b.points = me.points AND b.exact_hits = me.exact_hits AND b.member_id < %s "
        f"THEN 1 ELSE 0 END) FROM b CROSS JOIN me"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + [member_id, member_id])
        total, ahead, tied_before = cursor.fetchone()
    if not total:
        return False
    position = (ahead or 0) + (tied_before or 0)
    start = max(0, position - around)
    page = _db_page(target, start, position - start + around + 1)
    page.total = total
    return page


def _db_stats_ranks(tournament_id: int, standing: dict, rounds: list) -> tuple[int, int, list[int]]:
    def count_ahead(source: str, params: list, points: int, exact_hits: int) -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), SUM(CASE WHEN {ahead_sql('b', 'me')} THEN 1 ELSE 0 END) "
                f"FROM ({source}) b CROSS JOIN (SELECT %s AS points, %s AS exact_hits) me",
                params + [points, exact_hits],
            )
            total, ahead = cursor.fetchone()
        return total, ahead or 0

    source, params = _source(BoardKey.of_tournament(tournament_id))
    total, ahead = count_ahead(source, params, standing["points"], standing["exact_hits"])
    round_ranks = []
    for round_id, points, exact_hits in rounds:
        rsource, rparams = _source(BoardKey.of_round(tournament_id, round_id))
        _, rahead = count_ahead(rsource, rparams, points, exact_hits)
        round_ranks.append(rahead + 1)
    return ahead + 1, total, round_ranks


def _db_member_ranks(target: BoardKey, batch: list[int]) -> tuple[int, dict[int, dict]]:
    """`member_ranks` of one batch in one statement, by the rules of `ranking`.

    The board is read once and grouped by rank key (a few thousand distinct
    (points, exact hits) pairs on a large board), so each member's count ahead
    sums the groups strictly ahead of it instead of scanning the board per
    member; the batch's own rows are looked up by their unique keys.
    """
    source, params = _source(target)
    members, member_params = _member_rows(target, batch)
    sql = (
        f"WITH g AS (SELECT points, exact_hits, COUNT(*) AS n FROM ({source}) b GROUP BY points, exact_hits), "
        f"me AS ({members}) "
        f"SELECT me.member_id, me.points, "
        f"(SELECT COALESCE(SUM(g.n), 0) FROM g WHERE {ahead_sql('g', 'me')}), "
        f"(SELECT COALESCE(SUM(g.n), 0) FROM g), me.live_points, "
        f"(SELECT version FROM {BoardState._meta.db_table} WHERE tournament_id = %s) "
        f"FROM me"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + member_params + [target.tournament])
        rows = cursor.fetchall()
    if not rows:
        version, _ = _db_state(target)
        return version, {}
    found = {
        member_id: {"rank": int(ahead) + 1, "total": int(total), "points": points, "live_points": live_points}
        for member_id, points, ahead, total, live_points, _ in rows
    }
    return int(rows[0][5] or 0), found


def _member_rows(target: BoardKey, batch: list[int]) -> tuple[str, list]:
    """(member_id, points, exact_hits, live_points) of the batch's members on a tournament or league board."""
    if target.kind == TOURNAMENT:
        return (
            f"SELECT member_id, points, exact_hits, live_points FROM {Standing._meta.db_table} "
            f"WHERE tournament_id = %s AND member_id = ANY(%s)",
            [target.tournament, list(batch)],
        )
    # A league lists its members who never joined the tournament with zeros, as `_source` does.
    return (
        f"SELECT lm.member_id AS member_id, COALESCE(s.points, 0) AS points, "
        f"COALESCE(s.exact_hits, 0) AS exact_hits, COALESCE(s.live_points, 0) AS live_points "
        f"FROM {LeagueMembership._meta.db_table} lm LEFT JOIN {Standing._meta.db_table} s "
        f"ON s.tournament_id = %s AND s.member_id = lm.member_id WHERE lm.league_id = %s AND lm.member_id = ANY(%s)",
        [target.tournament, target.id, list(batch)],
    )


# --- rows -------------------------------------------------------------------------------
def _finish(target: BoardKey, found: _Read, missing: bool) -> dict:
    fill = None
    ids = [member_id for _, member_id, _, _ in found.ranked]
    names = dict(found.names or {})
    details = dict(found.details or {})
    wanted = [member_id for member_id in ids if member_id not in names or member_id not in details]
    if wanted:
        # Redis orders by points and exact hits only: outcome hits, live points
        # and names not cached yet come from the rows themselves, in one query
        # keyed by the primary keys, and are cached for the next read.
        fetched = _details_fetch(target, wanted)
        for member_id, (outcome_hits, live_points, display_name) in fetched.items():
            names.setdefault(member_id, display_name)
            details.setdefault(member_id, (outcome_hits, live_points))
        if found.source == SOURCE_REDIS and fetched:
            fill = DetailsFill(board=target, version=found.version, generation=found.generation, fetched=fetched)
    # Only the tournament board is snapshotted: a round table's rows have no delta.
    previous = {} if target.kind == ROUND else found.snapshot_ranks
    if previous is None:
        previous = snapshot_ranks(board=target, member_ids=ids)
    rows = [
        {
            "rank": rank,
            "member": {"id": member_id, "display_name": names.get(member_id, "")},
            "points": points,
            "exact_hits": exact_hits,
            "outcome_hits": details.get(member_id, (0, 0))[0],
            "live_points": details.get(member_id, (0, 0))[1],
            # SCORING.md: (rank at the latest snapshot) - (rank now); null when the member was not in it.
            "rank_delta": previous[member_id] - rank if member_id in previous else None,
        }
        for rank, member_id, points, exact_hits in found.ranked
    ]
    live_matches = found.live_matches or []
    return {
        "rows": rows,
        "total": found.total,
        "version": found.version,
        "as_of": found.as_of or timezone.now().isoformat(),
        "live": bool(live_matches),
        "live_matches": live_matches,
        "source": found.source,
        "generation": found.generation,
        "projection_missing": missing,
        # What the read fetched that Redis could keep for the next one (`read_cache.read_cache_fill`).
        "cache_fill": fill,
    }


def _details_fetch(target: BoardKey, ids: list[int]) -> dict[int, tuple[int, int, str]]:
    """member id -> (outcome hits on the board, live points, display name), from the database."""
    details: dict[int, tuple[int, int, str]] = {}
    if target.kind == ROUND:
        query = RoundStanding.objects.filter(round_id=target.id, member_id__in=ids)
    else:
        query = Standing.objects.filter(tournament_id=target.tournament, member_id__in=ids)
    for member_id, outcome_hits, live_points, display_name, username in query.values_list(
        "member_id", "outcome_hits", "live_points", "member__display_name", "member__username"
    ):
        details[member_id] = (outcome_hits, live_points, display_name or username)
    absent = [member_id for member_id in ids if member_id not in details]
    if absent:  # a league member who never joined the tournament
        for member_id, display_name, username in Member.objects.filter(pk__in=absent).values_list(
            "id", "display_name", "username"
        ):
            details[member_id] = (0, 0, display_name or username)
    return details


