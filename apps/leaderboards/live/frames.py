"""The wire format of the live streams.

Board streams (the live top 10) carry `Frame`s, each serialized once and
shared by every client of a board. The caller's own stream (`/ws/me/`,
`/me/events`) carries `MemberMessage`s, one per member: a message type is a
constructor here (`rank_message`; an achievement's message is another
constructor beside it), and every transport sends whatever it is given.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

UPDATE_MESSAGE = "live.update"
# A board's version grew but its top 10 did not change: only the members'
# own streams (their ranks further down) have something to look at.
VERSION_MESSAGE = "live.version"
# A control message on a board's group: end `member_id`'s streams of the board.
REVOKE_MESSAGE = "live.revoke"
# A control message on MEMBER_STREAMS_GROUP: end `member_id`'s own streams (deactivated).
MEMBER_END_MESSAGE = "live.member_end"
# A control message on MEMBER_STREAMS_GROUP: `member_id` is on one more board
# (joined a tournament or a league); their own streams follow it from now on.
MEMBER_BOARD_MESSAGE = "live.member_board"
# A message on MEMBER_STREAMS_GROUP: achievements just earned in a tournament,
# `earned` = [[member id, code], ...]; each process tells the members it holds.
MEMBER_ACHIEVEMENTS_MESSAGE = "live.member_achievements"
# The group every process holding members' own streams joins, for the messages above.
MEMBER_STREAMS_GROUP = "lb-live.members"


def canonical(rows: list[dict]) -> str:
    return json.dumps(rows, separators=(",", ":"), sort_keys=True)


def moves_between(old_rows: list[dict] | None, new_rows: list[dict]) -> list[dict]:
    """Members whose rank changed, entered (old_rank null) or left (new_rank null) the top."""
    old = {row["member"]["id"]: row["rank"] for row in old_rows or []}
    new = {row["member"]["id"]: row["rank"] for row in new_rows}
    moves = [
        {"member_id": member_id, "old_rank": old.get(member_id), "new_rank": rank}
        for member_id, rank in new.items()
        if old.get(member_id) != rank
    ]
    moves += [
        {"member_id": member_id, "old_rank": rank, "new_rank": None}
        for member_id, rank in old.items()
        if member_id not in new
    ]
    return moves


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


class Frame:
    """One message for one board, serialized once and shared by every client of a process."""

    __slots__ = ("board", "version", "kind", "text", "committed_at", "_rows", "_sse", "_snapshot")

    def __init__(self, *, board: str, version: int, kind: str, text: str, committed_at: float | None = None,
                 rows: list[dict] | None = None):
        self.board = board
        self.version = version
        self.kind = kind
        self.text = text
        self.committed_at = committed_at
        self._rows = rows
        self._sse: str | None = None
        self._snapshot: Frame | None = None

    @classmethod
    def snapshot_of(cls, *, board: str, version: int, rows: list[dict]) -> Frame:
        text = json.dumps({"type": "snapshot", "board": board, "version": version, "top": rows})
        return cls(board=board, version=version, kind="snapshot", text=text, rows=rows)

    @classmethod
    def update_of(cls, *, board: str, version: int, previous_version: int | None, rows: list[dict],
                  old_rows: list[dict] | None, committed_at: float) -> Frame:
        text = json.dumps(
            {
                "type": "update",
                "board": board,
                "version": version,
                "previous_version": previous_version,
                "top": rows,
                "moves": moves_between(old_rows, rows),
                "committed_at": _iso(committed_at),
            }
        )
        return cls(board=board, version=version, kind="update", text=text, committed_at=committed_at, rows=rows)

    @property
    def rows(self) -> list[dict]:
        if self._rows is None:
            self._rows = json.loads(self.text)["top"]
        return self._rows

    @property
    def sse(self) -> str:
        if self._sse is None:
            self._sse = f"event: {self.kind}\nid: {self.version}\ndata: {self.text}\n\n"
        return self._sse

    def snapshot(self) -> Frame:
        if self.kind == "snapshot":
            return self
        if self._snapshot is None:
            self._snapshot = Frame.snapshot_of(board=self.board, version=self.version, rows=self.rows)
        return self._snapshot


class MemberMessage:
    """One message of a member's own stream: its `type`, its JSON text and its SSE event (named after the type)."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, payload: dict):
        self.kind = kind
        self.text = json.dumps({"type": kind, **payload})

    @property
    def sse(self) -> str:
        return f"event: {self.kind}\ndata: {self.text}\n\n"


def achievement_message(*, tournament: int, code: str, name: str) -> MemberMessage:
    """An achievement the caller just earned (API.md "The caller's own rank, live")."""
    return MemberMessage("achievement", {"tournament": tournament, "code": code, "name": name})


def rank_message(*, board: str, version: int, rank: int, total: int, points: int, live_points: int) -> MemberMessage:
    """The caller's rank on one of their boards (API.md "The caller's own rank, live")."""
    payload = {"board": board, "version": version, "rank": rank, "total": total, "points": points}
    return MemberMessage("rank", {**payload, "live_points": live_points})
