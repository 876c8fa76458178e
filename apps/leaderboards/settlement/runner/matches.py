"""A match's settlement request through the shared loop: what a claim fixes, the batch plan, what "done" marks."""

from collections.abc import Callable

from apps.leaderboards.achievements.evaluate import achievements_after_request
from apps.leaderboards.boards.keys import BoardKey
from apps.leaderboards.boards.metrics import redis_write_errors
from apps.leaderboards.boards.projection_read import RedisError, redis_failed
from apps.leaderboards.boards.projection_write import projection_mark_stale, projection_state_write
from apps.leaderboards.boards.signals import boards_changed_send
from apps.leaderboards.models import SettlementRequest
from apps.leaderboards.settlement import metrics
from apps.leaderboards.settlement.in_play import live_matches_refresh
from apps.leaderboards.settlement.runner.loop import Job, RunReport, request_run
from apps.leaderboards.settlement.sql import Applied, BatchPlan
from apps.matches.models import Match
from apps.matches.services import match_settled_mark


def applied_target(*, match: Match, kind: str) -> Applied | None:
    """What a request made now applies: the counted result and scoring, or nothing (a void or unstarted match).

    A match in play applies its current counted score as live points; a
    request claimed later for the same match moves from it by the difference.
    """
    if kind != SettlementRequest.Kind.SETTLE or match.status not in Match.SCORED_STATUSES:
        return None
    result = match.counted_score()
    if result is None:
        return None
    tournament = match.tournament
    return Applied(
        home=result[0],
        away=result[1],
        points_exact=tournament.points_exact,
        points_goal_difference=tournament.points_goal_difference,
        points_outcome=tournament.points_outcome,
        multiplier=match.round.multiplier,
        round_id=match.round_id,
        live=match.status == Match.Status.LIVE,
    )


def applied_request(*, match_id: int) -> SettlementRequest | None:
    """The request whose points the match's guesses currently hold in the standings."""
    return (
        SettlementRequest.objects.filter(match_id=match_id, status=SettlementRequest.Status.DONE)
        .order_by("-finished_at", "-id")
        .first()
    )


def _fix(request: SettlementRequest) -> dict:
    match = Match.objects.select_related("tournament", "round").get(pk=request.match_id)
    target = applied_target(match=match, kind=request.kind)
    return {
        "base": applied_request(match_id=request.match_id),
        "applied_home": target.home if target else None,
        "applied_away": target.away if target else None,
        "applied_points_exact": target.points_exact if target else None,
        "applied_points_goal_difference": target.points_goal_difference if target else None,
        "applied_points_outcome": target.points_outcome if target else None,
        "applied_multiplier": target.multiplier if target else None,
        "applied_round_id": target.round_id if target else None,
        "applied_live": bool(target and target.live),
    }


def _plan(request: SettlementRequest, tournament_id: int) -> BatchPlan:
    return BatchPlan(
        match_id=request.match_id,
        tournament_id=tournament_id,
        old=Applied.of_request(request.base),
        new=Applied.of_request(request),
    )


def _done(request: SettlementRequest) -> None:
    if request.kind == SettlementRequest.Kind.SETTLE and request.applies_points:
        # Points for this result version are now held: the "settled" predicate turns true.
        match_settled_mark(match_id=request.match_id, result_version=request.result_version)


def _live_matches_refresh(tournament_id: int, project: bool) -> None:
    """Once a request is claimed: the matches in play its answers show, and the version when they changed.

    Under the tournament lock and before the first batch, so the meta write
    lands before this request's projection moves and after the last one's.
    """
    state = live_matches_refresh(tournament_id=tournament_id)
    if state is None:
        return
    if project:
        try:
            projection_state_write(state=state)
        except RedisError as exc:
            redis_write_errors.inc()
            redis_failed(exc)
            projection_mark_stale(tournament_id=tournament_id)
    # Live clients reload what changed: a kickoff or final whistle may move no row of the top 10.
    boards_changed_send(boards={BoardKey.of_tournament(tournament_id)})


def _achievements_evaluate(request: SettlementRequest, tournament_id: int, project: bool) -> None:
    # Still under the tournament lock: the final results it reads are the ones the standings hold.
    achievements_after_request(request_id=request.pk)


MATCH_JOB = Job(
    model=SettlementRequest,
    subject="match_id",
    walked_field="guesses_walked",
    walked_metric=metrics.settlement_guesses,
    tournament_of=lambda request: Match.objects.values_list("tournament_id", flat=True).get(pk=request.match_id),
    fix=_fix,
    plan=_plan,
    done=_done,
    claimed=_live_matches_refresh,
    after=_achievements_evaluate,
    metric_kind=lambda request: request.kind,
    # The match row too, as before the loop was shared: a result change of
    # the match in flight commits first, and its newer request supersedes this one.
    claim_locks=("match",),
)


def settlement_run(
    *, request_id: int, worker: str | None = None, should_stop: Callable[[], bool] | None = None
) -> RunReport:
    """Run one settlement request of a match to the end (see `loop.request_run`)."""
    return request_run(job=MATCH_JOB, request_id=request_id, worker=worker, should_stop=should_stop)
