"""Writes of the read caches: what a board read or member stats had to fetch from the database, kept in Redis.

The selectors only read; what they fetched that Redis could keep for the next
read comes back with their answer (`cache_fill`), and the API view stores it
here. A failure only costs the cache.
"""

import json
import time

from apps.leaderboards.boards.keys import member_field, meta_key, names_key, details_key, stats_key
from apps.leaderboards.boards.projection_read import RedisError, redis_client, redis_failed, redis_script
from apps.leaderboards.boards.selectors import DetailsFill, StatsFill

# Names read from the database are written back only while the board's name
# generation is the one the read saw: a rename in between bumps it, so an
# old name read before the rename committed is never stored after it.
_NAMES_STORE_LUA = """
if (redis.call('HGET', KEYS[2], 'n') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# Cached names live this long after the last one was added (renames drop theirs at once).
NAMES_TTL_SECONDS = 24 * 3600


def read_cache_fill(fill: DetailsFill | StatsFill | None) -> None:
    """Store what a read fetched (names and outcome hits, or a member's stats); nothing when `fill` is None."""
    if fill is None:
        return
    try:
        if isinstance(fill, StatsFill):
            _stats_store(fill)
        else:
            _details_store(fill)
    except RedisError as exc:
        redis_failed(exc)


def _stats_store(fill: StatsFill) -> None:
    stats = {key: value for key, value in fill.stats.items() if key != "cache_fill"}
    value = f"{fill.version}|{time.time()}|{json.dumps(stats, separators=(',', ':'))}"
    pipe = redis_client().pipeline(transaction=False)
    pipe.hset(stats_key(fill.tournament_id), member_field(fill.member_id), value)
    pipe.expire(stats_key(fill.tournament_id), NAMES_TTL_SECONDS)
    pipe.execute()


def _details_store(fill: DetailsFill) -> None:
    """Names and row details (outcome hits, live points) in one round trip."""
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    name_args: list = []
    hits: dict = {}
    for member_id, (outcome_hits, live_points, display_name) in fill.fetched.items():
        name_args += [member_field(member_id), display_name]
        # Read back by `selectors.details_cached`.
        hits[member_field(member_id)] = f"{fill.version}:{outcome_hits}:{live_points}"
    redis_script(client, _NAMES_STORE_LUA)(
        keys=[names_key(fill.board.tournament), meta_key(fill.board.tournament)],
        args=[fill.generation, NAMES_TTL_SECONDS, *name_args],
        client=pipe,
    )
    pipe.hset(details_key(fill.board), mapping=hits)
    pipe.expire(details_key(fill.board), NAMES_TTL_SECONDS)
    pipe.execute()
