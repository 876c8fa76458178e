"""Server-Sent Events: the live top 10 of a board over plain HTTP (API.md "Live top 10").

Async views: on daphne each open stream is a coroutine waiting on a queue,
not a thread. Events are named `snapshot` and `update`; `id:` is the board
version; a reconnecting client's Last-Event-ID equal to the current version
gets no snapshot, only the next update. A comment line goes out every
LIVE_HEARTBEAT_SECONDS so proxies keep an idle stream open.
"""

import asyncio
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import JsonResponse, StreamingHttpResponse
from django.http.request import validate_host
from django.views.decorators.http import require_GET

from apps.common.errors import ApplicationError
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.live.frames import Frame
from apps.leaderboards.live.hub import hub

logger = logging.getLogger(__name__)

# A client this many messages behind is cut off; it reconnects and resumes
# from a snapshot instead of the process buffering for it without bound.
MAX_BACKLOG = 64


class _SseClient:
    live_transport = "sse"

    def __init__(self):
        self.live_version: int | None = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.overflowed = False

    async def live_send(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_BACKLOG:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)


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
        await hub().check(board, _token(request))
    except ApplicationError as exc:
        return _error(exc)
    response = StreamingHttpResponse(
        _stream(board, request.headers.get("Last-Event-ID")), content_type="text/event-stream; charset=utf-8"
    )
    origin = request.headers.get("Origin")
    if origin and _allowed_origin(origin):
        # The page may be served by the web role on another port or host.
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    response["Cache-Control"] = "no-cache"
    # nginx and similar proxies buffer responses unless told not to.
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(board: str, last_event_id: str | None):
    live_hub = hub()
    client = _SseClient()
    heartbeat = float(getattr(settings, "LIVE_HEARTBEAT_SECONDS", 15.0))
    try:
        # Sent before anything can fail, so the client sees the stream open.
        yield "retry: 2000\n\n"
        try:
            snapshot = await live_hub.attach(board, client)
        except Exception:
            logger.exception("live board %s could not be loaded", board)
            return
        if last_event_id is None or last_event_id.strip() != str(snapshot.version):
            yield snapshot.sse
        while True:
            try:
                frame = await asyncio.wait_for(client.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if frame is None:
                return
            yield frame.sse
    finally:
        live_hub.detach(board, client)


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
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)
