"""Where live subscribers and the last published top 10 of each board are kept (Redis).

`lb:live:boards` (board name -> expiry) and `lb:live:subs:{board}` (process ->
count:expiry) say which boards somebody watches the top 10 of; a crashed
process stops counting once its entries expire. `lb:live:own` and
`lb:live:own-subs:{board}` say the same of members' own streams (`own=True`):
kept apart so that a board followed only by members' own streams costs the
publisher no top-10 read, only a version message. `lb:live:last:{board}`
holds the last top 10 published, swapped atomically so a board's update is
published once.
"""

import os
import time

import redis
from django.conf import settings
from redis import asyncio as aioredis

_INDEX_KEY = "lb:live:boards"
_OWN_INDEX_KEY = "lb:live:own"


def _subs_key(board: str) -> str:
    return f"lb:live:subs:{board}"


def _own_subs_key(board: str) -> str:
    return f"lb:live:own-subs:{board}"


def _keys(board: str, own: bool) -> tuple[str, str]:
    """(the index, the board's per-process counts) of top-10 clients, or of members' own streams."""
    return (_OWN_INDEX_KEY, _own_subs_key(board)) if own else (_INDEX_KEY, _subs_key(board))


def _last_key(board: str) -> str:
    return f"lb:live:last:{board}"


# Registers (or refreshes) one process's clients of one board.
_WATCH_LUA = """
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ':' .. ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], 'GT', ARGV[4], ARGV[1])
return 1
"""

# Drops one process from a board; the board leaves the index when no live process holds it.
_UNWATCH_LUA = """
redis.call('HDEL', KEYS[2], ARGV[2])
local now = tonumber(ARGV[3])
local latest = 0
local entries = redis.call('HGETALL', KEYS[2])
for i = 2, #entries, 2 do
  local sep = string.find(entries[i], ':', 1, true)
  local expires = tonumber(string.sub(entries[i], sep + 1))
  if expires > now and expires > latest then latest = expires end
end
if latest == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
else
  redis.call('ZADD', KEYS[1], latest, ARGV[1])
end
return 1
"""

# Replaces the last published top 10 when the new one is newer and different.
# Returns {0} when nothing is to be published, {1} or {1, old_version, old_top}.
_SWAP_LUA = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  local version = tonumber(string.sub(current, 1, sep - 1))
  local top = string.sub(current, sep + 1)
  if tonumber(ARGV[1]) <= version or top == ARGV[2] then return {0} end
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
  return {1, version, top}
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return {1}
"""

# A published top 10 outlives any plausible pause between two changes; a board
# nobody watches has its entry deleted at once (see `boards_changed`).
_LAST_TTL = 7 * 24 * 3600


class RedisStore:
    def __init__(self, url: str):
        self.url = url
        self._sync = None
        self._sync_pid = None

    # sync side: the publisher in settlement workers
    def client(self):
        if self._sync is None or self._sync_pid != os.getpid():
            # Created lazily per process: a connection must not cross a fork.
            self._sync = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
            self._sync_pid = os.getpid()
        return self._sync

    def boards_watched(self, boards: list[str], *, own: bool = False) -> list[str]:
        now = time.time()
        watched: list[str] = []
        client = self.client()
        for start in range(0, len(boards), 1000):
            chunk = boards[start : start + 1000]
            scores = client.zmscore(_OWN_INDEX_KEY if own else _INDEX_KEY, chunk)
            watched += [board for board, score in zip(chunk, scores) if score is not None and score > now]
        return watched

    def baselines_drop(self, boards: list[str]) -> None:
        client = self.client()
        for start in range(0, len(boards), 1000):
            client.unlink(*[_last_key(board) for board in boards[start : start + 1000]])

    def baseline_swap(self, board: str, version: int, canonical: str) -> tuple[bool, int | None, str | None]:
        result = self.client().eval(_SWAP_LUA, 1, _last_key(board), version, canonical, _LAST_TTL)
        if not result[0]:
            return False, None, None
        if len(result) == 1:
            return True, None, None
        old_top = result[2].decode() if isinstance(result[2], bytes) else result[2]
        return True, int(result[1]), old_top

    def subscriber_count(self, board: str, *, own: bool = False) -> int:
        now = time.time()
        total = 0
        for value in self.client().hvals(_keys(board, own)[1]):
            count, _, expires = value.decode().partition(":")
            if float(expires) > now:
                total += int(count)
        return total

    # async side: the hub in web processes
    def async_client(self):
        # A blocking pool: thousands of clients connecting at once wait for a
        # connection instead of failing with "Too many connections" at the
        # default cap of 100 (only board joins and leaves reach Redis anyway).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=16, timeout=20, socket_timeout=10, socket_connect_timeout=5
        )
        return aioredis.Redis(connection_pool=pool)

    async def watch(self, client, proc: str, counts: dict[str, int], ttl: float, *, own: bool = False) -> None:
        expires = time.time() + ttl
        async with client.pipeline(transaction=False) as pipe:
            for board, count in counts.items():
                pipe.eval(_WATCH_LUA, 2, *_keys(board, own), board, proc, count, expires, int(ttl) + 1)
            await pipe.execute()

    async def unwatch(self, client, proc: str, board: str, *, own: bool = False) -> None:
        await client.eval(_UNWATCH_LUA, 2, *_keys(board, own), board, proc, time.time())

    async def prune(self, client) -> None:
        await client.zremrangebyscore(_INDEX_KEY, "-inf", time.time())
        await client.zremrangebyscore(_OWN_INDEX_KEY, "-inf", time.time())

    async def baseline_seed(self, client, board: str, version: int, canonical: str) -> None:
        await client.set(_last_key(board), f"{version}|{canonical}", nx=True, ex=_LAST_TTL)


_store_instance: RedisStore | None = None


def store() -> RedisStore | None:
    """The Redis store, or None when the project runs embedded (no REDIS_URL)."""
    global _store_instance
    if not settings.REDIS_URL:
        return None
    if _store_instance is None or _store_instance.url != settings.REDIS_URL:
        _store_instance = RedisStore(settings.REDIS_URL)
    return _store_instance
