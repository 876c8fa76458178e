"""The per-process live hub: one per web process, fanning each board's updates out to its clients.

With Redis (REDIS_URL set):
- Each web process keeps one hub on its event loop. The hub holds one
  channel on the Channels layer and joins a group per board that has local
  clients, so a message crosses Redis once per process, not once per client.
- The hub registers each board it holds in Redis (`registry`) and refreshes
  the entries while it holds clients: a crashed process stops counting once
  its entries expire.

Embedded (no REDIS_URL): the channel layer is in-memory and settlement may run
in another process, so each web process re-reads the top 10 of the boards its
clients watch every LIVE_POLL_SECONDS and publishes changes to them itself;
the publisher in the same process asks for an immediate re-read.

Access: a league stream ends when the token that opened it expires (the hub
keeps a timer per such client) and when `revoke` reaches the process: a
`live.revoke` message on the board's group (sent by `receivers` after a
member leaves a league or is deactivated) closes that member's streams of the
board here, in every process that holds the board.

Versions are the board's own version (it grows with every change of the
board, also outside the top 10). An update carries `previous_version`, the
version of the update published before it: a client whose version is lower
missed one and reloads the snapshot.

Members' own streams (`own_ranks`) watch every board their member is on
through the same feeds: a board held for them is joined and registered like
one held for its top 10, and each version the publisher announces (an
`update`, or a `live.version` when the top 10 did not change) starts one
batched read of the ranks of the members this process holds on the board.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from apps.leaderboards.boards.keys import TOURNAMENT, BoardKey
from apps.leaderboards.boards.selectors import leaderboard_top
from apps.leaderboards.live import registry
from apps.leaderboards.live import own_ranks
from apps.leaderboards.live.access import Viewer, board_access_check, member_stream_access, viewer_still_allowed
from apps.leaderboards.achievements.catalogue import achievement_name
from apps.leaderboards.live.frames import (
    MEMBER_ACHIEVEMENTS_MESSAGE,
    MEMBER_BOARD_MESSAGE,
    MEMBER_END_MESSAGE,
    MEMBER_STREAMS_GROUP,
    REVOKE_MESSAGE,
    UPDATE_MESSAGE,
    VERSION_MESSAGE,
    Frame,
    achievement_message,
    canonical,
)
from apps.leaderboards.live.metrics import LIVE_CLIENTS, LIVE_LAG, LIVE_SENT

logger = logging.getLogger(__name__)


# Why a stream was ended, as WebSocket close codes (4000 + the HTTP status the
# same refusal answers); SSE streams simply end.
CLOSE_TOKEN_EXPIRED = 4401
CLOSE_ACCESS_REVOKED = 4403


class LiveClient(Protocol):
    live_transport: str
    live_version: int | None
    # The member a league stream was opened for, and when its token expires
    # (a Unix time); None on public boards.
    live_member_id: int | None
    live_expires_at: float | None

    async def live_send(self, frame: Frame) -> None: ...

    async def live_close(self, code: int) -> None:
        """End the stream: close a WebSocket with `code`, end an SSE response. Called once, after detaching."""


class _Feed:
    __slots__ = ("clients", "state", "lock", "subscribed", "ranks", "top_watched", "own_watched")

    def __init__(self):
        self.clients: set = set()
        self.state: Frame | None = None
        self.lock = asyncio.Lock()
        # In the board's group; registered (`registry`) as watched for its top 10, for members' own streams.
        self.subscribed = False
        self.top_watched = False
        self.own_watched = False
        # The members' own streams on this board, once one watches it.
        self.ranks: own_ranks.RankFeed | None = None

    def has_members(self) -> bool:
        return self.ranks is not None and bool(self.ranks.members)

    def idle(self) -> bool:
        return not self.clients and not self.has_members()

    def settled(self) -> bool:
        """Whether it has clients and no registration they do not need (nothing for `_release` to do)."""
        return (
            not self.idle()
            and (bool(self.clients) or not self.top_watched)
            and (self.has_members() or not self.own_watched)
        )


class _Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.boards: dict[str, _Feed] = {}
        self.proc = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = registry.store()
        self.layer = get_channel_layer()
        self.embedded = self.store is None or isinstance(self.layer, InMemoryChannelLayer)
        self.channel: str | None = None
        self.redis = None
        self._tasks: list[asyncio.Task] = []
        self._started = asyncio.Lock()
        self._pending_refresh: set[str] = set()
        self._checks: dict[str, asyncio.Task] = {}
        self._expiries: dict[LiveClient, asyncio.TimerHandle] = {}
        self.member_clients: set[own_ranks.MemberClient] = set()
        self._member_group_joined = False

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

    async def check(self, board: str, token: str | None) -> Viewer | None:
        """`board_access_check` without a database query per client of a public board.

        A reconnect storm brings thousands of clients to the same tournament at
        once: one query answers all of them, and none once the board is held.
        League boards are checked per client (membership is per member).
        """
        key = BoardKey.parse(board)
        if key.kind != TOURNAMENT:
            return await _sync(board_access_check)(board=key, token=token)
        feed = self.boards.get(board)
        if feed is not None and feed.state is not None:
            return None
        pending = self._checks.get(board)
        if pending is None:
            pending = self._checks[board] = self.loop.create_task(_sync(board_access_check)(board=key, token=None))
            pending.add_done_callback(lambda _: self._checks.pop(board, None))
        await asyncio.shield(pending)
        return None

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
                # Join the group before reading the top 10: an update
                # published in between is then received, never lost.
                await self._subscribe(board, feed)
                if feed.state is None:
                    version, rows = await _top_read_async(board)
                    self._offer(feed, Frame.snapshot_of(board=board, version=version, rows=rows))
                    if not self.embedded:
                        await self.store.baseline_seed(self.redis, board, version, canonical(rows))
        except BaseException:
            self.detach(board, client)
            raise
        if client.live_member_id is not None and not await self._still_allowed(board, client):
            raise AccessEnded
        snapshot = feed.state.snapshot()
        client.live_version = snapshot.version
        return snapshot

    async def _subscribe(self, board: str, feed: _Feed) -> None:
        """Join the board's group and register what its clients watch (under `feed.lock`).

        Top-10 clients and members' own streams are registered apart: the
        publisher reads the top 10 only of boards whose top 10 is watched.
        """
        if self.embedded:
            return
        if not feed.subscribed:
            await self.layer.group_add(BoardKey.parse(board).group, self.channel)
            feed.subscribed = True
        if feed.clients and not feed.top_watched:
            await self.store.watch(self.redis, self.proc, {board: len(feed.clients)}, self._ttl())
            feed.top_watched = True
        if feed.has_members() and not feed.own_watched:
            await self.store.watch(self.redis, self.proc, {board: feed.ranks.count()}, self._ttl(), own=True)
            feed.own_watched = True

    async def _still_allowed(self, board: str, client: LiveClient) -> bool:
        # The access check ran before the client joined the board: a removal
        # committed in between sent its `live.revoke` before this process
        # listened for it. Read access again now that any later revoke does
        # reach this client.
        if not self._holds(board, client):
            return False  # revoked while the snapshot loaded
        allowed = await _sync(viewer_still_allowed)(board=BoardKey.parse(board), member_id=client.live_member_id)
        if not allowed or not self._holds(board, client):
            self.detach(board, client)
            return False
        if client.live_expires_at is not None:
            delay = max(0.0, client.live_expires_at - time.time())
            self._expiries[client] = self.loop.call_later(
                delay, self._end, board, client, CLOSE_TOKEN_EXPIRED
            )
        return True

    def detach(self, board: str, client: LiveClient) -> None:
        feed = self.boards.get(board)
        if feed is None or client not in feed.clients:
            return
        feed.clients.discard(client)
        expiry = self._expiries.pop(client, None)
        if expiry is not None:
            expiry.cancel()
        LIVE_CLIENTS.labels(client.live_transport).dec()
        self._release(board, feed)

    def _release(self, board: str, feed: _Feed) -> None:
        if not feed.settled():
            # Its own task: a cancelled request must not cut the teardown short.
            self.loop.create_task(self._teardown(board, feed))

    # members' own streams

    async def member_check(self, token: str | None) -> tuple[Viewer, list[BoardKey]]:
        """The member a token opens their own stream for and their boards (`access.member_stream_access`)."""
        return await _sync(member_stream_access)(token=token)

    async def member_attach(self, client: own_ranks.MemberClient, boards: list[BoardKey]) -> None:
        """Add a member's own stream to each of their boards, then send it its rank on each.

        The stream joins the boards before their ranks are read: a version
        announced in between reaches it through the fan-out, and the first
        read never sends an older answer after a newer one (`own_ranks.deliver`).
        """
        await self._ensure_started()
        if not self.embedded and not self._member_group_joined:
            # Joined once for the process's life: a deactivated member's own
            # streams are ended through it (`member_end`).
            self._member_group_joined = True
            await self.layer.group_add(MEMBER_STREAMS_GROUP, self.channel)
        client.live_ranks = {}
        client.live_boards = {str(key) for key in boards}
        self.member_clients.add(client)
        LIVE_CLIENTS.labels(client.live_transport).inc()
        if client.live_expires_at is not None:
            delay = max(0.0, client.live_expires_at - time.time())
            self._expiries[client] = self.loop.call_later(delay, self._member_end, client, CLOSE_TOKEN_EXPIRED)
        try:
            for key in boards:
                if client not in self.member_clients:
                    break  # gone while an earlier board was joined
                await self._member_join(key, client)
            if client not in self.member_clients:
                # Detached while joining: leave the boards joined after that.
                for key in boards:
                    self._member_leave(str(key), client)
                return
            await own_ranks.first_ranks(client, boards)
        except BaseException:
            self.member_detach(client)
            raise

    async def _member_join(self, key: BoardKey, client: own_ranks.MemberClient) -> None:
        board = str(key)
        feed = self.boards.get(board)
        if feed is None:
            feed = self.boards[board] = _Feed()
        if feed.ranks is None:
            feed.ranks = own_ranks.RankFeed(key)
        feed.ranks.add(client)
        async with feed.lock:
            await self._subscribe(board, feed)

    def member_board_follow(self, member_id: int, key: BoardKey) -> None:
        """The member is on one more board: their own streams in this process follow it (on the hub's loop)."""
        self.loop.create_task(_member_board_add_quietly(self, member_id, key))

    async def member_board_add(self, member_id: int, key: BoardKey) -> None:
        """Have the member's own streams in this process follow `key`, starting with their rank on it."""
        board = str(key)
        for client in [c for c in self.member_clients if c.live_member_id == member_id and board not in c.live_boards]:
            client.live_boards.add(board)
            await self._member_join(key, client)
            if client not in self.member_clients:
                self._member_leave(board, client)  # gone meanwhile
                continue
            await own_ranks.first_ranks(client, [key])

    def member_achievements(self, tournament_id: int, earned: list) -> None:
        """Push each achievement to the own streams of its member that this process holds (on the hub's loop)."""
        codes: dict[int, list[str]] = {}
        for member_id, code in earned:
            codes.setdefault(int(member_id), []).append(code)
        for client in [c for c in self.member_clients if c.live_member_id in codes]:
            for code in codes[client.live_member_id]:
                message = achievement_message(tournament=tournament_id, code=code, name=achievement_name(code))
                self.loop.create_task(_member_send_quietly(client, message))

    def member_detach(self, client: own_ranks.MemberClient) -> None:
        if client not in self.member_clients:
            return
        self.member_clients.discard(client)
        expiry = self._expiries.pop(client, None)
        if expiry is not None:
            expiry.cancel()
        LIVE_CLIENTS.labels(client.live_transport).dec()
        for board in list(client.live_boards):
            self._member_leave(board, client)

    def _member_leave(self, board: str, client: own_ranks.MemberClient) -> None:
        client.live_boards.discard(board)
        feed = self.boards.get(board)
        if feed is not None and feed.ranks is not None:
            feed.ranks.remove(client)
            self._release(board, feed)

    def member_end(self, member_id: int, code: int = CLOSE_ACCESS_REVOKED) -> int:
        """End this process's own streams of `member_id`; returns how many."""
        ended = [client for client in self.member_clients if client.live_member_id == member_id]
        for client in ended:
            self._member_end(client, code)
        return len(ended)

    def _member_end(self, client: own_ranks.MemberClient, code: int) -> None:
        self.member_detach(client)
        self.loop.create_task(_close_quietly(client, code))

    def _ranks_announced(self, board: str, version: int | None) -> None:
        feed = self.boards.get(board)
        if feed is None or feed.ranks is None or not feed.ranks.members:
            return
        # Its own task: the receive loop goes on to the next message while the ranks are read.
        self.loop.create_task(_fan_out_quietly(board, feed.ranks, version))

    async def still_allowed(self, board: str, client: LiveClient) -> bool:
        """Read a league client's access again; a client that lost it is ended (4403) here and now."""
        allowed = await _sync(viewer_still_allowed)(board=BoardKey.parse(board), member_id=client.live_member_id)
        if not allowed and self._holds(board, client):
            self._end(board, client, CLOSE_ACCESS_REVOKED)
        return allowed and self._holds(board, client)

    def _holds(self, board: str, client: LiveClient) -> bool:
        feed = self.boards.get(board)
        return feed is not None and client in feed.clients

    def revoke(self, board: str, member_id: int, code: int = CLOSE_ACCESS_REVOKED) -> int:
        """End this process's streams of `board` opened by `member_id`; returns how many.

        The member's own streams stay open and stop following the board.
        """
        feed = self.boards.get(board)
        if feed is None:
            return 0
        if feed.ranks is not None:
            for client in list(feed.ranks.members.get(member_id, ())):
                self._member_leave(board, client)
        ended = [client for client in feed.clients if client.live_member_id == member_id]
        for client in ended:
            self._end(board, client, code)
        return len(ended)

    async def end_all(self, code: int) -> int:
        """End every stream this process holds (it is stopping); returns once each close has been sent."""
        ended = [(board, client) for board, feed in list(self.boards.items()) for client in list(feed.clients)]
        for board, client in ended:
            self.detach(board, client)
        members = list(self.member_clients)
        for client in members:
            self.member_detach(client)
        await asyncio.gather(*(_close_quietly(client, code) for _, client in ended), *(
            _close_quietly(client, code) for client in members
        ))
        return len(ended) + len(members)

    def _end(self, board: str, client: LiveClient, code: int) -> None:
        # Detached at once, so not one more update (nor a requested snapshot)
        # reaches the client while its close is on its way.
        self.detach(board, client)
        self.loop.create_task(_close_quietly(client, code))

    def current(self, board: str) -> Frame | None:
        feed = self.boards.get(board)
        return feed.state.snapshot() if feed is not None and feed.state is not None else None

    async def _teardown(self, board: str, feed: _Feed) -> None:
        """Drop the registrations nobody needs any more, and the group and the feed once it has no client."""
        async with feed.lock:
            try:
                if feed.top_watched and not feed.clients:
                    # The publisher stops sending this board's updates, so the
                    # top 10 held here would go stale: read afresh by the next client.
                    feed.top_watched = False
                    feed.state = None
                    await self.store.unwatch(self.redis, self.proc, board)
                if feed.own_watched and not feed.has_members():
                    feed.own_watched = False
                    await self.store.unwatch(self.redis, self.proc, board, own=True)
                if feed.subscribed and feed.idle():
                    feed.subscribed = False
                    await self.layer.group_discard(BoardKey.parse(board).group, self.channel)
            except Exception:
                logger.exception("leaving live board %s failed; its registration expires by itself", board)
            finally:
                if feed.idle():
                    # Messages missed while unsubscribed make the cached state unsafe.
                    feed.state = None
                    if self.boards.get(board) is feed:
                        del self.boards[board]

    # messages

    def _offer(self, feed: _Feed, frame: Frame) -> bool:
        if feed.state is not None and frame.version <= feed.state.version:
            return False
        feed.state = frame
        return True

    async def _dispatch(self, frame: Frame) -> None:
        feed = self.boards.get(frame.board)
        # A board held only for members' own streams keeps no top 10: updates
        # may stop reaching it (the top 10 watched nowhere), so a client that
        # comes for the top 10 reads it afresh.
        if feed is None or not feed.clients or not self._offer(feed, frame):
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
            if message.get("type") == REVOKE_MESSAGE:
                self.revoke(message["board"], int(message["member_id"]), int(message.get("code", CLOSE_ACCESS_REVOKED)))
                continue
            if message.get("type") == MEMBER_END_MESSAGE:
                self.member_end(int(message["member_id"]), int(message.get("code", CLOSE_ACCESS_REVOKED)))
                continue
            if message.get("type") == MEMBER_ACHIEVEMENTS_MESSAGE:
                self.member_achievements(int(message["tournament"]), message["earned"])
                continue
            if message.get("type") == MEMBER_BOARD_MESSAGE:
                key = BoardKey.parse(message["board"]).with_tournament(int(message["tournament"]))
                self.member_board_follow(int(message["member_id"]), key)
                continue
            if message.get("type") in (UPDATE_MESSAGE, VERSION_MESSAGE):
                self._ranks_announced(message["board"], int(message["version"]))
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
        return float(getattr(settings, "LIVE_SUBSCRIBER_TTL_SECONDS", 30))

    async def _refresh_loop(self) -> None:
        # Three refreshes per lifetime: one lost write never lets a live entry lapse.
        while True:
            await asyncio.sleep(self._ttl() / 3)
            counts = {board: len(feed.clients) for board, feed in self.boards.items() if feed.top_watched}
            own = {board: feed.ranks.count() for board, feed in self.boards.items() if feed.own_watched}
            try:
                if counts:
                    await self.store.watch(self.redis, self.proc, counts, self._ttl())
                if own:
                    await self.store.watch(self.redis, self.proc, own, self._ttl(), own=True)
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
            await asyncio.sleep(float(getattr(settings, "LIVE_POLL_SECONDS", 1.0)))
            try:
                await self._refresh_boards(list(self.boards))
            except Exception:
                logger.exception("live poll failed")

    async def _refresh_boards(self, boards: list[str]) -> None:
        for board in boards:
            feed = self.boards.get(board)
            if feed is not None and feed.ranks is not None and feed.ranks.members:
                await _fan_out_quietly(board, feed.ranks, None)
            if feed is None or feed.state is None:
                continue
            committed_at = time.time()
            version, rows = await _top_read_async(board)
            current = feed.state
            if current is None or version <= current.version or canonical(rows) == canonical(current.rows):
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


class AccessEnded(Exception):
    """The client's access ended before it was attached (removed, deactivated, or its token expired)."""


async def _close_quietly(client: LiveClient, code: int) -> None:
    try:
        await client.live_close(code)
    except Exception:
        logger.warning("ending a %s stream failed", client.live_transport, exc_info=True)


async def _member_board_add_quietly(hub: _Hub, member_id: int, key: BoardKey) -> None:
    try:
        await hub.member_board_add(member_id, key)
    except Exception:
        logger.exception("following %s for member %s failed", key, member_id)


async def _member_send_quietly(client: own_ranks.MemberClient, message) -> None:
    try:
        await client.live_send(message)
    except Exception:
        logger.exception("sending a %s message to member %s failed", message.kind, client.live_member_id)


async def _fan_out_quietly(board: str, feed: own_ranks.RankFeed, version: int | None) -> None:
    try:
        await own_ranks.fan_out(board, feed, version)
    except Exception:
        logger.exception("live rank fan-out failed for %s", board)


def _sync(function):
    return database_sync_to_async(function)


async def _top_read_async(board: str) -> tuple[int, list[dict]]:
    return await _sync(leaderboard_top)(board=BoardKey.parse(board))


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


def current_hub() -> _Hub | None:
    """This process's hub if one was started (None in a process without live clients)."""
    return _hub


def subscriber_count(*, board: str) -> int:
    """Top-10 clients of `board` over every web process (this process alone when embedded)."""
    store = registry.store()
    if store is not None:
        return store.subscriber_count(board)
    hub = _hub
    feed = hub.boards.get(board) if hub is not None else None
    return len(feed.clients) if feed is not None else 0
