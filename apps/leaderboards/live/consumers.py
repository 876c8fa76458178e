"""WebSocket: the live top 10 of a tournament or league board (API.md "Live top 10")."""

import json
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.common.errors import ApplicationError
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live.frames import Frame, MemberMessage
from apps.leaderboards.live.hub import CLOSE_ACCESS_REVOKED, AccessEnded, hub
from apps.leaderboards.live.limits import CLOSE_TOO_MANY_CONNECTIONS, Slot, client_address
from apps.leaderboards.live.metrics import LIVE_REFUSED

logger = logging.getLogger(__name__)

# 4000 + the HTTP status the same refusal answers over HTTP.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011
# A league board's snapshot requests are answered at most once per this many seconds per socket.
SNAPSHOT_REQUEST_INTERVAL = 1.0


class _LiveConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        # Channels closes stale database connections before every message, a
        # hop to its single database thread that thousands of clients
        # connecting at once would queue on. The live consumers reach the
        # database only through database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def live_send(self, message: Frame | MemberMessage) -> None:
        await self.send(text_data=message.text)

    async def _close(self, code: int) -> None:
        # Once: the hub and the client's own disconnect may both end the stream.
        if not self.live_closed:
            self.live_closed = True
            await self.close(code=code)


class LeaderboardConsumer(_LiveConsumer):
    """Sends a `snapshot` on connect, then each `update` of the board's top 10.

    A client may send `{"type": "snapshot"}` to get the current top 10 again
    (after a version gap). Messages come from the process's live hub, which
    joins the board's group once for all its clients: no channel per client.

    A league stream is closed with 4401 when its token expires and 4403 when
    the member leaves the league or is deactivated (see `hub`); an address
    holding LIVE_MAX_CONNECTIONS_PER_IP streams in this process gets 4429.
    """

    board_kind = "tournament"
    channel_layer_alias = None
    live_transport = "websocket"

    async def connect(self):
        self.board = None
        self.live_version = None
        self.live_member_id = None
        self.live_expires_at = None
        self.live_closed = False
        self.slot = None
        self.snapshot_asked_at = float("-inf")
        board = str(BoardKey(self.board_kind, int(self.scope["url_route"]["kwargs"]["board_id"])))
        # Accept first: only an accepted socket can be closed with a 44xx code.
        await self.accept()
        self.slot = Slot.take(client_address(self.scope))
        if self.slot is None:
            LIVE_REFUSED.labels(self.live_transport).inc()
            await self._close(CLOSE_TOO_MANY_CONNECTIONS)
            return
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [None])[0]
        try:
            viewer = await hub().check(board, token)
        except ApplicationError as exc:
            await self._close(4000 + exc.status_code)
            return
        except Exception:
            # Closed, not raised: a crashed consumer gets no disconnect, and
            # its per-address slot would never be given back.
            logger.exception("live access to %s could not be checked", board)
            await self._close(CLOSE_UNAVAILABLE)
            return
        if viewer is not None:
            self.live_member_id, self.live_expires_at = viewer.member_id, viewer.expires_at
        try:
            snapshot = await hub().attach(board, self)
        except AccessEnded:
            await self._close(CLOSE_ACCESS_REVOKED)
            return
        except Exception:
            logger.exception("live board %s could not be loaded", board)
            await self._close(CLOSE_UNAVAILABLE)
            return
        if self.live_closed:
            return
        self.board = board
        await self.send(text_data=snapshot.text)

    async def disconnect(self, code):
        if self.board is not None:
            hub().detach(self.board, self)
            self.board = None
        if self.slot is not None:
            self.slot.release()

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if not (isinstance(message, dict) and message.get("type") == "snapshot" and self.board is not None):
            return
        if self.live_member_id is not None and not await self._league_snapshot_allowed():
            return
        snapshot = hub().current(self.board)
        if snapshot is not None:
            self.live_version = snapshot.version
            await self.send(text_data=snapshot.text)

    async def _league_snapshot_allowed(self) -> bool:
        # The revoke that closes a removed member's socket travels through
        # Redis and may arrive after a request sent right after the removal:
        # a league snapshot is sent only once membership is read again. At
        # most one such read a second per socket: a client needs one snapshot
        # after a gap, and a flood must not occupy the database thread.
        now = time.monotonic()
        if now - self.snapshot_asked_at < SNAPSHOT_REQUEST_INTERVAL:
            return False
        self.snapshot_asked_at = now
        board = self.board
        if await hub().still_allowed(board, self):
            return self.board is not None
        return False

    async def live_close(self, code: int) -> None:
        # The hub detached this client already; no snapshot request is answered from now on.
        self.board = None
        await self._close(code)


class TournamentLeaderboardConsumer(LeaderboardConsumer):
    board_kind = "tournament"


class LeagueLeaderboardConsumer(LeaderboardConsumer):
    board_kind = "league"


class MemberRankConsumer(_LiveConsumer):
    """The caller's own rank (API.md "The caller's own rank, live"): `/ws/me/?token=<access>`.

    Sends a `rank` message per board the member is on right after
    connecting, then one each time their rank, points or live points on one of
    those boards change (`own_ranks`). Closed with 4401 without a valid token
    and when the token expires, 4429 past the per-address cap, 1012 when the
    process stops, like the board streams. Messages from the client are ignored.
    """

    channel_layer_alias = None
    live_transport = "websocket"

    async def connect(self):
        self.live_member_id = None
        self.live_expires_at = None
        self.live_ranks = {}
        self.live_boards = set()
        self.live_closed = False
        self.attached = False
        self.slot = None
        await self.accept()
        self.slot = Slot.take(client_address(self.scope))
        if self.slot is None:
            LIVE_REFUSED.labels(self.live_transport).inc()
            await self._close(CLOSE_TOO_MANY_CONNECTIONS)
            return
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [None])[0]
        try:
            viewer, boards = await hub().member_check(token)
        except ApplicationError as exc:
            await self._close(4000 + exc.status_code)
            return
        except Exception:
            logger.exception("a member's own stream could not be checked")
            await self._close(CLOSE_UNAVAILABLE)
            return
        self.live_member_id, self.live_expires_at = viewer.member_id, viewer.expires_at
        self.attached = True
        try:
            await hub().member_attach(self, boards)
        except Exception:
            logger.exception("member %s's ranks could not be loaded", viewer.member_id)
            await self._close(CLOSE_UNAVAILABLE)

    async def disconnect(self, code):
        if self.attached:
            self.attached = False
            hub().member_detach(self)
        if self.slot is not None:
            self.slot.release()

    async def receive(self, text_data=None, bytes_data=None):
        return

    async def live_close(self, code: int) -> None:
        self.attached = False
        await self._close(code)

