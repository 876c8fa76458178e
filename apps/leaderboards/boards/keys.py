"""Board names: the one place a board's public name and its Redis keys are made and read.

A board is a tournament's table, a round's table or a league's table. Its
public name (API.md, the live messages) is "tournament:{id}",
"tournament:{id}:round:{round_id}" or "league:{id}". Its Redis keys share the
tournament's `{t:ID}` hash tag so that every key of a tournament lives in one
Redis Cluster slot (one script can read a set and its version):

    lb:{t:7}            the tournament board
    lb:{t:7}:r:3        the round table of round 3
    lb:{t:7}:l:42       league 42 (its members with their tournament totals)
    lb:{t:7}:meta       hash: v (the boards' version), at (as_of, ISO 8601),
                        n (grows when a listed member's display name changes)
    lb:{t:7}:ready      present once the tournament's sets were built from the database
    lb:{t:7}:leagues    set of league ids whose sets are built
    lb:{t:7}:leagues:fp hash: league id -> the membership fingerprint its set was built from
    lb:{t:7}:names      hash: member -> display name (filled by reads, dropped on a rename)
    lb:{t:7}:d          hash: member -> "v:outcome hits:live points" of the tournament board
                        (valid at version v; the sets order by points and exact hits only)
    lb:{t:7}:r:3:d      the same for round 3
    lb:{t:7}:stats      hash: member -> "v|written at|member stats JSON"
    lb:{t:7}:owed       set of member ids whose new total the boards still owe (score actions)
    lb:{t:7}:snap       hash: member -> "rank:board score" at the latest rank snapshot, and
                        "@" -> that snapshot's id ("0": none yet; the hash exists once built)
    lb:{t:7}:l:42:snap  hash: member -> league rank at a snapshot, "@" -> that snapshot's id
                        (built with the league's set; stale once "@" differs from the tournament's)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

TOURNAMENT = "tournament"
ROUND = "round"
LEAGUE = "league"


@dataclass(frozen=True)
class BoardKey:
    """One board. `id` is the tournament's, the round's or the league's id, after `kind`.

    A board is identified by (kind, id): `tournament` is the tournament the
    board belongs to, known for every kind but a league named by its public
    name alone (`BoardKey.parse("league:7")`), until `with_tournament` fills it.
    """

    kind: str
    id: int
    tournament: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in (TOURNAMENT, ROUND, LEAGUE):
            raise ValueError(f"not a board kind: {self.kind!r}")
        if self.kind == TOURNAMENT and self.tournament is None:
            object.__setattr__(self, "tournament", self.id)

    @classmethod
    def of_tournament(cls, tournament_id: int) -> BoardKey:
        return cls(TOURNAMENT, tournament_id, tournament_id)

    @classmethod
    def of_round(cls, tournament_id: int, round_id: int) -> BoardKey:
        return cls(ROUND, round_id, tournament_id)

    @classmethod
    def of_league(cls, league_id: int, tournament_id: int | None = None) -> BoardKey:
        return cls(LEAGUE, league_id, tournament_id)

    @classmethod
    def parse(cls, name: str) -> BoardKey:
        """The board of a public name; ValueError for anything else."""
        parts = name.split(":") if isinstance(name, str) else []
        if not all(part.isascii() for part in parts):
            raise ValueError(f"not a board name: {name!r}")
        if len(parts) == 2 and parts[0] == TOURNAMENT and parts[1].isdigit():
            return cls.of_tournament(int(parts[1]))
        if len(parts) == 2 and parts[0] == LEAGUE and parts[1].isdigit():
            return cls.of_league(int(parts[1]))
        if len(parts) == 4 and parts[0] == TOURNAMENT and parts[2] == ROUND and parts[1].isdigit() and parts[3].isdigit():
            return cls.of_round(int(parts[1]), int(parts[3]))
        raise ValueError(f"not a board name: {name!r}")

    def with_tournament(self, tournament_id: int) -> BoardKey:
        return BoardKey(self.kind, self.id, tournament_id)

    def __str__(self) -> str:
        if self.kind == ROUND:
            return f"{TOURNAMENT}:{self.tournament}:{ROUND}:{self.id}"
        return f"{self.kind}:{self.id}"

    @property
    def name(self) -> str:
        return str(self)

    @property
    def redis_key(self) -> str:
        """The sorted set of this board. Needs the tournament."""
        if self.tournament is None:
            raise ValueError(f"{self} does not know its tournament yet")
        if self.kind == TOURNAMENT:
            return tournament_key(self.tournament)
        if self.kind == ROUND:
            return f"{tournament_key(self.tournament)}:r:{self.id}"
        return f"{tournament_key(self.tournament)}:l:{self.id}"

    @property
    def group(self) -> str:
        """The Channels group of its live clients (letters, digits, hyphens and periods only)."""
        return f"lb-live.{self.kind}.{self.id}"


def tournament_key(tournament_id: int) -> str:
    return f"lb:{{t:{tournament_id}}}"


def _tournament_part(suffix: str) -> Callable[[int], str]:
    """The key maker of one per-tournament key: `lb:{t:ID}:<suffix>` (see the module docstring)."""

    def key(tournament_id: int) -> str:
        return f"{tournament_key(tournament_id)}:{suffix}"

    key.__name__ = f"{suffix}_key"
    return key


meta_key = _tournament_part("meta")
ready_key = _tournament_part("ready")
leagues_ready_key = _tournament_part("leagues")
league_fingerprints_key = _tournament_part("leagues:fp")
names_key = _tournament_part("names")
stats_key = _tournament_part("stats")
rebuild_queued_key = _tournament_part("rebuild-queued")
# Member ids whose total changed in the database and is not yet written to the boards (score actions).
owed_key = _tournament_part("owed")
# Present while a job that writes the owed totals is queued (one at a time per tournament).
owed_flush_queued_key = _tournament_part("owed-queued")
# Present while a job that applies the tournament's pending score awards is queued.
awards_queued_key = _tournament_part("awards-queued")
# The latest rank snapshot's ranks and totals (`snapshots.projection`).
snapshot_key = _tournament_part("snap")
# The field of `snapshot_key` naming the snapshot it holds.
SNAPSHOT_ID_FIELD = b"@"


def league_snapshot_key(board: BoardKey) -> str:
    """A league's ranks at the latest snapshot, computed from the snapshot's totals of its members."""
    if board.kind != LEAGUE:
        raise ValueError(f"{board} is not a league")
    return f"{board.redis_key}:snap"


def member_field(member_id: int) -> bytes:
    """A member as stored in a set: zero-padded, so equal scores list by member id."""
    return b"%012d" % member_id


def details_key(board: BoardKey) -> str:
    """Row details cached for a board's rows: a league lists tournament totals, so it shares the tournament's."""
    if board.kind == ROUND:
        return f"{board.redis_key}:d"
    return f"{tournament_key(board.tournament)}:d"
