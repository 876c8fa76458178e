"""Reads of rank snapshots: the latest one, ranks at it, a member's history, the daily snapshots due."""

import logging
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.db.models import Subquery

from apps.common.errors import NotFound
from apps.leaderboards.boards.keys import LEAGUE, TOURNAMENT, BoardKey
from apps.leaderboards.boards.ranking import rank_sql
from apps.leaderboards.models import RankSnapshot, RankSnapshotRow, Standing
from apps.leagues.models import LeagueMembership
from apps.matches.models import Tournament

logger = logging.getLogger(__name__)


def _latest(tournament_id: int):
    return RankSnapshot.objects.filter(tournament_id=tournament_id).order_by("-as_of", "-id").values_list("id", flat=True)


def snapshot_latest_id(*, tournament_id: int) -> int | None:
    """The id of the tournament's latest snapshot (by time taken), None before the first."""
    return _latest(tournament_id).first()


def snapshot_ranks(*, board: BoardKey, member_ids: Iterable[int]) -> dict[int, int]:
    """member id -> the member's rank on `board` at the tournament's latest snapshot (the database path).

    A tournament board answers the recorded rank. A league board ranks the
    league's members by their recorded totals with the same rule (members
    absent from the snapshot neither get a rank nor count). A round table has
    no snapshot: nothing. Members absent from the snapshot are left out.
    """
    ids = [int(member_id) for member_id in member_ids]
    if not ids or board.kind not in (TOURNAMENT, LEAGUE):
        return {}
    if board.kind == TOURNAMENT:
        # One query: the latest snapshot's id as a subquery, then a key lookup (member, snapshot) per row.
        latest = Subquery(_latest(board.tournament)[:1])
        return dict(
            RankSnapshotRow.objects.filter(snapshot_id=latest, member_id__in=ids).values_list("member_id", "rank")
        )
    snapshot_id = snapshot_latest_id(tournament_id=board.tournament)
    if snapshot_id is None:
        return {}
    return league_snapshot_ranks(league_id=board.id, snapshot_id=snapshot_id, member_ids=ids)


def league_snapshot_ranks(*, league_id: int, snapshot_id: int, member_ids: list[int] | None = None) -> dict[int, int]:
    """member id -> league rank at the snapshot: the league's members ranked by their recorded totals.

    Members absent from the snapshot neither get a rank nor count. All the
    league's members, or only `member_ids` (ranked among all of them).
    """
    rows = RankSnapshotRow._meta.db_table
    memberships = LeagueMembership._meta.db_table
    # Each league member's row is a primary-key lookup (member, snapshot).
    sql = (
        f"SELECT member_id, league_rank FROM ("
        f"SELECT r.member_id, {rank_sql('r')} AS league_rank FROM {memberships} lm "
        f"JOIN {rows} r ON r.member_id = lm.member_id AND r.snapshot_id = %s WHERE lm.league_id = %s"
        f") ranked"
    )
    params: list = [snapshot_id, league_id]
    if member_ids is not None:
        if connection.vendor == "postgresql":
            sql += " WHERE member_id = ANY(%s)"
            params.append(list(member_ids))
        else:
            sql += " WHERE member_id IN (" + ", ".join(["%s"] * len(member_ids)) + ")"
            params += list(member_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {member_id: rank for member_id, rank in cursor.fetchall()}


def member_history(*, tournament_id: int, member_id: int) -> list[dict]:
    """The member's rank at each snapshot of the tournament, oldest first: [{as_of, rank, total, points}].

    NotFound `not_participating` when the member does not take part. One index
    range over the member's rows (key (member, snapshot)), joined to the snapshots.
    """
    if not Standing.objects.filter(tournament_id=tournament_id, member_id=member_id).exists():
        raise NotFound("not_participating", "This member does not take part in this tournament.")
    return [
        {"as_of": as_of, "rank": rank, "total": total, "points": points}
        for as_of, rank, total, points in RankSnapshotRow.objects.filter(
            member_id=member_id, snapshot__tournament_id=tournament_id
        )
        .order_by("snapshot__as_of", "snapshot_id")
        .values_list("snapshot__as_of", "rank", "snapshot__total", "points")
    ]


def tournament_local_date(*, time_zone: str, now: datetime) -> date:
    """The day it is at `now` in a tournament's time zone (UTC for a name the zone database does not know)."""
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r: daily snapshots follow UTC", time_zone)
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def snapshots_due(*, now: datetime) -> list[tuple[int, date]]:
    """(tournament id, local date) of each running tournament whose local day has no daily snapshot yet."""
    running = [
        (tournament_id, tournament_local_date(time_zone=time_zone, now=now))
        for tournament_id, time_zone in Tournament.objects.filter(status=Tournament.Status.RUNNING).values_list(
            "id", "time_zone"
        )
    ]
    if not running:
        return []
    taken = set(
        RankSnapshot.objects.filter(
            trigger=RankSnapshot.Trigger.DAILY,
            tournament_id__in=[tournament_id for tournament_id, _ in running],
            local_date__in={local_date for _, local_date in running},
        ).values_list("tournament_id", "local_date")
    )
    return [due for due in running if due not in taken]
