"""A bound on what daphne holds for a live client that stops reading.

daphne writes every WebSocket message and every SSE chunk straight into the
connection's Twisted transport, which buffers in memory whatever the socket
cannot take, without limit and without telling the application: a client
that stops reading (or reads slower than its board changes) makes the
process hold its output forever. Twisted's own back-pressure interface is how
it says "the buffer is full": a push producer registered on the transport (or
on an HTTP request) gets `pauseProducing()` once more than `bufferSize` bytes
wait to be sent. daphne registers none, so `install()` adds, on the realtime
process only:

- WebSocket connections (all of them are live streams): a producer on the
  transport (through autobahn's `registerProducer`);
- SSE responses (`text/event-stream`): a producer on the Twisted request
  (`Request.registerProducer`), removed when the response finishes, so a
  kept-alive connection's next response is not bounded;

with `bufferSize` set to LIVE_MAX_BUFFERED_BYTES. Twisted counts what waits
in its buffer, including what was written in this turn of the event loop and
not yet handed to the kernel, so the bound must stay well above a burst (up
to 64 frames of a few KB for one SSE client). A paused producer means the
client is that far behind: the connection is aborted (a close frame could not
get through a full buffer anyway); the client reconnects and resumes from a
snapshot. daphne sees the connection lost and tells the application as for
any disconnect, so the hub and the per-address count let the client go.

The hook replaces daphne's protocol classes by subclasses (the factory's
`protocol` attribute and the module's request class), the one way to reach
the transports from outside daphne; `tests/live/test_live_limits.py` runs it
against a real daphne. Under TLS terminated by daphne itself the bound is that
of Twisted's TLS layer (64 KiB), not the setting.
"""

import logging
import sys

from django.conf import settings

from apps.leaderboards.live.metrics import LIVE_DROPPED

logger = logging.getLogger(__name__)


class _DropWhenFull:
    """An IPushProducer that aborts its connection when the transport says its buffer is full."""

    def __init__(self, transport, what: str):
        self.transport = transport
        self.what = what
        self.dropped = False

    def pauseProducing(self) -> None:  # noqa: N802  (Twisted's interface)
        if self.dropped:
            return
        self.dropped = True
        LIVE_DROPPED.labels(self.what).inc()
        logger.warning("live %s client dropped: more than %d bytes unsent", self.what, _limit())
        self.transport.abortConnection()

    def resumeProducing(self) -> None:  # noqa: N802
        pass

    def stopProducing(self) -> None:  # noqa: N802
        pass


def _limit() -> int:
    return int(getattr(settings, "LIVE_MAX_BUFFERED_BYTES", 0) or 0)


def install() -> bool:
    """Bound daphne's per-connection output buffers; a no-op (False) outside a daphne process."""
    if "daphne.server" not in sys.modules or _limit() <= 0:
        # Importing daphne's protocols outside daphne would install Twisted's
        # default reactor before daphne installs its asyncio one.
        return False
    # Imported here, not at the top, for the reason above.
    from daphne import http_protocol, ws_protocol

    class BoundedWebSocketProtocol(ws_protocol.WebSocketProtocol):
        def onOpen(self):  # noqa: N802  (autobahn's interface)
            super().onOpen()
            transport = self.transport
            if not hasattr(transport, "bufferSize"):
                return  # TLS: see the module docstring
            # The HTTP channel this connection was upgraded from registered
            # itself as the transport's producer and no longer reads or writes
            # it; a transport holds one producer.
            transport.unregisterProducer()
            transport.bufferSize = _limit()
            self.registerProducer(_DropWhenFull(transport, "websocket"), True)

    class BoundedWebRequest(http_protocol.WebRequest):
        _live_bounded = False

        def handle_reply(self, message):
            if message.get("type") == "http.response.start" and _is_event_stream(message):
                self._live_bound()
            super().handle_reply(message)

        def _live_bound(self):
            transport = getattr(self.channel, "transport", None)
            if transport is None or not hasattr(transport, "bufferSize") or self.channel._requestProducer is not None:
                return
            transport.bufferSize = _limit()
            self.registerProducer(_DropWhenFull(transport, "sse"), True)
            self._live_bounded = True

        def finish(self):
            if self._live_bounded:
                self._live_bounded = False
                self.unregisterProducer()
                transport = getattr(self.channel, "transport", None)
                if transport is not None:
                    # Back to the class default for the connection's next response.
                    transport.__dict__.pop("bufferSize", None)
            return super().finish()

    ws_protocol.WebSocketFactory.protocol = BoundedWebSocketProtocol
    # HTTPFactory.buildProtocol reads this module global for every connection.
    http_protocol.WebRequest = BoundedWebRequest
    return True


def _is_event_stream(message: dict) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/event-stream")
        for name, value in message.get("headers", [])
    )
