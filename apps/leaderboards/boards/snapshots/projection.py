"""The latest rank snapshot in Redis: one hash per tournament the board scripts read with the rows.

`lb:{t:ID}:snap` maps each member to "rank:board score" at the latest
snapshot (the score orders like (points, exact hits), so a league script can
rank the league's members by their recorded totals), and "@" to the
snapshot's id, "0" before the first one: the hash exists once built, so a
read tells "no snapshot yet" from "not built" (then it answers from the
database and asks for a rebuild).

A league's ranks at the snapshot are kept apart (`lb:{t:ID}:l:LEAGUE:snap`,
member -> league rank, "@" -> the snapshot's id), built with the league's set
(`projection_write`) and dropped with it: a read then looks up the listed
members only, whatever the league's size. A new snapshot makes every league's
hash stale ("@" differs); the next read of a league answers its deltas from
the database and has the league rebuilt.

Call holding the tournament lock, like every other projection writer: the
snapshot's version bump and the hashes land in commit order.
"""

from collections.abc import Iterator
from datetime import datetime

import redis
from django.db import connection, transaction

from apps.leaderboards.boards.keys import (
    SNAPSHOT_ID_FIELD,
    BoardKey,
    league_snapshot_key,
    member_field,
    meta_key,
    snapshot_key,
)
from apps.leaderboards.boards.ranking import board_score_sql
from apps.leaderboards.boards.snapshots.selectors import league_snapshot_ranks, snapshot_latest_id
from apps.leaderboards.models import RankSnapshotRow

# Fields per HSET: Redis runs one command at a time, so a read waits behind at most one.
HSET_CHUNK = 2_000
# Rows fetched from the database per round trip (a server-side cursor on PostgreSQL).
FETCH_CHUNK = 20_000


def _snapshot_values(snapshot_id: int) -> Iterator[list[tuple]]:
    """(member id, "rank:board score") of every row of the snapshot, in chunks of FETCH_CHUNK.

    The value is made by the database and the rows are read through a
    server-side cursor without the ORM: at a million rows, Python's work per
    row is most of the fill.
    """
    sql = (
        f"SELECT member_id, CAST(rank AS TEXT) || ':' || CAST({board_score_sql()} AS TEXT) "
        f"FROM {RankSnapshotRow._meta.db_table} WHERE snapshot_id = %s"
    )
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, [snapshot_id])
            while rows := cursor.fetchmany(FETCH_CHUNK):
                yield rows
        return
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name=f"snapshot_fill_{snapshot_id}") as cursor:
            cursor.itersize = FETCH_CHUNK
            cursor.execute(sql, [snapshot_id])
            while rows := cursor.fetchmany(FETCH_CHUNK):
                yield rows


def snapshot_projection_fill(
    *, tournament_id: int, client: redis.Redis, version: int | None = None, as_of: datetime | None = None
) -> int:
    """Write the latest snapshot's hash afresh and swap it in; returns the rows written.

    With `version` (and `as_of`), the boards' version in Redis moves to it in
    the same transaction as the swap: a page cached under the new version
    always shows the new snapshot's deltas. Raises a Redis error.
    """
    key = snapshot_key(tournament_id)
    temporary = f"{key}:fill"
    snapshot_id = snapshot_latest_id(tournament_id=tournament_id)
    client.delete(temporary)
    written = 0
    if snapshot_id is not None:
        for rows in _snapshot_values(snapshot_id):
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(rows), HSET_CHUNK):
                args: list = []
                for member_id, value in rows[start : start + HSET_CHUNK]:
                    args += (member_field(member_id), value)
                pipe.execute_command("HSET", temporary, *args)
            pipe.execute()
            written += len(rows)
    pipe = client.pipeline(transaction=True)
    pipe.hset(temporary, SNAPSHOT_ID_FIELD, snapshot_id or 0)
    pipe.rename(temporary, key)
    if version is not None:
        meta = {"v": version} if as_of is None else {"v": version, "at": as_of.isoformat()}
        pipe.hset(meta_key(tournament_id), mapping=meta)
    pipe.execute()
    return written


def league_snapshot_fill(*, tournament_id: int, league_id: int, client: redis.Redis) -> int:
    """Write one league's ranks at the latest snapshot afresh and swap them in; returns the members written."""
    key = league_snapshot_key(BoardKey.of_league(league_id, tournament_id))
    temporary = f"{key}:fill"
    snapshot_id = snapshot_latest_id(tournament_id=tournament_id)
    ranks = league_snapshot_ranks(league_id=league_id, snapshot_id=snapshot_id) if snapshot_id else {}
    pipe = client.pipeline(transaction=True)
    pipe.delete(temporary)
    fields = list(ranks.items())
    for start in range(0, len(fields), HSET_CHUNK):
        args: list = []
        for member_id, rank in fields[start : start + HSET_CHUNK]:
            args += (member_field(member_id), rank)
        pipe.execute_command("HSET", temporary, *args)
    pipe.hset(temporary, SNAPSHOT_ID_FIELD, snapshot_id or 0)
    pipe.rename(temporary, key)
    pipe.execute()
    return len(fields)
