"""Server-Sent Events: the live top 10 of a board over plain HTTP (API.md "Live top 10"),
and the caller's own rank (`/api/v1/me/events`, events named `rank`).

Async views: on daphne each open stream is a coroutine waiting on a queue,
not a thread. Events are named `snapshot` and `update`; `id:` is the board
version; a reconnecting client's Last-Event-ID equal to the current version
gets no snapshot, only the next update. A comment line goes out every
LIVE_HEARTBEAT_SECONDS so proxies keep an idle stream open.

A league stream ends when its token expires or the member loses access (see
`hub`); an address holding LIVE_MAX_CONNECTIONS_PER_IP streams in this process
is answered 429. The bytes written but not yet taken by a slow client are
bounded in daphne itself (`transport_bounds`): frames are written as they come,
so the backlog below only grows while the event loop is busy.
"""

import asyncio
import json
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import JsonResponse, StreamingHttpResponse
from django.http.request import validate_host
from django.views.decorators.http import require_GET

from apps.common.errors import ApplicationError
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live.access import Viewer
from apps.leaderboards.live.frames import Frame, MemberMessage
from apps.leaderboards.live.hub import AccessEnded, hub
from apps.leaderboards.live.limits import RETRY_AFTER_SECONDS, Slot, client_address
from apps.leaderboards.live.metrics import LIVE_REFUSED

logger = logging.getLogger(__name__)

# A client this many messages behind is cut off; it reconnects and resumes
# from a snapshot. The queue holds shared frames and empties as fast as daphne
# takes writes, which it always does: what a slow reader leaves unsent is
# bounded in daphne's transport (`transport_bounds`), not here.
MAX_BACKLOG = 64


class _SseClient:
    live_transport = "sse"

    def __init__(self, viewer: Viewer | None = None):
        self.live_version: int | None = None
        self.live_member_id: int | None = viewer.member_id if viewer else None
        self.live_expires_at: float | None = viewer.expires_at if viewer else None
        # A member's own stream: the last rank sent per board, and the boards it follows.
        self.live_ranks: dict = {}
        self.live_boards: set[str] = set()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.overflowed = False
        self.ended = False

    async def live_send(self, frame: Frame | MemberMessage) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_BACKLOG:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    async def live_close(self, code: int) -> None:
        # SSE has no close code: the stream ends, and the client's reconnect
        # is answered 401 or 403 unless its access holds again.
        self.ended = True
        self.queue.put_nowait(None)


def _token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.GET.get("token") or None


def _allowed_origin(origin: str) -> bool:
    host = urlsplit(origin).hostname
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


def _error(exc: ApplicationError) -> JsonResponse:
    response = JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if exc.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _not_served_here() -> JsonResponse:
    """The answer of a WSGI process: a stream would hold one of its few sync workers until the timeout."""
    live_url = settings.LIVE_PUBLIC_URL or None
    where = f" at {live_url}" if live_url else " on the realtime (ASGI) role"
    return JsonResponse(
        {"detail": f"Live streams are served{where}, not here.", "code": "stream_not_served_here", "live_url": live_url},
        status=421,
    )


async def _events(request, board: str):
    if not isinstance(request, ASGIRequest):
        return _not_served_here()
    try:
        viewer = await hub().check(board, _token(request))
    except ApplicationError as exc:
        return _error(exc)
    return _streaming(request, _stream(board, request.headers.get("Last-Event-ID"), viewer))


def _streaming(request, events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    origin = request.headers.get("Origin")
    if origin and _allowed_origin(origin):
        # The page may be served by the web role on another port or host.
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    response["Cache-Control"] = "no-cache"
    # nginx and similar proxies buffer responses unless told not to.
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(board: str, last_event_id: str | None, viewer: Viewer | None):
    live_hub = hub()
    client = _SseClient(viewer)
    heartbeat = float(getattr(settings, "LIVE_HEARTBEAT_SECONDS", 15.0))
    try:
        # Sent before anything can fail, so the client sees the stream open.
        yield "retry: 2000\n\n"
        try:
            snapshot = await live_hub.attach(board, client)
        except AccessEnded:
            return
        except Exception:
            logger.exception("live board %s could not be loaded", board)
            return
        if client.ended:
            return
        if last_event_id is None or last_event_id.strip() != str(snapshot.version):
            yield snapshot.sse
        while True:
            try:
                # Not asyncio.wait_for: on Python 3.11 it loses a cancellation
                # that arrives as a frame does, and the stream of a client that
                # went away would then wait for frames forever.
                async with asyncio.timeout(heartbeat):
                    frame = await client.queue.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if frame is None:
                return
            yield frame.sse
    finally:
        live_hub.detach(board, client)


async def _member_stream(viewer: Viewer, boards: list[BoardKey]):
    live_hub = hub()
    client = _SseClient(viewer)
    heartbeat = float(getattr(settings, "LIVE_HEARTBEAT_SECONDS", 15.0))
    try:
        yield "retry: 2000\n\n"
        try:
            # The first rank of each board is queued here, and sent below.
            await live_hub.member_attach(client, boards)
        except Exception:
            logger.exception("member %s's ranks could not be loaded", viewer.member_id)
            return
        while True:
            try:
                # Not asyncio.wait_for: see `_stream`.
                async with asyncio.timeout(heartbeat):
                    message = await client.queue.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if message is None:
                return
            yield message.sse
    finally:
        live_hub.member_detach(client)


@require_GET
async def member_events(request):
    """The caller's own rank on each of their boards (API.md "The caller's own rank, live")."""
    if not isinstance(request, ASGIRequest):
        return _not_served_here()
    try:
        viewer, boards = await hub().member_check(_token(request))
    except ApplicationError as exc:
        return _error(exc)
    return _streaming(request, _member_stream(viewer, boards))


@require_GET
async def tournament_leaderboard_events(request, tournament_id: int):
    return await _events(request, str(BoardKey.of_tournament(tournament_id)))


@require_GET
async def league_leaderboard_events(request, league_id: int):
    return await _events(request, str(BoardKey.of_league(league_id)))


class EventStreamHandler(ASGIHandler):
    """Django's ASGI handler for the event-stream paths, without a thread per open stream.

    Django runs each request in a ThreadSensitiveContext whose executor thread
    (started by the request_started signal's receivers) lives until the
    response ends: for a stream that is one parked thread per client. Here the
    request's synchronous steps share the process's single thread-sensitive
    thread instead, as Channels consumers do; the stream itself waits on the
    event loop.

    The per-address cap is counted here, around the whole request: the slot
    is released however the request ends, also when the client goes away
    before the stream starts, and a refused client costs no Django request.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        slot = Slot.take(client_address(scope))
        if slot is None:
            LIVE_REFUSED.labels("sse").inc()
            await _refuse_too_many(send)
            return
        try:
            await self.handle(scope, receive, send)
        finally:
            slot.release()


async def _refuse_too_many(send) -> None:
    body = json.dumps(
        {
            "detail": "This address holds as many live streams as one client may; close one first.",
            "code": "too_many_connections",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
