"""The tournament lock: one writer of a tournament's standings and projection at a time.

Settlement jobs and projection rebuilds of one tournament take it, so their
database batches never wait on each other's row locks (no deadlock whatever
the order of rows), and their Redis writes land in commit order (no newer
total overwritten by an older one). Score awards take it only to write Redis
(from totals read under it), never for their database batches, which skip
rows others hold (settlement.actions). Reads never take it.

It is a PostgreSQL session advisory lock: it dies with the connection, so a
worker killed mid-settlement frees it at once, and a job that holds it knows
that any request of the tournament still marked in progress was abandoned.
Other databases (the embedded SQLite) serialise writers themselves.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

# First key of the two-key advisory lock space: keeps these locks apart from any other use.
LOCK_CLASS = 0x5C0B


class TournamentBusy(Exception):
    """The tournament lock was not free within the wait allowed."""


@contextmanager
def tournament_lock(*, tournament_id: int, wait_seconds: float | None = None) -> Iterator[bool]:
    """Hold the tournament lock for the block; yields whether it was acquired.

    `wait_seconds=0` tries once and yields False when busy; otherwise waits up
    to `wait_seconds` (default SETTLEMENT_LOCK_WAIT_SECONDS) and raises
    TournamentBusy past it.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    if wait_seconds is None:
        wait_seconds = getattr(settings, "SETTLEMENT_LOCK_WAIT_SECONDS", 300)
    acquired = _acquire(tournament_id, wait_seconds)
    if not acquired and wait_seconds:
        raise TournamentBusy(f"tournament {tournament_id} is locked by another writer")
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, tournament_id])
            except Exception:  # a broken connection has released the lock already
                connection.close()


def _acquire(tournament_id: int, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    pause = 0.005
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, tournament_id])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            # Polling rather than a blocking pg_advisory_lock keeps the wait bounded
            # without touching the session's lock_timeout; the pause grows to 50 ms.
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
