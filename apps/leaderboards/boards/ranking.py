"""Ranking rules (SCORING.md "Ranking"). Pure: no Django import.

Order by points desc, then exact hits desc; members equal on both share a
rank (standard competition ranking, "1, 2, 2, 4"); within a shared rank rows
are listed by member id ascending.

Every ordering in the project comes from here: the Python sort key, the Redis
score (`board_score`), the SQL ORDER BY and "ahead of" predicate
(`order_by_sql`, `ahead_sql`), the SQL rank of a snapshot (`rank_sql`), and the ranks of a listed page (`ranks_listed`),
which both the Redis and the database read paths use.
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


# The ranking columns, most significant first; all descending. Ties list by TIE_BREAK ascending.
RANK_COLUMNS = ("points", "exact_hits")
TIE_BREAK = "member_id"


def rank_key(entry: Entry) -> tuple[int, ...]:
    """What decides a rank: two entries share a rank exactly when their keys are equal."""
    return tuple(getattr(entry, column) for column in RANK_COLUMNS)


def sort_key(entry: Entry) -> tuple[int, ...]:
    return (*(-value for value in rank_key(entry)), entry.member_id)


def order_by_sql(alias: str = "", *, last_first: bool = False) -> str:
    """SQL ORDER BY of a board's rows (columns named as in RANK_COLUMNS, optionally of `alias`).

    `last_first` reverses it: the board's last row comes first (a board's end read without an OFFSET).
    """
    prefix = f"{alias}." if alias else ""
    rank, tie = ("ASC", "DESC") if last_first else ("DESC", "ASC")
    return "ORDER BY " + ", ".join(
        [f"{prefix}{column} {rank}" for column in RANK_COLUMNS] + [f"{prefix}{TIE_BREAK} {tie}"]
    )


def rank_sql(alias: str = "") -> str:
    """SQL window expression of a row's rank: RANK() numbers ties alike and skips after them ("1, 2, 2, 4"),
    which is 1 + the rows strictly ahead."""
    prefix = f"{alias}." if alias else ""
    return "RANK() OVER (ORDER BY " + ", ".join(f"{prefix}{column} DESC" for column in RANK_COLUMNS) + ")"


def ahead_sql(row: str, of: str) -> str:
    """SQL condition: the row `row` ranks strictly ahead of the row `of` (table aliases or %s lists)."""
    clauses = []
    for index, column in enumerate(RANK_COLUMNS):
        equal = [f"{row}.{previous} = {of}.{previous}" for previous in RANK_COLUMNS[:index]]
        clauses.append("(" + " AND ".join([*equal, f"{row}.{column} > {of}.{column}"]) + ")")
    return "(" + " OR ".join(clauses) + ")"


def ranks_listed(keys: Sequence[tuple], *, start: int, first_ahead: int) -> list[int]:
    """Ranks of consecutive rows listed from position `start` (0-based), given their rank keys.

    `first_ahead` is the number of rows strictly ahead of the first one. Only
    the first row needs counting: every later row either ties the row above
    (same rank) or starts a new rank at its own position.
    """
    ranks: list[int] = []
    previous = None
    rank = first_ahead + 1
    for index, key in enumerate(keys):
        if previous is not None and key != previous:
            rank = start + index + 1
        previous = key
        ranks.append(rank)
    return ranks


def board_score(points: int, exact_hits: int) -> int:
    """One number that orders like (points, exact_hits); equal only when both are equal."""
    return points * EXACT_BASE + exact_hits


def board_score_sql(alias: str = "") -> str:
    """SQL of `board_score` over a row's columns (64-bit: points * EXACT_BASE overflows a 32-bit integer)."""
    prefix = f"{alias}." if alias else ""
    return f"CAST({prefix}points AS BIGINT) * {EXACT_BASE} + {prefix}exact_hits"


def board_score_split(score: int) -> tuple[int, int]:
    """(points, exact_hits) back from a `board_score`."""
    return score // EXACT_BASE, score % EXACT_BASE


def rank_entries(entries: Iterable[Entry]) -> list[tuple[int, Entry]]:
    """Every entry with its rank, in listing order."""
    ordered = sorted(entries, key=sort_key)
    ranks = ranks_listed([rank_key(entry) for entry in ordered], start=0, first_ahead=0)
    return list(zip(ranks, ordered))


def rank_of(entry: Entry, others: Sequence[Entry]) -> int:
    """1 + the number of entries strictly ahead of `entry`."""
    key = rank_key(entry)
    return 1 + sum(1 for other in others if rank_key(other) > key)
