"""The settlement outbox: result changes ask for a settlement in their own transaction."""

from django.db import transaction

from apps.leaderboards.models import SettlementRequest
from apps.matches.models import Match

SETTLEMENT_TASK = "apps.leaderboards.tasks.settlement_run"


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
    from scoreboard.celery import app

    app.send_task(SETTLEMENT_TASK, kwargs={"request_id": request_id}, queue="settlement")
