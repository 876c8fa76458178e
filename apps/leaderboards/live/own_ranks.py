"""The caller's own rank, live: which members of this process watch a board, and the fan-out per board version.

A member's own stream (`/ws/me/`, `/me/events`) watches each board the member
is on. The hub holds those boards like any other (one group per board per
process, registered in Redis, so the publisher announces their versions) and
hands each new version here. For one version of one board the process reads
the ranks of all its connected members on that board with
`boards.selectors.member_ranks`: per batch of MEMBER_RANK_BATCH members one
Redis script and one live-points query, never a read per member. A member
gets a `rank` message only when their rank, points or live points differ
from the last message they got for the board; the others get nothing.

However many versions are announced while a fan-out of a board runs, they
cost one more fan-out after it, not one each: a burst of settlement batches
does not queue reads. A member's stream keeps per board the version and the
values of its last message: an answer read at an older version than one
already sent is never sent after it.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from channels.db import database_sync_to_async

from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.selectors import MEMBER_RANK_BATCH, member_ranks
from apps.leaderboards.live.frames import MemberMessage, rank_message
from apps.leaderboards.live.metrics import LIVE_RANK_FAN_OUT, LIVE_RANK_READS, LIVE_SENT

logger = logging.getLogger(__name__)


class MemberClient(Protocol):
    live_transport: str
    live_member_id: int
    live_expires_at: float | None
    # board -> (version, rank, points, live points) of the last rank message sent.
    live_ranks: dict[str, tuple[int, int, int, int]]
    # The boards this stream watches (a league the member leaves is dropped).
    live_boards: set[str]

    async def live_send(self, message: MemberMessage) -> None: ...

    async def live_close(self, code: int) -> None: ...


class RankFeed:
    """The members' own streams watching one board in this process, and where its fan-out stands."""

    __slots__ = ("key", "members", "version", "announced", "running")

    def __init__(self, key: BoardKey):
        self.key = key  # with its tournament known: a fan-out needs no query to find it
        self.members: dict[int, set[MemberClient]] = {}
        self.version = 0  # the newest version fanned out
        self.announced = 0  # the newest version announced
        self.running = False

    def add(self, client: MemberClient) -> None:
        self.members.setdefault(client.live_member_id, set()).add(client)

    def remove(self, client: MemberClient) -> None:
        clients = self.members.get(client.live_member_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self.members[client.live_member_id]

    def count(self) -> int:
        return sum(len(clients) for clients in self.members.values())


async def deliver(client: MemberClient, board: str, version: int, entry: dict) -> bool:
    """Send `entry` unless the client got the same values, or a newer version, for this board already."""
    values = (entry["rank"], entry["points"], entry["live_points"])
    last = client.live_ranks.get(board)
    if last is not None:
        if version < last[0]:
            return False
        if last[1:] == values:
            client.live_ranks[board] = (version, *values)
            return False
    client.live_ranks[board] = (version, *values)
    await client.live_send(
        rank_message(board=board, version=version, rank=entry["rank"], total=entry["total"], points=entry["points"],
                     live_points=entry["live_points"])
    )
    LIVE_SENT.labels(client.live_transport).inc()
    return True


async def first_ranks(client: MemberClient, boards: list[BoardKey]) -> None:
    """The message of each board right after connecting (one read per board of this one member)."""
    for key in boards:
        board = str(key)
        version, ranks = await _read(key, [client.live_member_id])
        entry = ranks.get(client.live_member_id)
        if entry is not None and board in client.live_boards:
            await deliver(client, board, version, entry)


async def fan_out(board: str, feed: RankFeed, announced: int | None) -> int:
    """Bring every member stream of `board` up to the board's current ranks; returns how many messages went out.

    `announced` is the version a publisher named (None: poll, embedded). A
    version already fanned out is skipped; one announced while a fan-out runs
    makes that fan-out run once more.
    """
    if announced is not None:
        if announced <= feed.version:
            return 0
        feed.announced = max(feed.announced, announced)
    if feed.running:
        return 0
    feed.running = True
    sent = 0
    try:
        while True:
            target = feed.announced
            started = time.monotonic()
            sent += await _fan_out_once(board, feed)
            LIVE_RANK_FAN_OUT.observe(time.monotonic() - started)
            # Again only for a version announced during this pass and newer than what it read.
            if feed.announced <= target or feed.announced <= feed.version:
                return sent
    finally:
        feed.running = False


async def _fan_out_once(board: str, feed: RankFeed) -> int:
    sent = 0
    member_ids = list(feed.members)
    for start in range(0, len(member_ids), MEMBER_RANK_BATCH):
        batch = member_ids[start : start + MEMBER_RANK_BATCH]
        LIVE_RANK_READS.inc()
        try:
            version, ranks = await _read(feed.key, batch)
        except Exception:
            logger.exception("reading members' ranks on %s failed", board)
            return sent
        feed.version = max(feed.version, version)
        for member_id in batch:
            entry = ranks.get(member_id)
            if entry is None:
                continue
            for client in list(feed.members.get(member_id, ())):
                try:
                    sent += await deliver(client, board, version, entry)
                except Exception:
                    logger.warning("rank send to a %s client failed", client.live_transport, exc_info=True)
    return sent


async def _read(key: BoardKey, member_ids: list[int]) -> tuple[int, dict[int, dict]]:
    return await database_sync_to_async(member_ranks)(board=key, member_ids=member_ids)
