"""Public board pages served from a cache: built once per board version and page, validated by ETag.

A public page (a tournament's board or a round table) is a function of the
board's state in Redis, named by its stamp: the version (`meta` v, bumped by
every settlement batch and score action) and the name generation (`meta` n,
bumped when a listed member renames). A request reads the stamp in one Redis
round trip; the ETag is derived from (board, stamp, limit, offset, site), so a
matching `If-None-Match` is answered 304 without reading anything else, and
the body is looked up in this process's memory, then in Django's cache, and
built (the same code as an uncached read) only when neither has it.

A page the Redis path could not build (Redis away, or the board's set missing
and answered from the database) is served uncached, with an ETag that is the
hash of its body.

Which tournaments and rounds exist is remembered per process for
KNOWN_SECONDS: a cached read then makes no database query at all. A deleted
tournament stays readable for at most that long.
"""

import hashlib
import threading
import time
from collections import OrderedDict

from django.core.cache import cache

from apps.common.errors import NotFound
from apps.leaderboards.boards.keys import BoardKey, meta_key, ready_key
from apps.leaderboards.boards.projection_read import (
    RedisError,
    redis_available,
    redis_client,
    redis_failed,
    redis_script,
)
from apps.matches.models import Round
from apps.matches.selectors import tournament_get

KNOWN_SECONDS = 60.0
# Rendered pages kept in each process (the newest version of the busiest pages).
MEMORY_PAGES = 512
# Django's cache keeps a page this long; a new version makes new keys anyway.
SHARED_CACHE_SECONDS = 300

_known: dict[tuple, float] = {}
_memory: OrderedDict[str, bytes] = OrderedDict()
_memory_lock = threading.Lock()


def _remembered(key: tuple) -> bool:
    until = _known.get(key)
    return until is not None and until > time.monotonic()


def _remember(key: tuple) -> None:
    if len(_known) > 100_000:  # ids probed at random must not grow it without bound
        _known.clear()
    _known[key] = time.monotonic() + KNOWN_SECONDS


def tournament_known(*, tournament_id: int) -> None:
    """NotFound `tournament_not_found` unless the tournament exists (a database query at most once a minute)."""
    if not _remembered(("t", tournament_id)):
        tournament_get(tournament_id=tournament_id)
        _remember(("t", tournament_id))


def round_known(*, tournament_id: int, round_id: int) -> None:
    """NotFound `round_not_found` unless the round belongs to the tournament."""
    if not _remembered(("r", tournament_id, round_id)):
        if not Round.objects.filter(pk=round_id, tournament_id=tournament_id).exists():
            raise NotFound("round_not_found", "This tournament has no round with this id.")
        _remember(("r", tournament_id, round_id))


def known_forget() -> None:
    """Forget what exists and every page kept in memory (tests, and a process reusing ids)."""
    _known.clear()
    with _memory_lock:
        _memory.clear()


_STAMP_LUA = """
return {redis.call('EXISTS', KEYS[1]), redis.call('HGET', KEYS[2], 'v') or '', redis.call('HGET', KEYS[2], 'n') or ''}
"""


def board_stamp(*, tournament_id: int) -> str | None:
    """The boards' "version.generation" in Redis, one round trip; None when Redis cannot answer or is not built."""
    if not redis_available():
        return None
    try:
        # One script, not a pipeline: the same round trip at a third of redis-py's cost per call.
        client = redis_client()
        keys = [ready_key(tournament_id), meta_key(tournament_id)]
        ready, version, generation = redis_script(client, _STAMP_LUA)(keys=keys)
    except RedisError as exc:
        redis_failed(exc)
        return None
    if not ready:
        return None
    return stamp_of(version=int(version or 0), generation=generation.decode() if generation else "")


def stamp_of(*, version: int, generation: str) -> str:
    return f"{version}.{generation or 0}"


def page_key(*, board: BoardKey, stamp: str, limit: int, offset: int, site: str) -> str:
    """The cache key of a page; `site` is the scheme and host its links are built on."""
    return f"lbpage:{board.name}:{stamp}:{limit}:{offset}:{site}"


def etag_of_key(key: str) -> str:
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def etag_of_body(body: bytes) -> str:
    return '"b' + hashlib.sha256(body).hexdigest()[:31] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match uses: W/ prefixes are ignored; * matches anything."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in [tag.removeprefix("W/") for tag in tags]


def page_cached(key: str) -> bytes | None:
    with _memory_lock:
        found = _memory.get(key)
        if found is not None:
            _memory.move_to_end(key)
            return found
    try:
        body = cache.get(key)
    except Exception:  # the cache is Redis: when it is away the page is built instead
        return None
    if body is not None:
        _memory_put(key, body)
    return body


def page_store(key: str, body: bytes) -> None:
    _memory_put(key, body)
    try:
        cache.set(key, body, SHARED_CACHE_SECONDS)
    except Exception:  # only the sharing between processes is lost
        pass


def _memory_put(key: str, body: bytes) -> None:
    with _memory_lock:
        _memory[key] = body
        _memory.move_to_end(key)
        while len(_memory) > MEMORY_PAGES:
            _memory.popitem(last=False)
