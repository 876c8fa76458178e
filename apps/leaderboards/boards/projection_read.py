"""The Redis projection, read half: the client, its circuit breaker and the stored encoding.

Members are zero-padded ids (`keys.member_field`) and scores are the negated
`board_score`, so an ascending ZRANGE lists points desc, exact hits desc, then
member id asc: the order of SCORING.md, with ties listed by id because equal
scores sort by member string. rank = 1 + ZCOUNT(-inf, (score).

The database is the source of truth; Redis only ever holds absolute totals
read back from it (see `projection_write`).
"""

import logging
import threading
import time

import redis
from django.conf import settings

from apps.leaderboards.boards.keys import ready_key
from apps.leaderboards.boards.ranking import board_score, board_score_split
from apps.leagues.selectors import league_membership_fingerprint

logger = logging.getLogger(__name__)

RedisError = (redis.RedisError, OSError)


def league_fingerprint(count: int, member_sum: int | None) -> str:
    """What a league's set was built from: its member count and the sum of their ids.

    A read compares it with the league's memberships now: any join or leave
    changes it (a swap of members changes the sum), so a set never outlives
    the membership it was built from, whoever changed the league.
    """
    return f"{count}:{member_sum or 0}"


def league_fingerprint_now(*, league_id: int) -> str:
    return league_fingerprint(*league_membership_fingerprint(league_id=league_id))


def zscore(points: int, exact_hits: int) -> int:
    return -board_score(points, exact_hits)


def zscore_split(score: float) -> tuple[int, int]:
    """(points, exact_hits) back from a stored score."""
    return board_score_split(-int(score))


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


_scripts: dict[tuple[int, str], object] = {}


def redis_script(client, source: str):
    """A Lua script registered once per client (EVALSHA after the first call)."""
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script
