"""Snapshot achievements (top_ten_percent, climber), awarded set-based from the ranks of a rank snapshot.

The rank snapshot's code calls `achievements_after_snapshot` once a snapshot
is recorded, under the tournament lock, with its ranks (and the previous
snapshot's) as SQL relations `(member_id, rank)`. A snapshot is a record of
what the boards said at that moment: a later correction does not change it,
so these achievements are never taken back by one. The snapshot that earned
each is kept (`snapshot_id`).

- top_ten_percent: rank * 10 <= total (within the top 10% of the members
  counted at the snapshot; a board of fewer than 10 has none).
- climber: (previous rank - rank) * 4 >= total, between two consecutive
  snapshots, for members in both (the new snapshot's total).

Integer comparisons, so no rounding decides who earns one.
"""

from collections.abc import Mapping

from django.db import connection, transaction

from apps.leaderboards.achievements.catalogue import CLIMBER, TOP_TEN_PERCENT
from apps.leaderboards.achievements.evaluate import ACHIEVEMENT, achievements_enabled
from apps.leaderboards.achievements.signals import achievement_earned_send


def achievements_after_snapshot(
    *,
    tournament_id: int,
    snapshot_ranks_sql: str,
    total: int,
    previous_ranks_sql: str | None = None,
    previous_total: int | None = None,
    snapshot_id: int | None = None,
    params: Mapping | None = None,
) -> list[tuple[int, str]]:
    """Award top_ten_percent and climber for one snapshot; returns the (member id, code) pairs newly earned.

    `snapshot_ranks_sql` and `previous_ranks_sql` are SELECTs giving
    `(member_id, rank)`, with `%(name)s` placeholders filled from `params`
    (the caller's own SQL, never user text). `previous_ranks_sql` is None for
    a tournament's first snapshot. `previous_total` is recorded for the
    caller's logs only: the climb is measured against the new `total`.
    Members earn each code once; a second call with the same snapshot
    changes nothing. Announced after commit (`achievement_earned`).
    """
    if not achievements_enabled() or connection.vendor != "postgresql" or total <= 0:
        # The embedded SQLite demo records no rank snapshots for these statements to read.
        return []
    values = {**(params or {}), "ach_t": tournament_id, "ach_total": int(total), "ach_snapshot": snapshot_id}
    earned: list[tuple[int, str]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, snapshot_id)
            SELECT %(ach_t)s, n.member_id, '{TOP_TEN_PERCENT}', now(), %(ach_snapshot)s
            FROM ({snapshot_ranks_sql}) n (member_id, rank) WHERE n.rank * 10 <= %(ach_total)s
            ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
            values,
        )
        earned += [(member_id, TOP_TEN_PERCENT) for (member_id,) in cursor.fetchall()]
        if previous_ranks_sql is not None:
            cursor.execute(
                f"""INSERT INTO {ACHIEVEMENT} (tournament_id, member_id, code, earned_at, snapshot_id)
                SELECT %(ach_t)s, n.member_id, '{CLIMBER}', now(), %(ach_snapshot)s
                FROM ({snapshot_ranks_sql}) n (member_id, rank)
                JOIN ({previous_ranks_sql}) p (member_id, rank) ON p.member_id = n.member_id
                WHERE (p.rank - n.rank) * 4 >= %(ach_total)s
                ON CONFLICT (tournament_id, member_id, code) DO NOTHING RETURNING member_id""",
                values,
            )
            earned += [(member_id, CLIMBER) for (member_id,) in cursor.fetchall()]
        if earned:
            transaction.on_commit(lambda: achievement_earned_send(tournament_id=tournament_id, earned=earned))
    return earned
