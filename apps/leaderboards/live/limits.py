"""How many live streams one client address may hold open in one realtime process.

The count is per process (each daphne process counts its own connections):
behind N processes an address may hold up to N times the cap in all. The
address is the socket's peer unless NUM_PROXIES says how many proxies in
front of the process append to X-Forwarded-For, as DRF's throttles read it:
only the hops those proxies added are trusted, never what the client sent.
"""

import threading

from django.conf import settings

# 4000 + HTTP 429, like the other close codes of the live WebSocket.
CLOSE_TOO_MANY_CONNECTIONS = 4429
# What a refused SSE client is told to wait before trying again.
RETRY_AFTER_SECONDS = 10


def client_address(scope: dict) -> str:
    """The client address of an ASGI connection (HTTP or WebSocket)."""
    client = scope.get("client")
    peer = client[0] if client else ""
    proxies = int(getattr(settings, "NUM_PROXIES", 0) or 0)
    if proxies <= 0:
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", []) if name.lower() == b"x-forwarded-for"
    ]
    hops = [hop.strip() for hop in ",".join(forwarded).split(",") if hop.strip()]
    if not hops:
        return peer
    # The last NUM_PROXIES entries were written by our proxies; the one they
    # received the request from is the client. Entries before it are the client's word.
    return hops[-min(proxies, len(hops))]


class ConnectionCounter:
    """Open live connections per client address in this process."""

    def __init__(self):
        self._counts: dict[str, int] = {}
        # Streams open on the event loop, but Django may call in from its thread.
        self._lock = threading.Lock()

    def take(self, address: str) -> bool:
        """Count one more connection of `address`; False (and nothing counted) when it already holds the cap."""
        cap = int(getattr(settings, "LIVE_MAX_CONNECTIONS_PER_IP", 20))
        with self._lock:
            held = self._counts.get(address, 0)
            if cap > 0 and held >= cap:
                return False
            self._counts[address] = held + 1
            return True

    def release(self, address: str) -> None:
        with self._lock:
            held = self._counts.get(address, 0) - 1
            if held > 0:
                self._counts[address] = held
            else:
                self._counts.pop(address, None)

    def held(self, address: str) -> int:
        return self._counts.get(address, 0)

    def total(self) -> int:
        """Live connections open in this process, whatever their address."""
        with self._lock:
            return sum(self._counts.values())


connections = ConnectionCounter()


class Slot:
    """One counted connection, released exactly once however the stream ends."""

    def __init__(self, address: str):
        self.address = address
        self._released = False

    @classmethod
    def take(cls, address: str) -> "Slot | None":
        return cls(address) if connections.take(address) else None

    def release(self) -> None:
        if not self._released:
            self._released = True
            connections.release(self.address)
