"""Board reads about the people a member cares about: chosen members' rows, a name search, a home-screen preview.

Rows are built by the same path as every board read (`selectors._finish`), so
a row here carries exactly the fields a page's row does. Each read is one
Redis script (the scores, the counts ahead, the version and the cached names
and outcome hits, like a page read) with the database answering the same rows
when Redis cannot; like the other selectors they only read and report a
missing set (`projection_missing`) for the view to repair.

Ranks of rows that are not consecutive are counted one by one:
rank = 1 + ZCOUNT(-inf, (score) on Redis, 1 + the members strictly ahead in
the database (SCORING.md "Ranking"), so ties share their rank however far apart
the listed rows are.
"""

from dataclasses import dataclass

from django.db import connection

from apps.common.names import name_key
from apps.leaderboards.boards.keys import LEAGUE, BoardKey, member_field
from apps.leaderboards.boards.projection_read import redis_script
from apps.leaderboards.boards.ranking import RANK_COLUMNS, ahead_sql, order_by_sql
from apps.leaderboards.boards.selectors import (
    _DETAILS_LUA,
    SOURCE_DATABASE,
    _board_keys,
    _db_around,
    _db_page,
    _db_state,
    _finish,
    _Read,
    _redis_read,
    _scripted,
    _source,
    board_resolve,
)
from apps.leaderboards.models import Standing
from apps.leagues.models import LeagueMembership
from apps.members.models import Member
from apps.members.selectors import pin_ids

# API.md: `?members=` takes 1..100 ids; a search answers at most 20 rows.
MEMBERS_MAX = 100
SEARCH_ROWS = 20
# A short prefix ("an") can match a large share of a million members. The
# search takes at most this many matching participants per name column from
# the index, in folded-name order, and ranks only those: the work stays
# bounded (two index walks of at most SEARCH_SCAN names, one script of at
# most 2 * SEARCH_CANDIDATES ZSCOREs), at the price that when more members
# match than that, the 20 best-ranked among the first SEARCH_CANDIDATES names
# alphabetically are answered, not the 20 best-ranked of all. Typing one more
# letter narrows the match and restores the exact answer; a name search is
# typed to find someone, not to rank a crowd.
SEARCH_CANDIDATES = 200
# Names read from each index to find those candidates on a tournament board: when most members of the
# site take part (a World Cup), the first SEARCH_SCAN names hold SEARCH_CANDIDATES participants; on a
# board of few among many members a short prefix may find fewer than it could, never more work.
SEARCH_SCAN = 1000
# Preview: the top rows and the rows either side of the caller.
PREVIEW_TOP = 3
PREVIEW_AROUND = 1

TAG_TOP, TAG_ME, TAG_NEIGHBOUR, TAG_PINNED, TAG_LAST = "top", "me", "neighbour", "pinned", "last"


# --- chosen members -----------------------------------------------------------------
# ARGV: the number of rows to keep (0: all), then the members. Found members
# are ordered like the board (score, then member), cut to the rows kept, and
# only those are counted and detailed.
_MEMBERS_LUA = (
    """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local found = {}
for k = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[k])
  if score then found[#found + 1] = {ARGV[k], tonumber(score), score} end
end
table.sort(found, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local keep = tonumber(ARGV[1])
if keep == 0 or keep > #found then keep = #found end
local entries, ahead = {}, {}
for i = 1, keep do
  entries[#entries + 1] = found[i][1]
  entries[#entries + 1] = found[i][3]
  ahead[i] = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. found[i][3])
end
local start = 0
"""
    + _DETAILS_LUA
)


def leaderboard_members(*, board: BoardKey | str, member_ids: list[int], keep: int = 0) -> dict:
    """The rows of the listed members on the board, by rank; those not on it are left out.

    `keep` > 0 answers only the best-ranked `keep` of them. Returns what
    `leaderboard_page` returns (rows, total, version, as_of, source, ...).
    """
    target = board_resolve(board=board)
    ids = list(dict.fromkeys(member_ids))
    found, missing = _redis_read(target, lambda client: _redis_members(client, target, ids, keep))
    if found is None:
        found = _db_members(target, ids)
        if keep:
            found.ranked = found.ranked[:keep]
    return _finish(target, found, missing)


def _redis_members(client, target: BoardKey, ids: list[int], keep: int) -> _Read | None:
    args = [keep, *(member_field(member_id) for member_id in ids)]
    found = _scripted(redis_script(client, _MEMBERS_LUA)(keys=_board_keys(target), args=args))
    if found is not None:
        found.ranked.sort(key=lambda row: (row[0], row[1]))
    return found


def _db_members(target: BoardKey, ids: list[int]) -> _Read:
    source, params = _source(target)
    columns = ", ".join(RANK_COLUMNS)
    ids = ids or [0]  # no member is 0: an empty list still reads the total
    listed = ", ".join(["%s"] * len(ids))
    # One pass over the board: members per (points, exact hits) (a few hundred
    # groups even for a million members), from which each listed member's count
    # ahead is summed; the listed rows themselves are read by their key.
    sql = (
        f"WITH b AS NOT MATERIALIZED ({source}), "
        f"g AS (SELECT {columns}, COUNT(*) AS n FROM b GROUP BY {columns}), "
        f"me AS (SELECT member_id, points, exact_hits, outcome_hits, live_points FROM b "
        f"WHERE member_id IN ({listed})) "
        f"SELECT t.total, me.member_id, me.points, me.exact_hits, me.outcome_hits, me.live_points, "
        f"(SELECT COALESCE(SUM(g.n), 0) FROM g WHERE {ahead_sql('g', 'me')}) "
        f"FROM (SELECT COALESCE(SUM(n), 0) AS total FROM g) t LEFT JOIN me ON TRUE "
        f"{order_by_sql('me')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + ids)
        rows = cursor.fetchall()
    version, as_of, live_matches = _db_state(target)
    on_board = [row for row in rows if row[1] is not None]
    return _Read(
        ranked=[(ahead + 1, member_id, points, exact) for _, member_id, points, exact, _, _, ahead in on_board],
        details={row[1]: (row[4], row[5]) for row in on_board},
        total=int(rows[0][0]) if rows else 0,
        version=version,
        as_of=as_of,
        source=SOURCE_DATABASE,
        live_matches=live_matches,
    )


# --- search ------------------------------------------------------------------------------
def search_prefix(q: str) -> str:
    """The folded prefix a search matches (`name_key`: case and accents dropped, spaces collapsed).

    Accents are dropped, not spelled out: "müll" finds "Müller" and "Muller",
    not "Mueller" (spelling ü as "ue" is German only, and would make "Agüero"
    unfindable as "aguero"). "mue" finds "Mueller".
    """
    return name_key(q)


def leaderboard_search(*, board: BoardKey | str, q: str) -> dict:
    """Members on the board whose display name or username starts with `q` (folded), best-ranked first, at most 20."""
    target = board_resolve(board=board)
    prefix = search_prefix(q)
    candidates = _search_candidates(target, prefix) if prefix else []
    return leaderboard_members(board=target, member_ids=candidates, keep=SEARCH_ROWS)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search_candidates(target: BoardKey, prefix: str) -> list[int]:
    """Ids of up to SEARCH_CANDIDATES participants per name column whose folded name starts with `prefix`."""
    member = Member._meta.db_table
    pattern = _like_prefix(prefix)
    # The indexes are text_pattern_ops: they list names in the order of its operator ~<~, not the
    # collation's, so only an ORDER BY ... USING ~<~ is read off the index instead of sorted.
    # (The embedded SQLite default has neither: it sorts.)
    in_index_order = " USING ~<~" if connection.vendor == "postgresql" else ""
    if target.kind == LEAGUE:
        # Members of the league only: a league search never answers anyone else. A league is
        # small next to the members table, so the league's memberships lead and the names are
        # checked by primary key.
        half = (
            f"(SELECT m.id FROM {LeagueMembership._meta.db_table} p JOIN {member} m ON m.id = p.member_id "
            f"WHERE p.league_id = %s AND m.{{column}} LIKE %s ESCAPE '\\' ORDER BY m.{{column}} LIMIT %s)"
        )
        params = [target.id, pattern, SEARCH_CANDIDATES]
    else:
        # The tournament board and its round tables list the tournament's participants (a zero
        # standing on joining), nearly every member: the names lead, walked in index order from the
        # prefix, SEARCH_SCAN names at most (the inner LIMIT: a short prefix matching most names
        # never makes the planner hash every participant), each checked against the unique
        # (tournament, member) key.
        half = (
            f"(SELECT c.id FROM (SELECT id, {{column}} AS k FROM {member} WHERE {{column}} LIKE %s ESCAPE '\\' "
            f"ORDER BY {{column}}{in_index_order} LIMIT %s) c WHERE EXISTS (SELECT 1 FROM {Standing._meta.db_table} p "
            f"WHERE p.tournament_id = %s AND p.member_id = c.id) ORDER BY c.k{in_index_order} LIMIT %s)"
        )
        params = [pattern, SEARCH_SCAN, target.tournament, SEARCH_CANDIDATES]
    sql = (
        f"SELECT id FROM {half.format(column='display_name_key')} AS by_name "
        f"UNION SELECT id FROM {half.format(column='username_key')} AS by_username"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        return [row[0] for row in cursor.fetchall()]


# --- preview --------------------------------------------------------------------------------
# ARGV: how many top rows, the caller's member ('' when none), how many rows
# either side of the caller, then the pinned members. Each member is listed
# once, with every reason it is there; `tags` (appended to the page reply) is
# one comma-separated string per entry.
_PREVIEW_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local entries, ahead, tags, at = {}, {}, {}, {}
local function add(member, score, tag)
  local i = at[member]
  if i then
    tags[i] = tags[i] .. ',' .. tag
    return
  end
  entries[#entries + 1] = member
  entries[#entries + 1] = score
  i = #entries / 2
  at[member] = i
  ahead[i] = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score)
  tags[i] = tag
end
local top = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for j = 1, #top, 2 do add(top[j], top[j + 1], 'top') end
if ARGV[2] ~= '' then
  local position = redis.call('ZRANK', KEYS[1], ARGV[2])
  if position then
    local around = tonumber(ARGV[3])
    local first = position - around
    if first < 0 then first = 0 end
    local near = redis.call('ZRANGE', KEYS[1], first, position + around, 'WITHSCORES')
    for j = 1, #near, 2 do
      if near[j] == ARGV[2] then add(near[j], near[j + 1], 'me') else add(near[j], near[j + 1], 'neighbour') end
    end
  end
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then add(last[1], last[2], 'last') end
for k = 4, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[k])
  if score then add(ARGV[k], score, 'pinned') end
end
local start = 0
local function details()
"""
_PREVIEW_LUA += _DETAILS_LUA + """
end
local reply = details()
reply[#reply + 1] = tags
return reply
"""


@dataclass
class _Preview:
    found: _Read
    tags: dict  # member id -> [tag, ...]


def leaderboard_preview(*, board: BoardKey | str, member_id: int) -> dict:
    """One read for a home screen: the top 3, the member with one row either side, the member's pins on the
    board and the last row, each once, by rank, each row with its `tags`. Also `live` (as every read).

    A member not on the board still gets the top 3, their pins and the last row.
    """
    target = board_resolve(board=board)
    pinned = [pinned_id for pinned_id in pin_ids(member_id=member_id) if pinned_id != member_id]
    preview, missing = _redis_read(target, lambda client: _redis_preview(client, target, member_id, pinned))
    if preview is None:
        preview = _db_preview(target, member_id, pinned)
    page = _finish(target, preview.found, missing)
    for row in page["rows"]:
        row["tags"] = preview.tags[row["member"]["id"]]
    return page


def _redis_preview(client, target: BoardKey, member_id: int, pinned: list[int]) -> _Preview | None:
    args = [PREVIEW_TOP, member_field(member_id), PREVIEW_AROUND, *(member_field(pinned_id) for pinned_id in pinned)]
    reply = redis_script(client, _PREVIEW_LUA)(keys=_board_keys(target), args=args)
    if reply[0] == 0:
        return None
    tags_of = reply.pop()
    found = _scripted(reply)
    # The script lists entries in the order it found them; its tags follow that order.
    order = [int(found_id) for found_id in reply[3][0::2]]
    tags = {found_id: tag.decode().split(",") for found_id, tag in zip(order, tags_of)}
    found.ranked.sort(key=lambda row: (row[0], row[1]))
    return _Preview(found=found, tags=tags)


def _db_preview(target: BoardKey, member_id: int, pinned: list[int]) -> _Preview:
    """The same rows from the database: the top, the member's neighbourhood, then the last row and the pins."""
    rows: dict[int, tuple] = {}
    details: dict[int, tuple[int, int]] = {}
    tags: dict[int, list[str]] = {}

    def take(found: _Read, tag_of) -> None:
        for row in found.ranked:
            rows.setdefault(row[1], row)
            tags.setdefault(row[1], []).append(tag_of(row[1]))
        details.update(found.details or {})

    top = _db_page(target, 0, PREVIEW_TOP)
    take(top, lambda _: TAG_TOP)
    near = _db_around(target, member_id, PREVIEW_AROUND)
    if near is not False:
        take(near, lambda found_id: TAG_ME if found_id == member_id else TAG_NEIGHBOUR)
    last_id = _db_last_member(target)
    if last_id is not None:
        take(_db_members(target, [last_id]), lambda _: TAG_LAST)
    if pinned:
        take(_db_members(target, pinned), lambda _: TAG_PINNED)
    found = _Read(
        ranked=sorted(rows.values(), key=lambda row: (row[0], row[1])),
        details=details,
        total=top.total,
        version=top.version,
        as_of=top.as_of,
        source=top.source,
        live_matches=top.live_matches,
    )
    return _Preview(found=found, tags=tags)


def _db_last_member(target: BoardKey) -> int | None:
    source, params = _source(target)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT member_id FROM ({source}) b {order_by_sql('b', last_first=True)} LIMIT 1", params)
        row = cursor.fetchone()
    return row[0] if row else None

