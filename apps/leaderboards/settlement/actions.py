"""Score actions (SCORING.md "Points from score actions"): fixed points from a server-side catalogue.

A request records the award (idempotent per member and key, limited per
period) and answers at once; a settlement-queue job applies the pending
awards of the tournament in batches of thousands (SCORE_ACTION_BATCH_SIZE):
one transaction moves the standings and the boards' version, then Redis,
then one live push per batch (how this stays exact beside a running
settlement: "application, in batches" below).
"""

import logging
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.common.errors import ApplicationError, Conflict, Forbidden, NotFound
from apps.leaderboards.boards.keys import ROUND, BoardKey
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.boards.metrics import redis_write_errors, timed
from apps.leaderboards.boards.projection_read import (
    RedisError,
    projection_enabled,
    projection_ready,
    redis_failed,
)
from apps.leaderboards.boards.projection_write import (
    projection_mark_stale,
    projection_owed_add,
    projection_owed_flush,
    projection_owed_forget,
)
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.models import BoardState, ScoreAction, ScoreActionAward, Standing
from apps.leaderboards.settlement import metrics
from apps.leaderboards.settlement.outbox import (
    score_awards_enqueue,
    score_awards_queued_clear,
    score_projection_flush_enqueue,
)
from apps.leagues.models import LeagueMembership
from apps.matches.models import Tournament

logger = logging.getLogger(__name__)


def period_bounds(*, period: str, now: datetime, tournament: Tournament) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the period containing `now`, in UTC; (None, ends_at) for the whole tournament."""
    if period == ScoreAction.Period.DAY:
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period == ScoreAction.Period.WEEK:
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    return None, tournament.ends_at


def _commit_without_waiting_for_disk() -> None:
    """Let the award's commit return before its WAL reaches the disk (PostgreSQL only).

    Waiting for the flush was most of an intake request's time: one disk
    flush per tap on a shared disk. The trade: a database crash can lose the
    awards accepted in its last moments (up to three times `wal_writer_delay`,
    600 ms by default), the way a lost request would; the database stays
    consistent (an award is lost whole, never half-applied), and a client
    that sends its key again records it again.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def score_action_submit(
    *, tournament_id: int, code: str, member_id: int, idempotency_key: uuid.UUID
) -> tuple[ScoreActionAward, bool]:
    """Accept one score action; returns (award, created). The same key again returns the first award.

    Raises NotFound for an unknown tournament or action, Conflict
    `tournament_over` once the tournament has finished or its end has passed,
    Forbidden `not_participating` for a member outside the tournament, and 429
    `action_limit` (with Retry-After) once the period's limit is reached.
    """
    tournament = Tournament.objects.filter(pk=tournament_id).first()
    if tournament is None:
        raise NotFound("tournament_not_found", "No tournament has this id.")
    if tournament.status == Tournament.Status.FINISHED or (
        tournament.ends_at is not None and timezone.now() >= tournament.ends_at
    ):
        raise Conflict("tournament_over", "This tournament is over: its boards take no more points.")
    action = ScoreAction.objects.filter(tournament_id=tournament_id, code=code, is_active=True).first()
    if action is None:
        raise NotFound("action_not_found", "This tournament has no such action.")
    now = timezone.now()
    try:
        with transaction.atomic():
            _commit_without_waiting_for_disk()
            # The member's standing row serialises their submissions: the limit
            # count and the insert below cannot interleave with a second request.
            standing = Standing.objects.select_for_update().filter(tournament_id=tournament_id, member_id=member_id)
            if not standing.exists():
                raise Forbidden("not_participating", "Join the tournament before earning points in it.")
            existing = ScoreActionAward.objects.filter(member_id=member_id, idempotency_key=idempotency_key).first()
            if existing is not None:
                metrics.score_actions.labels(outcome="replayed").inc()
                return existing, False
            start, end = period_bounds(period=action.period, now=now, tournament=tournament)
            used = ScoreActionAward.objects.filter(member_id=member_id, action=action)
            if start is not None:
                used = used.filter(created_at__gte=start)
            if used.count() >= action.limit:
                metrics.score_actions.labels(outcome="limited").inc()
                retry_after = max(1, math.ceil((end - now).total_seconds())) if end and end > now else 86_400
                raise ApplicationError(
                    "action_limit",
                    f"'{action.code}' may be done {action.limit} time(s) per {action.period}.",
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
            award = ScoreActionAward.objects.create(
                action=action,
                tournament_id=tournament_id,
                member_id=member_id,
                idempotency_key=idempotency_key,
                points=action.points,
            )
            transaction.on_commit(lambda: score_awards_enqueue(tournament_id=tournament_id))
    except IntegrityError:
        # The same key raced in on another connection: its award is the first outcome.
        existing = ScoreActionAward.objects.filter(member_id=member_id, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing, False
    metrics.score_actions.labels(outcome="accepted").inc()
    return award, True


# --- application, in batches ----------------------------------------------
#
# Awards are applied without the tournament lock: a settlement holds it for
# its whole run (seconds on a big match), and points bought by a member should
# not wait for that. Why this is still safe beside a running settlement:
#
# * No deadlock. A batch claims its awards with FOR UPDATE SKIP LOCKED, then
#   locks its members' standing rows with FOR UPDATE SKIP LOCKED as well: it
#   never waits for a row lock a settlement batch (or another award batch, or
#   an intake) holds. Awards of members it could not lock stay pending and are
#   claimed again by the next batch. The only lock it may wait for is the
#   tournament's BoardState row, and every holder of that row has already
#   taken all of its standing rows (settlement moves standings first and the
#   version last), so no cycle can form.
# * No lost or double award. The claim and the standing move commit together:
#   an award is `applied` exactly when its points are in the standing. Two
#   workers never hold the same award (SKIP LOCKED), and a killed worker's
#   transaction rolls back, leaving its awards pending for the next job.
# * Redis exact. A batch does not write the sorted sets itself (it could land
#   after a settlement batch that committed later, with an older total): it
#   adds its members to the tournament's owed set after commit, then, if the
#   tournament lock is free, takes it for the projection step only and writes
#   the members' totals as read under it (boards.projection_write
#   "totals owed"). When a settlement holds the lock, a flush job tries again
#   a second later, so the points reach the boards when that settlement ends.
# * The boards' version moves once per batch, and the live push goes out once
#   per projection step.


def batch_size() -> int:
    return int(getattr(settings, "SCORE_ACTION_BATCH_SIZE", 5_000))


# How long one job applies batches before it hands over to a fresh message
# (other tournaments' jobs get a turn on the queue).
APPLY_BUDGET_SECONDS = 30
# The wait before claiming again when every claimed award's standing was locked
# by someone else (a settlement batch commits within a fraction of a second).
LOCKED_PAUSE_SECONDS = 0.05
STALLED_SECONDS = 5


@dataclass
class AwardBatch:
    claimed: int = 0  # awards this batch found pending and free
    applied: int = 0  # of them, those whose points it added
    members: list[int] = field(default_factory=list)
    leagues: list[int] = field(default_factory=list)


def score_awards_apply(*, tournament_id: int, budget_seconds: float = APPLY_BUDGET_SECONDS) -> dict:
    """Apply the tournament's pending awards batch after batch until none is left or the budget is spent.

    Returns {"applied": n, "batches": b, "more": bool}; `more` means pending
    awards were left for another job.
    """
    score_awards_queued_clear(tournament_id=tournament_id)
    started = time.monotonic()
    stalled_since = None
    report = {"applied": 0, "batches": 0, "more": False}
    while True:
        batch = score_awards_apply_batch(tournament_id=tournament_id)
        if not batch.claimed:
            return report
        if batch.applied:
            stalled_since = None
            report["applied"] += batch.applied
            report["batches"] += 1
            score_awards_project(tournament_id=tournament_id, members=batch.members, leagues=batch.leagues)
        else:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > STALLED_SECONDS:
                # Rows held far longer than any batch holds them (or awards of a
                # member without a standing): leave them to the sweeper.
                logger.warning("score awards of tournament %s stay pending: their standings stay locked", tournament_id)
                return report
            time.sleep(LOCKED_PAUSE_SECONDS)
        if time.monotonic() - started > budget_seconds:
            report["more"] = True
            return report


def score_awards_apply_batch(*, tournament_id: int, size: int | None = None) -> AwardBatch:
    """Claim up to `size` pending awards of the tournament and add their points in one transaction."""
    size = size or batch_size()
    with timed(metrics.database_write_seconds), transaction.atomic():
        if connection.vendor == "postgresql":
            batch = _apply_pg(tournament_id=tournament_id, size=size)
        else:
            batch = _apply_portable(tournament_id=tournament_id, size=size)
        if batch.applied:
            # Once per batch, last: see "No deadlock" above.
            BoardState.objects.get_or_create(tournament_id=tournament_id)
            BoardState.objects.filter(pk=tournament_id).update(version=F("version") + 1, as_of=timezone.now())
            batch.leagues = sorted(
                set(
                    LeagueMembership.objects.filter(
                        member_id__in=batch.members, league__tournament_id=tournament_id
                    ).values_list("league_id", flat=True)
                )
            )
    if batch.applied:
        metrics.score_actions.labels(outcome="applied").inc(batch.applied)
    return batch


def _apply_pg(*, tournament_id: int, size: int) -> AwardBatch:
    awards, standings = ScoreActionAward._meta.db_table, Standing._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, member_id FROM {awards} WHERE status = %s AND tournament_id = %s "
            f"ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
            [ScoreActionAward.Status.PENDING, tournament_id, size],
        )
        claimed = cursor.fetchall()
        if not claimed:
            return AwardBatch()
        cursor.execute(
            f"SELECT member_id FROM {standings} WHERE tournament_id = %s AND member_id = ANY(%s) "
            f"ORDER BY member_id FOR UPDATE SKIP LOCKED",
            [tournament_id, sorted({member_id for _, member_id in claimed})],
        )
        members = [member_id for (member_id,) in cursor.fetchall()]
        locked = set(members)
        ids = [award_id for award_id, member_id in claimed if member_id in locked]
        if not ids:
            return AwardBatch(claimed=len(claimed))
        cursor.execute(
            f"UPDATE {awards} SET status = %s, applied_at = now() WHERE id = ANY(%s)",
            [ScoreActionAward.Status.APPLIED, ids],
        )
        # One set-based move of every standing from the batch's awards, summed per member.
        cursor.execute(
            f"UPDATE {standings} AS s SET points = s.points + a.points "
            f"FROM (SELECT member_id, SUM(points) AS points FROM {awards} WHERE id = ANY(%s) GROUP BY member_id) a "
            f"WHERE s.tournament_id = %s AND s.member_id = a.member_id",
            [ids, tournament_id],
        )
    return AwardBatch(claimed=len(claimed), applied=len(ids), members=members)


def _apply_portable(*, tournament_id: int, size: int) -> AwardBatch:
    """The same batch through the ORM, for the embedded database (SQLite runs one writer at a time)."""
    claimed = list(
        ScoreActionAward.objects.filter(tournament_id=tournament_id, status=ScoreActionAward.Status.PENDING)
        .order_by("created_at", "id")
        .values_list("id", "member_id", "points")[:size]
    )
    if not claimed:
        return AwardBatch()
    present = set(
        Standing.objects.filter(tournament_id=tournament_id, member_id__in={m for _, m, _ in claimed}).values_list(
            "member_id", flat=True
        )
    )
    claimed = [award for award in claimed if award[1] in present]
    ids = [award_id for award_id, _, _ in claimed]
    taken = ScoreActionAward.objects.filter(id__in=ids, status=ScoreActionAward.Status.PENDING).update(
        status=ScoreActionAward.Status.APPLIED, applied_at=timezone.now()
    )
    if taken != len(ids):
        raise transaction.TransactionManagementError("score awards changed while being claimed")
    sums: dict[int, int] = defaultdict(int)
    for _, member_id, points in claimed:
        sums[member_id] += points
    for member_id, points in sums.items():
        Standing.objects.filter(tournament_id=tournament_id, member_id=member_id).update(points=F("points") + points)
    return AwardBatch(claimed=len(claimed), applied=len(ids), members=sorted(sums))


def score_awards_project(*, tournament_id: int, members: list[int], leagues: list[int]) -> None:
    """After a batch commits: owe its members' totals to the boards and write them if the lock is free."""
    boards = {BoardKey.of_tournament(tournament_id)} | {BoardKey.of_league(l, tournament_id) for l in leagues}
    if not projection_enabled():
        boards_changed_send(boards=boards)
        return
    try:
        projection_owed_add(tournament_id=tournament_id, member_ids=members)
    except RedisError as exc:
        redis_write_errors.inc()
        redis_failed(exc)
        projection_mark_stale(tournament_id=tournament_id)
        boards_changed_send(boards=boards)
        return
    if not score_projection_flush(tournament_id=tournament_id):
        score_projection_flush_enqueue(tournament_id=tournament_id)


def score_projection_flush(*, tournament_id: int) -> bool:
    """Write the owed totals under the tournament lock, if it is free now; False when it is busy."""
    with tournament_lock(tournament_id=tournament_id, wait_seconds=0) as acquired:
        if not acquired:
            return False
        state = BoardState.objects.filter(tournament_id=tournament_id).values_list("projection_stale", flat=True).first()
        boards: set[BoardKey] = set()
        try:
            if state or not projection_ready(tournament_id=tournament_id):
                # A rebuild reads every total afresh: nothing is owed any more.
                projection_mark_stale(tournament_id=tournament_id)
                projection_owed_forget(tournament_id=tournament_id)
            else:
                boards = projection_owed_flush(tournament_id=tournament_id)
        except RedisError as exc:
            redis_write_errors.inc()
            redis_failed(exc)
            projection_mark_stale(tournament_id=tournament_id)
    # Round tables take no award points and have no live stream.
    live = {board for board in boards if board.kind != ROUND}
    if live:
        boards_changed_send(boards=live)
    return True


def score_award_apply(*, award_id: int) -> str:
    """One award's job, as sent before awards went in batches: applies its tournament's pending awards."""
    tournament_id = ScoreActionAward.objects.filter(pk=award_id).values_list("tournament_id", flat=True).first()
    if tournament_id is None:
        return "noop"
    report = score_awards_apply(tournament_id=tournament_id)
    return "applied" if report["applied"] else "noop"
