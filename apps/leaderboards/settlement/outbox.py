"""The settlement outbox: result changes ask for a settlement in their own transaction."""

import logging

from django.conf import settings
from django.db import transaction

from apps.common.request_id import current as current_request_id
from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match
from apps.matches.services import match_settlement_kind_note

logger = logging.getLogger(__name__)


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
        defaults={
            "match": match,
            "result_version": match.result_version,
            "kind": kind,
            "request_id": current_request_id() or "",
        },
    )
    if created:
        match_settlement_kind_note(match=match, kind=kind)
        transaction.on_commit(lambda: settlement_request_enqueue(request_id=request.pk))
    return request


def _send(task_name: str, **kwargs) -> None:
    # Imported here, not at the top: the tasks call the services that call this
    # module (the Celery task <-> service pair the project allows).
    from apps.leaderboards.settlement import tasks

    getattr(tasks, task_name).apply_async(kwargs=kwargs, queue="settlement")


def settlement_request_enqueue(*, request_id: int) -> None:
    """Send the settlement job; in the embedded default (eager Celery) it runs here and now.

    A broker that does not answer loses nothing: the request stays pending and
    the sweeper sends it again.
    """
    try:
        _send("settlement_run", request_id=request_id)
    except Exception as exc:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue settlement request %s (the sweeper will): %s", request_id, exc)


def score_award_enqueue(*, award_id: int) -> None:
    """Send the job that applies a score award; a lost message is sent again by the sweeper."""
    try:
        _send("score_action_apply", award_id=award_id)
    except Exception as exc:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue score award %s (the sweeper will): %s", award_id, exc)
