"""Leaderboard reads: served from the Redis projection, from the database when Redis is away.

Both paths list rows in SCORING.md order (points desc, exact hits desc,
member id asc) and share ranks the same way: rank = 1 + the number of rows
strictly ahead. Within one page only the first row needs counting: every later
row either ties the row above (same rank) or starts a new rank at its position.

Boards are named as the live push names them: "tournament:{id}",
"league:{id}", and "tournament:{id}:round:{round_id}" for a round table.
"""

import logging
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.common.errors import NotFound
from apps.guesses.models import Guess
from apps.leaderboards.models import BoardState, League, LeagueMembership, RoundStanding, SettlementRequest, Standing
from apps.leaderboards.services import projection
from apps.matches.models import Match
from apps.members.models import Member

logger = logging.getLogger(__name__)

SOURCE_REDIS = "redis"
SOURCE_DATABASE = "database"


@dataclass(frozen=True)
class Board:
    kind: str  # "tournament", "round", "league"
    tournament_id: int
    object_id: int  # tournament, round or league id

    @property
    def key(self) -> str:
        if self.kind == "tournament":
            return projection.tournament_key(self.tournament_id)
        if self.kind == "round":
            return projection.round_key(self.tournament_id, self.object_id)
        return projection.league_key(self.tournament_id, self.object_id)


def board_resolve(*, board: str) -> Board:
    """The board named `board`; NotFound for a malformed name or an unknown league."""
    parts = board.split(":")
    try:
        if len(parts) == 2 and parts[0] == "tournament":
            tournament_id = int(parts[1])
            return Board(kind="tournament", tournament_id=tournament_id, object_id=tournament_id)
        if len(parts) == 4 and parts[0] == "tournament" and parts[2] == "round":
            return Board(kind="round", tournament_id=int(parts[1]), object_id=int(parts[3]))
        if len(parts) == 2 and parts[0] == "league":
            league_id = int(parts[1])
            tournament_id = League.objects.filter(pk=league_id).values_list("tournament_id", flat=True).first()
            if tournament_id is None:
                raise NotFound("not_found", "No league with this id.")
            return Board(kind="league", tournament_id=tournament_id, object_id=league_id)
    except ValueError:
        pass
    raise NotFound("not_found", f"No board named {board!r}.")


# --- public selectors ---------------------------------------------------------
def leaderboard_page(*, board: str, limit: int, offset: int) -> dict:
    """Rows `offset`..`offset+limit` of a board.

    Returns {rows: [{rank, member: {id, display_name}, points, exact_hits,
    outcome_hits}], total, version, as_of (ISO 8601), source ("redis" or
    "database")}.
    """
    target = board_resolve(board=board)
    result = _redis_read(target, lambda client: _redis_page(client, target, offset, limit))
    if result is None:
        result = _db_page(target, offset, limit)
    return _finish(target, result)


def leaderboard_around(*, board: str, member_id: int, around: int) -> dict:
    """The member's row with `around` rows either side, plus `me` (the member's row).

    NotFound `not_participating` when the member is not on the board.
    """
    target = board_resolve(board=board)
    result = _redis_read(target, lambda client: _redis_around(client, target, member_id, around))
    if result is None:
        result = _db_around(target, member_id, around)
    if result is False:
        raise NotFound("not_participating", "You are not on this leaderboard.")
    out = _finish(target, result)
    out["me"] = next((row for row in out["rows"] if row["member"]["id"] == member_id), None)
    return out


def member_stats(*, tournament_id: int, member_id: int) -> dict:
    """A member's standing in a tournament with rank, percentile and round-by-round ranks.

    percentile = 100 * (total - rank + 1) / total: the share of participants
    the member is level with or ahead of (100 for the leader).
    """
    standing = (
        Standing.objects.filter(tournament_id=tournament_id, member_id=member_id)
        .values("points", "exact_hits", "outcome_hits")
        .first()
    )
    if standing is None:
        raise NotFound("not_participating", "This member does not take part in this tournament.")
    standing["settled_guesses"] = settled_guess_count(tournament_id=tournament_id, member_id=member_id)
    rounds = list(
        # Keyed by (round, member): look the member up round by round.
        RoundStanding.objects.filter(round__tournament_id=tournament_id, member_id=member_id)
        .order_by("round__order", "round_id")
        .values_list("round_id", "points", "exact_hits")
    )
    target = Board(kind="tournament", tournament_id=tournament_id, object_id=tournament_id)
    ranks = _redis_read(target, lambda client: _redis_stats_ranks(client, tournament_id, member_id, rounds))
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
    """Guesses of the member on matches whose current result is settled (counted, not stored)."""
    settled = SettlementRequest.objects.filter(
        match_id=OuterRef("match_id"),
        result_version=OuterRef("match__result_version"),
        kind=SettlementRequest.Kind.SETTLE,
        status=SettlementRequest.Status.DONE,
    )
    return (
        Guess.objects.filter(
            member_id=member_id, match__tournament_id=tournament_id, match__status=Match.Status.FINISHED
        )
        .filter(Exists(settled))
        .count()
    )


# --- Redis path -----------------------------------------------------------------
# One round trip per read: the readiness check, the count, the rows, the
# count strictly ahead of the first row and the board's version run as one
# script (all keys share the tournament's hash slot). Scores come back as
# strings; they are integers well inside a double's exact range.
_PAGE_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local entries = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local ahead = 0
if #entries > 0 then ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. entries[2]) end
local meta = redis.call('HMGET', KEYS[2], 'v', 'at')
return {1, redis.call('ZCARD', KEYS[1]), ahead, entries, meta[1] or '', meta[2] or '', tonumber(ARGV[1])}
"""
_AROUND_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local position = redis.call('ZRANK', KEYS[1], ARGV[1])
if not position then return {1, -1} end
local around = tonumber(ARGV[2])
local start = position - around
if start < 0 then start = 0 end
local entries = redis.call('ZRANGE', KEYS[1], start, position + around, 'WITHSCORES')
local ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. entries[2])
local meta = redis.call('HMGET', KEYS[2], 'v', 'at')
return {1, redis.call('ZCARD', KEYS[1]), ahead, entries, meta[1] or '', meta[2] or '', start}
"""
_scripts: dict[tuple[int, str], object] = {}


def _script(client, source: str):
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script


def _redis_read(target: Board, read):
    """Run `read` against Redis; None when Redis is away or the board's set is not built."""
    if not projection.redis_available():
        return None
    try:
        client = projection.redis_client()
        if target.kind == "league" and not _league_ready(client, target):
            return None
        result = read(client)
        if result is None and target.kind != "league":
            # Never built, or lost with Redis: the database answers until a rebuild.
            from apps.leaderboards.services.outbox import projection_rebuild_enqueue

            projection_rebuild_enqueue(tournament_id=target.tournament_id)
        return result
    except projection.RedisError as exc:
        projection.redis_failed(exc)
        return None


def _league_ready(client, target: Board) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.exists(projection.ready_key(target.tournament_id))
    pipe.sismember(projection.leagues_ready_key(target.tournament_id), target.object_id)
    pipe.hget(projection.league_fingerprints_key(target.tournament_id), target.object_id)
    tournament_ready, built, built_from = pipe.execute()
    if not tournament_ready:
        return False
    # The set is current while the league's membership is what it was built from.
    if (
        built
        and built_from is not None
        and built_from.decode() == projection.league_fingerprint_now(league_id=target.object_id)
    ):
        return True
    return projection.projection_league_build(tournament_id=target.tournament_id, league_id=target.object_id)


def _ranked(entries: list, start: int, first_ahead: int) -> list[tuple[int, int, int, int]]:
    """(rank, member id, points, exact hits) for consecutive [member, score, ...] entries listed from `start`."""
    ranked = []
    previous = None
    rank = first_ahead + 1
    for index in range(0, len(entries), 2):
        score = int(float(entries[index + 1]))
        if previous is not None and score != previous:
            rank = start + index // 2 + 1
        previous = score
        points, exact_hits = projection.zscore_split(score)
        ranked.append((rank, int(entries[index]), points, exact_hits))
    return ranked


def _scripted(reply) -> dict | None:
    if reply[0] == 0:
        return None
    _, total, ahead, entries, version, as_of, start = reply
    return {
        "ranked": _ranked(entries, int(start), int(ahead)),
        "total": int(total),
        "version": int(version or 0),
        "as_of": as_of.decode() if as_of else None,
        "source": SOURCE_REDIS,
    }


def _redis_page(client, target: Board, offset: int, limit: int) -> dict | None:
    keys = [target.key, projection.meta_key(target.tournament_id), projection.ready_key(target.tournament_id)]
    return _scripted(_script(client, _PAGE_LUA)(keys=keys, args=[offset, offset + limit - 1]))


def _redis_around(client, target: Board, member_id: int, around: int):
    keys = [target.key, projection.meta_key(target.tournament_id), projection.ready_key(target.tournament_id)]
    reply = _script(client, _AROUND_LUA)(keys=keys, args=[projection.member_field(member_id), around])
    if reply[0] == 1 and reply[1] == -1:
        return False
    return _scripted(reply)


def _redis_stats_ranks(client, tournament_id: int, member_id: int, rounds: list) -> tuple[int, int, list[int]]:
    member = projection.member_field(member_id)
    keys = [projection.tournament_key(tournament_id)] + [
        projection.round_key(tournament_id, round_id) for round_id, _, _ in rounds
    ]
    pipe = client.pipeline(transaction=False)
    pipe.exists(projection.ready_key(tournament_id))
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


# --- database path ----------------------------------------------------------------
def _source(target: Board) -> tuple[str, list]:
    """A subquery of (member_id, points, exact_hits, outcome_hits) rows of the board."""
    if target.kind == "tournament":
        return (
            f"SELECT member_id, points, exact_hits, outcome_hits FROM {Standing._meta.db_table} "
            f"WHERE tournament_id = %s",
            [target.tournament_id],
        )
    if target.kind == "round":
        return (
            f"SELECT member_id, points, exact_hits, outcome_hits FROM {RoundStanding._meta.db_table} "
            f"WHERE round_id = %s AND tournament_id = %s",
            [target.object_id, target.tournament_id],
        )
    return (
        f"SELECT lm.member_id AS member_id, COALESCE(s.points, 0) AS points, "
        f"COALESCE(s.exact_hits, 0) AS exact_hits, COALESCE(s.outcome_hits, 0) AS outcome_hits "
        f"FROM {LeagueMembership._meta.db_table} lm LEFT JOIN {Standing._meta.db_table} s "
        f"ON s.tournament_id = %s AND s.member_id = lm.member_id WHERE lm.league_id = %s",
        [target.tournament_id, target.object_id],
    )


ORDER = "ORDER BY points DESC, exact_hits DESC, member_id"


def _db_state(target: Board) -> tuple[int, str | None]:
    state = BoardState.objects.filter(tournament_id=target.tournament_id).values_list("version", "as_of").first()
    if state is None:
        return 0, None
    version, as_of = state
    return version, as_of.isoformat() if as_of else None


def _db_rows_ranked(rows: list, start: int, ahead: int) -> tuple[list, dict]:
    ranked = []
    outcome = {}
    previous = None
    rank = ahead + 1
    for index, (member_id, points, exact_hits, outcome_hits) in enumerate(rows):
        if previous is not None and (points, exact_hits) != previous:
            rank = start + index + 1
        previous = (points, exact_hits)
        ranked.append((rank, member_id, points, exact_hits))
        outcome[member_id] = outcome_hits
    return ranked, outcome


def _db_page(target: Board, offset: int, limit: int) -> dict:
    source, params = _source(target)
    # One statement, so the page, the count ahead of its first row and the
    # total come from the same snapshot even while settlement commits.
    sql = (
        f"WITH b AS ({source}), "
        f"page AS (SELECT member_id, points, exact_hits, outcome_hits FROM b {ORDER} LIMIT %s OFFSET %s), "
        f"head AS (SELECT points, exact_hits FROM page {ORDER} LIMIT 1), "
        f"c AS (SELECT COUNT(*) AS total, SUM(CASE WHEN b.points > head.points OR (b.points = head.points "
        f"AND b.exact_hits > head.exact_hits) THEN 1 ELSE 0 END) AS ahead FROM b CROSS JOIN head) "
        f"SELECT page.member_id, page.points, page.exact_hits, page.outcome_hits, c.total, c.ahead "
        f"FROM page CROSS JOIN c ORDER BY page.points DESC, page.exact_hits DESC, page.member_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + [limit, offset])
        rows = cursor.fetchall()
        if rows:
            total, ahead = rows[0][4], rows[0][5] or 0
        else:
            cursor.execute(f"SELECT COUNT(*) FROM ({source}) b", params)
            total, ahead = cursor.fetchone()[0], 0
    ranked, outcome = _db_rows_ranked([row[:4] for row in rows], offset, ahead)
    version, as_of = _db_state(target)
    return {
        "ranked": ranked,
        "outcome": outcome,
        "total": total,
        "version": version,
        "as_of": as_of,
        "source": SOURCE_DATABASE,
    }


def _db_around(target: Board, member_id: int, around: int):
    source, params = _source(target)
    sql = (
        f"WITH b AS ({source}), me AS (SELECT points, exact_hits FROM b WHERE member_id = %s) "
        f"SELECT COUNT(*), "
        f"SUM(CASE WHEN b.points > me.points OR (b.points = me.points AND b.exact_hits > me.exact_hits) "
        f"THEN 1 ELSE 0 END), "
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
    page["total"] = total
    return page


def _db_stats_ranks(tournament_id: int, standing: dict, rounds: list) -> tuple[int, int, list[int]]:
    def count_ahead(source: str, params: list, points: int, exact_hits: int) -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), SUM(CASE WHEN points > %s OR (points = %s AND exact_hits > %s) "
                f"THEN 1 ELSE 0 END) FROM ({source}) b",
                [points, points, exact_hits] + params,
            )
            total, ahead = cursor.fetchone()
        return total, ahead or 0

    source, params = _source(Board("tournament", tournament_id, tournament_id))
    total, ahead = count_ahead(source, params, standing["points"], standing["exact_hits"])
    round_ranks = []
    for round_id, points, exact_hits in rounds:
        rsource, rparams = _source(Board("round", tournament_id, round_id))
        _, rahead = count_ahead(rsource, rparams, points, exact_hits)
        round_ranks.append(rahead + 1)
    return ahead + 1, total, round_ranks


# --- rows -------------------------------------------------------------------------------
def _finish(target: Board, result: dict) -> dict:
    ranked = result["ranked"]
    ids = [member_id for _, member_id, _, _ in ranked]
    outcome = result.get("outcome")
    details: dict[int, tuple[int, str]] = {}
    if ids:
        # Redis orders by points and exact hits only: outcome hits and names come
        # from the rows themselves, in one query keyed by the primary keys.
        if target.kind == "round":
            query = RoundStanding.objects.filter(round_id=target.object_id, member_id__in=ids)
        else:
            query = Standing.objects.filter(tournament_id=target.tournament_id, member_id__in=ids)
        for member_id, outcome_hits, display_name, username in query.values_list(
            "member_id", "outcome_hits", "member__display_name", "member__username"
        ):
            details[member_id] = (outcome_hits, display_name or username)
        missing = [member_id for member_id in ids if member_id not in details]
        if missing:  # a league member who never joined the tournament
            for member_id, display_name, username in Member.objects.filter(pk__in=missing).values_list(
                "id", "display_name", "username"
            ):
                details[member_id] = (0, display_name or username)
    rows = [
        {
            "rank": rank,
            "member": {"id": member_id, "display_name": details.get(member_id, (0, ""))[1]},
            "points": points,
            "exact_hits": exact_hits,
            "outcome_hits": outcome[member_id] if outcome is not None else details.get(member_id, (0, ""))[0],
        }
        for rank, member_id, points, exact_hits in ranked
    ]
    return {
        "rows": rows,
        "total": result["total"],
        "version": result["version"],
        "as_of": result["as_of"] or timezone.now().isoformat(),
        "source": result["source"],
    }
