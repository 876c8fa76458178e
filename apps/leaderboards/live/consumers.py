"""WebSocket: the live top 10 of a tournament or league board (API.md "Live top 10")."""

import json
import logging
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.common.errors import ApplicationError
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live.frames import Frame
from apps.leaderboards.live.hub import hub

logger = logging.getLogger(__name__)

# 4000 + the HTTP status the same refusal answers over HTTP.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011


class LeaderboardConsumer(AsyncWebsocketConsumer):
    """Sends a `snapshot` on connect, then each `update` of the board's top 10.

    A client may send `{"type": "snapshot"}` to get the current top 10 again
    (after a version gap). Messages come from the process's live hub, which
    joins the board's group once for all its clients: no channel per client.
    """

    board_kind = "tournament"
    channel_layer_alias = None
    live_transport = "websocket"

    async def dispatch(self, message):
        # Channels closes stale database connections before every message, a
        # hop to its single database thread that thousands of clients
        # connecting at once would queue on. This consumer reaches the database
        # only through database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.board = None
        self.live_version = None
        board = str(BoardKey(self.board_kind, int(self.scope["url_route"]["kwargs"]["board_id"])))
        # Accept first: only an accepted socket can be closed with a 44xx code.
        await self.accept()
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [None])[0]
        try:
            await hub().check(board, token)
        except ApplicationError as exc:
            await self.close(code=4000 + exc.status_code)
            return
        try:
            snapshot = await hub().attach(board, self)
        except Exception:
            logger.exception("live board %s could not be loaded", board)
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.board = board
        await self.send(text_data=snapshot.text)

    async def disconnect(self, code):
        if self.board is not None:
            hub().detach(self.board, self)
            self.board = None

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "snapshot" and self.board is not None:
            snapshot = hub().current(self.board)
            if snapshot is not None:
                self.live_version = snapshot.version
                await self.send(text_data=snapshot.text)

    async def live_send(self, frame: Frame) -> None:
        await self.send(text_data=frame.text)


class TournamentLeaderboardConsumer(LeaderboardConsumer):
    board_kind = "tournament"


class LeagueLeaderboardConsumer(LeaderboardConsumer):
    board_kind = "league"
