"""The settlement outbox: result changes ask for a settlement in their own transaction."""

import logging

from django.db import transaction

from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match

logger = logging.getLogger(__name__)

SETTLEMENT_TASK = "apps.leaderboards.tasks.settlement_run"
# A rebuild asked for while one is queued or running is the same rebuild.
REBUILD_DEDUP_SECONDS = 30


def settlement_key(*, match_id: int, result_version: int) -> str:
    return f"settlement:{match_id}:{result_version}"


def settlement_request_write(*, match: Match, kind: str = SettlementRequest.Kind.SETTLE) -> SettlementRequest:
    """Record that `match` at its current result_version must be settled (or reversed).

    Call inside the transaction that changed the match: the row commits or rolls
    back with the change. Writing the same (match, result_version) twice returns
    the first row. The job is enqueued only after commit; the sweeper re-enqueues
    rows whose message was lost.
    """
    request, created = SettlementRequest.objects.get_or_create(
        idempotency_key=settlement_key(match_id=match.pk, result_version=match.result_version),
        defaults={"match": match, "result_version": match.result_version, "kind": kind},
    )
    if created:
        transaction.on_commit(lambda: settlement_request_enqueue(request_id=request.pk))
    return request


def settlement_request_enqueue(*, request_id: int) -> None:
    """Send the settlement job; in the embedded default (eager Celery) it runs here and now.

    A broker that does not answer loses nothing: the request stays pending and
    the sweeper sends it again.
    """
    from apps.leaderboards.tasks import settlement_run

    try:
        settlement_run.apply_async(kwargs={"request_id": request_id}, queue="settlement")
    except Exception as exc:
        from django.conf import settings

        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue settlement request %s (the sweeper will): %s", request_id, exc)


def projection_rebuild_enqueue(*, tournament_id: int) -> None:
    """Ask for a rebuild of a tournament's projection, once however many callers ask at the same time."""
    from apps.leaderboards.services import projection
    from apps.leaderboards.tasks import projection_rebuild

    if not projection.projection_enabled():
        return
    try:
        fresh = projection.redis_client().set(
            f"lb:{{t:{tournament_id}}}:rebuild-queued", 1, nx=True, ex=REBUILD_DEDUP_SECONDS
        )
    except projection.RedisError as exc:
        # Redis is away: the sweeper asks again for every stale tournament.
        projection.redis_failed(exc)
        return
    if fresh:
        try:
            projection_rebuild.apply_async(kwargs={"tournament_id": tournament_id}, queue="settlement")
        except Exception as exc:
            logger.error("could not enqueue the rebuild of tournament %s (the sweeper will): %s", tournament_id, exc)


def score_award_enqueue(*, award_id: int) -> None:
    from apps.leaderboards.tasks import score_action_apply

    try:
        score_action_apply.apply_async(kwargs={"award_id": award_id}, queue="settlement")
    except Exception as exc:
        from django.conf import settings

        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue score award %s (the sweeper will): %s", award_id, exc)
