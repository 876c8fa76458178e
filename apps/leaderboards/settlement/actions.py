"""Score actions (SCORING.md "Points from score actions"): fixed points from a server-side catalogue.

A request records the award (idempotent per member and key, limited per
period) and answers at once; the points reach the standing and the projection
through the same path as settlement: under the tournament lock, in a
transaction that also moves the boards' version, then Redis, then the live push.
"""

import logging
import math
import uuid
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.common.errors import ApplicationError, Conflict, Forbidden, NotFound
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.locks import tournament_lock
from apps.leaderboards.boards.metrics import redis_write_errors, timed
from apps.leaderboards.boards.projection_read import (
    RedisError,
    projection_enabled,
    projection_ready,
    redis_failed,
)
from apps.leaderboards.boards.projection_write import (
    KIND_LEAGUE,
    KIND_TOURNAMENT,
    projection_mark_stale,
    projection_move,
)
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.models import BoardState, ScoreAction, ScoreActionAward, Standing
from apps.leaderboards.settlement import metrics
from apps.leaderboards.settlement.outbox import score_award_enqueue
from apps.leagues.selectors import league_ids_of_member
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
            award_id = award.pk
            transaction.on_commit(lambda: score_award_enqueue(award_id=award_id))
    except IntegrityError:
        # The same key raced in on another connection: its award is the first outcome.
        existing = ScoreActionAward.objects.filter(member_id=member_id, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing, False
    metrics.score_actions.labels(outcome="accepted").inc()
    return award, True


def score_award_apply(*, award_id: int) -> str:
    """Add a pending award's points to its standing and the boards, once. Returns "applied" or "noop"."""
    award = ScoreActionAward.objects.filter(pk=award_id).values("tournament_id", "member_id", "points", "status").first()
    if award is None or award["status"] != ScoreActionAward.Status.PENDING:
        return "noop"
    tournament_id, member_id = award["tournament_id"], award["member_id"]
    with tournament_lock(tournament_id=tournament_id):
        with timed(metrics.database_write_seconds), transaction.atomic():
            claimed = ScoreActionAward.objects.filter(pk=award_id, status=ScoreActionAward.Status.PENDING).update(
                status=ScoreActionAward.Status.APPLIED, applied_at=timezone.now()
            )
            if not claimed:
                return "noop"
            standing, _ = Standing.objects.get_or_create(tournament_id=tournament_id, member_id=member_id)
            Standing.objects.filter(pk=standing.pk).update(points=F("points") + award["points"])
            points, exact_hits = Standing.objects.filter(pk=standing.pk).values_list("points", "exact_hits").get()
            now = timezone.now()
            state, _ = BoardState.objects.get_or_create(tournament_id=tournament_id)
            BoardState.objects.filter(pk=tournament_id).update(version=F("version") + 1, as_of=now)
            version = state.version + 1
            leagues = league_ids_of_member(member_id=member_id, tournament_id=tournament_id)
        rows = [(KIND_TOURNAMENT, tournament_id, member_id, points, exact_hits)]
        rows += [(KIND_LEAGUE, league_id, member_id, points, exact_hits) for league_id in leagues]
        boards = {BoardKey.of_tournament(tournament_id)}
        boards |= {BoardKey.of_league(league_id, tournament_id) for league_id in leagues}
        if projection_enabled() and not state.projection_stale:
            try:
                if projection_ready(tournament_id=tournament_id):
                    projection_move(tournament_id=tournament_id, rows=rows, version=version, as_of=now)
                else:
                    projection_mark_stale(tournament_id=tournament_id)
            except RedisError as exc:
                redis_write_errors.inc()
                redis_failed(exc)
                projection_mark_stale(tournament_id=tournament_id)
    boards_changed_send(boards=boards)
    return "applied"
