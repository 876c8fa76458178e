"""Recording a rank snapshot: every participant's rank, points and exact hits, set-based.

Under the tournament lock, not merely in an MVCC snapshot: the one INSERT ...
SELECT would read a consistent set of standings by itself, but a settlement
holds the lock from its first batch to its last, so a snapshot taken under the
lock never records a match half-settled (some members with its points, others
not yet). The lock also orders the version bump and the Redis hash after any
settlement batch's writes (see `locks`). A settlement waits for the snapshot
(seconds at a million members, once a day).
"""

import logging
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.leaderboards.achievements.snapshots import achievements_after_snapshot
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client, redis_failed
from apps.leaderboards.boards.projection_write import projection_mark_stale
from apps.leaderboards.boards.ranking import rank_sql
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.boards.snapshots.projection import snapshot_projection_fill
from apps.leaderboards.models import BoardState, RankSnapshot, RankSnapshotRow, Standing
from apps.leagues.models import League

logger = logging.getLogger(__name__)

# Sort memory of the snapshot's statement: the rank and the key order are two
# sorts of every participant (about 60 MB each at a million). Spilled to disk
# they took 1.7x as long (measured at 200,000 members); this is one backend,
# once a day.
SNAPSHOT_WORK_MEM = "256MB"


def _insert_rows_sql() -> str:
    # Inserted in key order (member, snapshot): the primary key index is
    # filled front to back instead of at a million random places.
    return (
        f"INSERT INTO {RankSnapshotRow._meta.db_table} (snapshot_id, member_id, rank, points, exact_hits) "
        f"SELECT %s, member_id, {rank_sql()}, points, exact_hits "
        f"FROM {Standing._meta.db_table} WHERE tournament_id = %s ORDER BY member_id"
    )


def snapshot_record(*, tournament_id: int, trigger: str, local_date: date | None = None) -> RankSnapshot | None:
    """Record the tournament's ranks now; None when its daily snapshot of `local_date` exists already.

    One transaction writes the snapshot, its rows (one INSERT ... SELECT with
    the SCORING.md rank as a window function) and a new boards' version: a
    board page showing `rank_delta` is cached per version, so it changes with
    the snapshot. After the commit, still under the lock, the Redis hash of the
    latest ranks is swapped in with the new version. Raises TournamentBusy
    when the lock stays taken (the job retries).
    """
    if local_date is not None and _daily_recorded(tournament_id, local_date):
        # Checked before waiting for the lock too: a late job of a recorded day does not queue behind a settlement.
        return None
    with tournament_lock(tournament_id=tournament_id):
        with transaction.atomic():
            as_of = timezone.now()
            try:
                with transaction.atomic():
                    snapshot = RankSnapshot.objects.create(
                        tournament_id=tournament_id, as_of=as_of, local_date=local_date, trigger=trigger
                    )
            except IntegrityError:
                # Two jobs raced for the same day: the first one recorded it.
                logger.info("daily rank snapshot of tournament %s for %s exists", tournament_id, local_date)
                return None
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")
                cursor.execute(_insert_rows_sql(), [snapshot.pk, tournament_id])
                snapshot.total = cursor.rowcount
            RankSnapshot.objects.filter(pk=snapshot.pk).update(total=snapshot.total)
            _achievements_award(snapshot=snapshot)
            BoardState.objects.get_or_create(tournament_id=tournament_id)
            BoardState.objects.filter(tournament_id=tournament_id).update(version=F("version") + 1, as_of=as_of)
            version = BoardState.objects.filter(tournament_id=tournament_id).values_list("version", flat=True)[0]
        if projection_enabled():
            try:
                snapshot_projection_fill(
                    tournament_id=tournament_id, client=redis_client(), version=version, as_of=as_of
                )
            except RedisError as exc:
                # Redis answers the old deltas at the old version until the sweeper's rebuild.
                redis_failed(exc)
                projection_mark_stale(tournament_id=tournament_id)
    logger.info("rank snapshot %s of tournament %s: %s members", snapshot.pk, tournament_id, snapshot.total)
    # The live top 10 carries rank_delta: the watchers of the tournament's board and of its leagues get the
    # new one (the publisher reads only boards somebody watches).
    league_ids = League.objects.filter(tournament_id=tournament_id).values_list("id", flat=True)
    boards_changed_send(
        boards=[BoardKey.of_tournament(tournament_id)]
        + [BoardKey.of_league(league_id, tournament_id) for league_id in league_ids]
    )
    return snapshot


def _achievements_award(*, snapshot: RankSnapshot) -> None:
    """top_ten_percent and climber from this snapshot's ranks and the one before, in the snapshot's transaction.

    The achievements commit with the snapshot they rest on (and are announced after that commit).
    """
    previous = (
        RankSnapshot.objects.filter(tournament_id=snapshot.tournament_id, as_of__lt=snapshot.as_of)
        .exclude(pk=snapshot.pk)
        .order_by("-as_of", "-id")
        .values_list("pk", "total")
        .first()
    )
    rows = RankSnapshotRow._meta.db_table
    achievements_after_snapshot(
        tournament_id=snapshot.tournament_id,
        snapshot_ranks_sql=f"SELECT member_id, rank FROM {rows} WHERE snapshot_id = %(snapshot)s",
        total=snapshot.total,
        previous_ranks_sql=(
            f"SELECT member_id, rank FROM {rows} WHERE snapshot_id = %(previous)s" if previous else None
        ),
        previous_total=previous[1] if previous else None,
        snapshot_id=snapshot.pk,
        params={"snapshot": snapshot.pk, "previous": previous[0] if previous else None},
    )


def _daily_recorded(tournament_id: int, local_date: date) -> bool:
    return RankSnapshot.objects.filter(
        tournament_id=tournament_id, trigger=RankSnapshot.Trigger.DAILY, local_date=local_date
    ).exists()
