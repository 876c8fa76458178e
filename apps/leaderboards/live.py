"""Live top 10: settlement publishes, every web process fans out to its clients.

Settlement and score actions call `boards_changed` after their transaction
commits, with the boards whose standings moved. Board keys are
"tournament:{id}" and "league:{id}".

With Redis (REDIS_URL set):
- Each web process keeps one `_Hub` on its event loop. The hub holds one
  channel on the Channels layer and joins a group per board that has local
  clients, so a message crosses Redis once per process, not once per client.
- The hub registers each board it holds in Redis (`lb:live:boards`, scored
  by expiry, and `lb:live:subs:{board}`, a count per process) and refreshes
  the entries while it holds clients: a crashed process stops counting once
  its entries expire.
- `boards_changed` skips boards nobody watches, compares the new top 10 with
  the last one published (`lb:live:last:{board}`, swapped atomically) and
  sends the update only when it differs. The JSON text is built once there;
  processes forward it to WebSocket clients as-is and wrap it once for SSE.

Embedded (no REDIS_URL): the channel layer is in-memory and settlement may run
in another process, so each web process re-reads the top 10 of the boards its
clients watch every LIVE_POLL_SECONDS and publishes changes to them itself;
`boards_changed` in the same process asks for an immediate re-read.

Versions are the board's own version (it grows with every change of the
board, also outside the top 10). An update carries `previous_version`, the
version of the update published before it: a client whose version is lower
missed one and reloads the snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

TOP_SIZE = 10
BOARD_KINDS = ("tournament", "league")
UPDATE_MESSAGE = "live.update"

LIVE_CLIENTS = Gauge("scoreboard_live_clients", "Clients connected to live top-10 streams.", ["transport"])
LIVE_PUBLISHED = Counter(
    "scoreboard_live_messages_published_total", "Top-10 updates published (one per board change).", ["kind"]
)
LIVE_SENT = Counter("scoreboard_live_messages_sent_total", "Live messages written to clients.", ["transport"])
LIVE_LAG = Histogram(
    "scoreboard_live_delivery_lag_seconds",
    "From the settlement commit to the last local client written, per update and process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
for _transport in ("websocket", "sse"):
    LIVE_CLIENTS.labels(_transport)
    LIVE_SENT.labels(_transport)


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


# --- boards -------------------------------------------------------------------


def board_parse(board: str) -> tuple[str, int]:
    kind, _, raw_id = board.partition(":")
    if kind not in BOARD_KINDS or not raw_id.isdigit():
        raise ValueError(f"not a board key: {board!r}")
    return kind, int(raw_id)


def board_group(board: str) -> str:
    # Channels group names allow letters, digits, hyphens, underscores and periods.
    kind, board_id = board_parse(board)
    return f"lb-live.{kind}.{board_id}"


def board_access_check(*, board: str, token: str | None) -> None:
    """Refuse a live board the caller may not watch.

    Raises NotFound for an unknown board, a 401 ApplicationError for a league
    board without a valid access token, Forbidden for a non-member. Tournament
    boards are public; a token sent to one is ignored.
    """
    from apps.common.errors import ApplicationError, Forbidden, NotFound
    from apps.leaderboards.models import League
    from apps.leaderboards.selectors.leagues import league_is_member
    from apps.matches.models import Tournament

    kind, board_id = board_parse(board)
    if kind == "tournament":
        if not Tournament.objects.filter(pk=board_id).exists():
            raise NotFound("tournament_not_found", "No tournament has this id.")
        return
    if not League.objects.filter(pk=board_id).exists():
        raise NotFound("league_not_found", "No league has this id.")
    if not token:
        raise ApplicationError(
            "not_authenticated", "League boards need a member's access token.", status_code=401
        )
    member_id = _member_from_token(token)
    if member_id is None:
        raise ApplicationError("token_not_valid", "The access token is invalid or expired.", status_code=401)
    if not league_is_member(league_id=board_id, member_id=member_id):
        raise Forbidden("not_league_member", "Only members of this league can watch its board.")


def _member_from_token(token: str) -> int | None:
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

    auth = JWTAuthentication()
    try:
        user = auth.get_user(auth.get_validated_token(token.encode()))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    return user.pk if user.is_active else None


# --- the top 10 -----------------------------------------------------------------


def top_read(*, board: str) -> tuple[int, list[dict]]:
    """The board's version and its top 10 rows, in the contract's row shape."""
    from apps.leaderboards.selectors.boards import leaderboard_page

    page = leaderboard_page(board=board, limit=TOP_SIZE, offset=0)
    get = page.get if isinstance(page, dict) else lambda name: getattr(page, name)
    rows = [
        {
            "rank": row["rank"],
            "member": {"id": row["member"]["id"], "display_name": row["member"]["display_name"]},
            "points": row["points"],
            "exact_hits": row["exact_hits"],
            "outcome_hits": row["outcome_hits"],
        }
        for row in get("rows")
    ]
    return int(get("version")), rows


def _canonical(rows: list[dict]) -> str:
    return json.dumps(rows, separators=(",", ":"), sort_keys=True)


def moves_between(old_rows: list[dict] | None, new_rows: list[dict]) -> list[dict]:
    """Members whose rank changed, entered (old_rank null) or left (new_rank null) the top."""
    old = {row["member"]["id"]: row["rank"] for row in old_rows or []}
    new = {row["member"]["id"]: row["rank"] for row in new_rows}
    moves = [
        {"member_id": member_id, "old_rank": old.get(member_id), "new_rank": rank}
        for member_id, rank in new.items()
        if old.get(member_id) != rank
    ]
    moves += [
        {"member_id": member_id, "old_rank": rank, "new_rank": None}
        for member_id, rank in old.items()
        if member_id not in new
    ]
    return moves


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


class Frame:
    """One message for one board, serialized once and shared by every client of a process."""

    __slots__ = ("board", "version", "kind", "text", "committed_at", "_rows", "_sse", "_snapshot")

    def __init__(self, *, board: str, version: int, kind: str, text: str, committed_at: float | None = None,
                 rows: list[dict] | None = None):
        self.board = board
        self.version = version
        self.kind = kind
        self.text = text
        self.committed_at = committed_at
        self._rows = rows
        self._sse: str | None = None
        self._snapshot: Frame | None = None

    @classmethod
    def snapshot_of(cls, *, board: str, version: int, rows: list[dict]) -> Frame:
        text = json.dumps({"type": "snapshot", "board": board, "version": version, "top": rows})
        return cls(board=board, version=version, kind="snapshot", text=text, rows=rows)

    @classmethod
    def update_of(cls, *, board: str, version: int, previous_version: int | None, rows: list[dict],
                  old_rows: list[dict] | None, committed_at: float) -> Frame:
        text = json.dumps(
            {
                "type": "update",
                "board": board,
                "version": version,
                "previous_version": previous_version,
                "top": rows,
                "moves": moves_between(old_rows, rows),
                "committed_at": _iso(committed_at),
            }
        )
        return cls(board=board, version=version, kind="update", text=text, committed_at=committed_at, rows=rows)

    @property
    def rows(self) -> list[dict]:
        if self._rows is None:
            self._rows = json.loads(self.text)["top"]
        return self._rows

    @property
    def sse(self) -> str:
        if self._sse is None:
            self._sse = f"event: {self.kind}\nid: {self.version}\ndata: {self.text}\n\n"
        return self._sse

    def snapshot(self) -> Frame:
        if self.kind == "snapshot":
            return self
        if self._snapshot is None:
            self._snapshot = Frame.snapshot_of(board=self.board, version=self.version, rows=self.rows)
        return self._snapshot


# --- where subscribers and the last published top 10 are kept ---------------------

_INDEX_KEY = "lb:live:boards"


def _subs_key(board: str) -> str:
    return f"lb:live:subs:{board}"


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


class _RedisStore:
    def __init__(self, url: str):
        self.url = url
        self._sync = None
        self._sync_pid = None

    # sync side: the publisher in settlement workers
    def client(self):
        import redis

        if self._sync is None or self._sync_pid != os.getpid():
            # Created lazily per process: a connection must not cross a fork.
            self._sync = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
            self._sync_pid = os.getpid()
        return self._sync

    def boards_watched(self, boards: list[str]) -> list[str]:
        now = time.time()
        watched: list[str] = []
        client = self.client()
        for start in range(0, len(boards), 1000):
            chunk = boards[start : start + 1000]
            scores = client.zmscore(_INDEX_KEY, chunk)
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

    def subscriber_count(self, board: str) -> int:
        now = time.time()
        total = 0
        for value in self.client().hvals(_subs_key(board)):
            count, _, expires = value.decode().partition(":")
            if float(expires) > now:
                total += int(count)
        return total

    # async side: the hub in web processes
    def async_client(self):
        from redis import asyncio as aioredis

        # A blocking pool: thousands of clients connecting at once wait for a
        # connection instead of failing with "Too many connections" at the
        # default cap of 100 (only board joins and leaves reach Redis anyway).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=16, timeout=20, socket_timeout=10, socket_connect_timeout=5
        )
        return aioredis.Redis(connection_pool=pool)

    async def watch(self, client, proc: str, counts: dict[str, int], ttl: float) -> None:
        expires = time.time() + ttl
        async with client.pipeline(transaction=False) as pipe:
            for board, count in counts.items():
                pipe.eval(_WATCH_LUA, 2, _INDEX_KEY, _subs_key(board), board, proc, count, expires, int(ttl) + 1)
            await pipe.execute()

    async def unwatch(self, client, proc: str, board: str) -> None:
        await client.eval(_UNWATCH_LUA, 2, _INDEX_KEY, _subs_key(board), board, proc, time.time())

    async def prune(self, client) -> None:
        await client.zremrangebyscore(_INDEX_KEY, "-inf", time.time())

    async def baseline_seed(self, client, board: str, version: int, canonical: str) -> None:
        await client.set(_last_key(board), f"{version}|{canonical}", nx=True, ex=_LAST_TTL)


_store_instance: _RedisStore | None = None


def _store() -> _RedisStore | None:
    """The Redis store, or None when the project runs embedded (no REDIS_URL)."""
    global _store_instance
    if not settings.REDIS_URL:
        return None
    if _store_instance is None or _store_instance.url != settings.REDIS_URL:
        _store_instance = _RedisStore(settings.REDIS_URL)
    return _store_instance


def subscriber_count(*, board: str) -> int:
    """Live clients of `board` over every web process (this process alone when embedded)."""
    store = _store()
    if store is not None:
        return store.subscriber_count(board)
    hub = _hub
    feed = hub.boards.get(board) if hub is not None else None
    return len(feed.clients) if feed is not None else 0


# --- publishing -------------------------------------------------------------------


def boards_changed(*, boards: Iterable[str]) -> None:
    """Publish the new top 10 of each board whose top 10 changed and that has live subscribers.

    Call after the transaction that moved the standings has committed. Never
    raises: the change is committed whatever happens here, and a client that
    misses an update catches up with the next one or on reconnecting.
    """
    committed_at = time.time()
    boards = list(dict.fromkeys(boards))
    if not boards:
        return
    try:
        store = _store()
        if store is None:
            _embedded_refresh(boards)
            return
        _publish(store, boards, committed_at)
    except Exception:
        logger.exception("live top-10 publishing failed for %d boards", len(boards))


def _publish(store: _RedisStore, boards: list[str], committed_at: float) -> None:
    watched = store.boards_watched(boards)
    unwatched = [board for board in boards if board not in set(watched)]
    if unwatched:
        # Nobody sees these boards, so nothing was published to compare with
        # later: a stale entry could hide the next change from a new client.
        store.baselines_drop(unwatched)
    messages = []
    for board in watched:
        version, rows = top_read(board=board)
        changed, previous_version, previous_top = store.baseline_swap(board, version, _canonical(rows))
        if not changed:
            continue
        frame = Frame.update_of(
            board=board,
            version=version,
            previous_version=previous_version,
            rows=rows,
            old_rows=json.loads(previous_top) if previous_top else None,
            committed_at=committed_at,
        )
        messages.append(
            (
                board_group(board),
                {
                    "type": UPDATE_MESSAGE,
                    "board": board,
                    "version": version,
                    "text": frame.text,
                    "committed_at": committed_at,
                },
            )
        )
    if not messages:
        return
    _group_send_all(messages)
    for _, message in messages:
        LIVE_PUBLISHED.labels(board_parse(message["board"])[0]).inc()


def _group_send_all(messages: list[tuple[str, dict]]) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(send_all)()
        return
    # Called on an event loop's own thread: hand the sends to that loop.
    asyncio.get_running_loop().create_task(send_all())


def _embedded_refresh(boards: list[str]) -> None:
    hub = _hub
    if hub is None or hub.loop.is_closed():
        return
    hub.loop.call_soon_threadsafe(hub.refresh_soon, boards)


# --- the per-process hub (web processes) -------------------------------------------


class LiveClient(Protocol):
    live_transport: str
    live_version: int | None

    async def live_send(self, frame: Frame) -> None: ...


class _Feed:
    __slots__ = ("clients", "state", "lock", "subscribed")

    def __init__(self):
        self.clients: set = set()
        self.state: Frame | None = None
        self.lock = asyncio.Lock()
        self.subscribed = False


class _Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        from channels.layers import InMemoryChannelLayer, get_channel_layer

        self.loop = loop
        self.boards: dict[str, _Feed] = {}
        self.proc = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = _store()
        self.layer = get_channel_layer()
        self.embedded = self.store is None or isinstance(self.layer, InMemoryChannelLayer)
        self.channel: str | None = None
        self.redis = None
        self._tasks: list[asyncio.Task] = []
        self._started = asyncio.Lock()
        self._pending_refresh: set[str] = set()
        self._checks: dict[str, asyncio.Task] = {}

    # lifecycle

    async def _ensure_started(self) -> None:
        if self._tasks:
            return
        async with self._started:
            if self._tasks:
                return
            if self.embedded:
                self._tasks.append(self.loop.create_task(self._poll_loop()))
            else:
                self.redis = self.store.async_client()
                self.channel = await self.layer.new_channel("lb-live-hub.")
                self._tasks.append(self.loop.create_task(self._receive_loop()))
                self._tasks.append(self.loop.create_task(self._refresh_loop()))

    # clients

    async def check(self, board: str, token: str | None) -> None:
        """`board_access_check` without a database query per client of a public board.

        A reconnect storm brings thousands of clients to the same tournament at
        once: one query answers all of them, and none once the board is held.
        League boards are checked per client (membership is per member).
        """
        kind, _ = board_parse(board)
        if kind != "tournament":
            await _sync(board_access_check)(board=board, token=token)
            return
        feed = self.boards.get(board)
        if feed is not None and feed.state is not None:
            return
        pending = self._checks.get(board)
        if pending is None:
            pending = self._checks[board] = self.loop.create_task(_sync(board_access_check)(board=board, token=None))
            pending.add_done_callback(lambda _: self._checks.pop(board, None))
        await asyncio.shield(pending)

    async def attach(self, board: str, client: LiveClient) -> Frame:
        """Add a client to a board; returns the snapshot to send it first.

        Updates that arrive while the snapshot loads are folded into it, and
        the client receives only updates newer than the snapshot it got.
        """
        await self._ensure_started()
        feed = self.boards.get(board)
        if feed is None:
            feed = self.boards[board] = _Feed()
        client.live_version = None
        feed.clients.add(client)
        LIVE_CLIENTS.labels(client.live_transport).inc()
        try:
            async with feed.lock:
                if not feed.subscribed and not self.embedded:
                    # Join the group before reading the top 10: an update
                    # published in between is then received, never lost.
                    await self.layer.group_add(board_group(board), self.channel)
                    await self.store.watch(self.redis, self.proc, {board: len(feed.clients)}, self._ttl())
                    feed.subscribed = True
                if feed.state is None:
                    version, rows = await _top_read_async(board)
                    self._offer(feed, Frame.snapshot_of(board=board, version=version, rows=rows))
                    if not self.embedded:
                        await self.store.baseline_seed(self.redis, board, version, _canonical(rows))
        except BaseException:
            self.detach(board, client)
            raise
        snapshot = feed.state.snapshot()
        client.live_version = snapshot.version
        return snapshot

    def detach(self, board: str, client: LiveClient) -> None:
        feed = self.boards.get(board)
        if feed is None or client not in feed.clients:
            return
        feed.clients.discard(client)
        LIVE_CLIENTS.labels(client.live_transport).dec()
        if not feed.clients:
            # Its own task: a cancelled request must not cut the teardown short.
            self.loop.create_task(self._teardown(board, feed))

    def current(self, board: str) -> Frame | None:
        feed = self.boards.get(board)
        return feed.state.snapshot() if feed is not None and feed.state is not None else None

    async def _teardown(self, board: str, feed: _Feed) -> None:
        async with feed.lock:
            if feed.clients:
                return
            try:
                if feed.subscribed:
                    feed.subscribed = False
                    await self.layer.group_discard(board_group(board), self.channel)
                    await self.store.unwatch(self.redis, self.proc, board)
            except Exception:
                logger.exception("leaving live board %s failed; its registration expires by itself", board)
            finally:
                # Messages missed while unsubscribed make the cached state unsafe.
                feed.state = None
                if not feed.clients and self.boards.get(board) is feed:
                    del self.boards[board]

    # messages

    def _offer(self, feed: _Feed, frame: Frame) -> bool:
        if feed.state is not None and frame.version <= feed.state.version:
            return False
        feed.state = frame
        return True

    async def _dispatch(self, frame: Frame) -> None:
        feed = self.boards.get(frame.board)
        if feed is None or not self._offer(feed, frame):
            return
        sent = {"websocket": 0, "sse": 0}
        for client in list(feed.clients):
            if client.live_version is None or frame.version <= client.live_version:
                continue
            client.live_version = frame.version
            try:
                await client.live_send(frame)
            except Exception:
                logger.warning("live send to a %s client failed", client.live_transport, exc_info=True)
                continue
            sent[client.live_transport] += 1
        for transport, count in sent.items():
            if count:
                LIVE_SENT.labels(transport).inc(count)
        if frame.committed_at is not None:
            LIVE_LAG.observe(max(0.0, time.time() - frame.committed_at))

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live hub receive failed; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") != UPDATE_MESSAGE:
                continue
            frame = Frame(
                board=message["board"],
                version=int(message["version"]),
                kind="update",
                text=message["text"],
                committed_at=message.get("committed_at"),
            )
            try:
                await self._dispatch(frame)
            except Exception:
                logger.exception("live dispatch failed for %s", frame.board)

    def _ttl(self) -> float:
        return float(_setting("LIVE_SUBSCRIBER_TTL_SECONDS", 30))

    async def _refresh_loop(self) -> None:
        # Three refreshes per lifetime: one lost write never lets a live entry lapse.
        while True:
            await asyncio.sleep(self._ttl() / 3)
            counts = {board: len(feed.clients) for board, feed in self.boards.items() if feed.subscribed}
            try:
                if counts:
                    await self.store.watch(self.redis, self.proc, counts, self._ttl())
                await self.store.prune(self.redis)
            except Exception:
                logger.warning("refreshing live subscriber counts failed", exc_info=True)

    # embedded: re-read the watched boards instead of waiting for messages

    def refresh_soon(self, boards: list[str]) -> None:
        wanted = [board for board in boards if board in self.boards]
        if wanted:
            self._pending_refresh.update(wanted)
            self.loop.create_task(self._refresh_boards(wanted))

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(float(_setting("LIVE_POLL_SECONDS", 1.0)))
            try:
                await self._refresh_boards(list(self.boards))
            except Exception:
                logger.exception("live poll failed")

    async def _refresh_boards(self, boards: list[str]) -> None:
        for board in boards:
            feed = self.boards.get(board)
            if feed is None or feed.state is None:
                continue
            committed_at = time.time()
            version, rows = await _top_read_async(board)
            current = feed.state
            if current is None or version <= current.version or _canonical(rows) == _canonical(current.rows):
                continue
            await self._dispatch(
                Frame.update_of(
                    board=board,
                    version=version,
                    previous_version=current.version,
                    rows=rows,
                    old_rows=current.rows,
                    committed_at=committed_at,
                )
            )


def _sync(function):
    from channels.db import database_sync_to_async

    return database_sync_to_async(function)


async def _top_read_async(board: str) -> tuple[int, list[dict]]:
    return await _sync(top_read)(board=board)


_hub: _Hub | None = None
_hub_lock = threading.Lock()


def hub() -> _Hub:
    """This process's hub, bound to the running event loop."""
    global _hub
    loop = asyncio.get_running_loop()
    with _hub_lock:
        if _hub is None or _hub.loop is not loop:
            _hub = _Hub(loop)
        return _hub
