"""Waiting on real processes in tests: poll a condition with a deadline, never a fixed sleep."""

import socket
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05):
    """Poll `condition` until it returns something truthy and return it; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def spare_port() -> int:
    """A loopback port nothing listens on at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
