"""Ranking rules (SCORING.md "Ranking"). Pure: no Django import.

Order by points desc, then exact hits desc; members equal on both share a
rank (standard competition ranking, "1, 2, 2, 4"); within a shared rank rows
are listed by member id ascending.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Redis sorted-set scores are IEEE doubles: exact for integers below 2**53.
# points * EXACT_BASE + exact_hits stays exact while points < 2**53 / EXACT_BASE.
EXACT_BASE = 1_000_000


@dataclass(frozen=True)
class Entry:
    member_id: int
    points: int
    exact_hits: int
    outcome_hits: int = 0


def sort_key(entry: Entry) -> tuple[int, int, int]:
    return (-entry.points, -entry.exact_hits, entry.member_id)


def board_score(points: int, exact_hits: int) -> int:
    """One number that orders like (points, exact_hits); equal only when both are equal."""
    return points * EXACT_BASE + exact_hits


def rank_entries(entries: Iterable[Entry]) -> list[tuple[int, Entry]]:
    """Every entry with its rank, in listing order."""
    ordered = sorted(entries, key=sort_key)
    ranked: list[tuple[int, Entry]] = []
    previous: tuple[int, int] | None = None
    rank = 0
    for position, entry in enumerate(ordered, start=1):
        key = (entry.points, entry.exact_hits)
        if key != previous:
            rank = position
            previous = key
        ranked.append((rank, entry))
    return ranked


def rank_of(entry: Entry, others: Sequence[Entry]) -> int:
    """1 + the number of entries strictly ahead of `entry`."""
    key = (entry.points, entry.exact_hits)
    return 1 + sum(1 for o in others if (o.points, o.exact_hits) > key)
