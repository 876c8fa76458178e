"""A realtime process told to stop lets its live clients go first, so they reconnect elsewhere at once.

daphne stops on SIGTERM by cancelling every application and dropping every
connection: WebSocket clients see 1006 (abnormal closure) and SSE streams an
aborted response, so a client cannot tell a deploy from a network failure.
Here, on SIGTERM, the process first ends every live stream it holds:
WebSockets close with 1012 (service restart, RFC 6455), SSE responses end
normally (the client's EventSource reconnects after its `retry:`); it waits
until they are gone or LIVE_SHUTDOWN_SECONDS pass, then lets daphne stop as
before. Nothing else changes: ordinary HTTP requests in flight are handled by
daphne's own shutdown.

The handler is installed once the reactor runs, after Twisted has installed
its own, which it then calls.
"""

import asyncio
import logging
import signal
import sys
import time

from django.conf import settings

from apps.leaderboards.live.hub import current_hub
from apps.leaderboards.live.limits import connections

logger = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012


def install() -> None:
    """Take SIGTERM over in a daphne process (does nothing anywhere else)."""
    if "daphne.server" not in sys.modules:
        # Importing Twisted's reactor outside daphne would install the default one.
        return
    # Imported here for the reason above; daphne has installed its asyncio reactor by now.
    from daphne import ws_protocol
    from twisted.internet import reactor

    server_close = ws_protocol.WebSocketProtocol.serverClose

    def server_close_allowing_restart(self, code=None):
        # autobahn's sendClose takes only 1000 and 3000-4999 from a server;
        # 1012 is in RFC 6455's registry for exactly this, so it goes out
        # through the frame-level call, which updates the state the same way.
        if code == CLOSE_SERVICE_RESTART:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            server_close(self, code)

    ws_protocol.WebSocketProtocol.serverClose = server_close_allowing_restart
    reactor.callWhenRunning(_take_sigterm, reactor._asyncioEventloop)


def _take_sigterm(loop: asyncio.AbstractEventLoop) -> None:
    twisted_handler = signal.getsignal(signal.SIGTERM)
    stopping = False

    def on_sigterm(signum, frame) -> None:
        nonlocal stopping
        if stopping:  # a second SIGTERM stops at once
            _stop(twisted_handler, signum, frame)
            return
        stopping = True
        loop.call_soon_threadsafe(lambda: loop.create_task(_drain_then_stop(twisted_handler, signum, frame)))

    signal.signal(signal.SIGTERM, on_sigterm)


async def _drain_then_stop(twisted_handler, signum, frame) -> None:
    grace = float(getattr(settings, "LIVE_SHUTDOWN_SECONDS", 5))
    deadline = time.monotonic() + grace
    try:
        hub = current_hub()
        ended = await asyncio.wait_for(hub.end_all(CLOSE_SERVICE_RESTART), timeout=grace) if hub else 0
        # The closes are on their way; wait for the connections to be gone (a WebSocket
        # after the client's close frame, an SSE response once its last chunk is out).
        while connections.total() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        logger.info("stopping: %s live streams ended, %s still open", ended, connections.total())
    except Exception:
        logger.exception("ending live streams before stopping failed; stopping anyway")
    finally:
        _stop(twisted_handler, signum, frame)


def _stop(twisted_handler, signum, frame) -> None:
    if callable(twisted_handler):
        twisted_handler(signum, frame)
    else:
        from twisted.internet import reactor

        reactor.callFromThread(reactor.stop)
