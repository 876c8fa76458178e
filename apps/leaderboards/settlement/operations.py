"""Settlement operations staff start: retry a dead letter, settle a match again now, settle a bonus question."""

import uuid

from django.db import transaction
from django.utils import timezone

from apps.common.audit import Action, audit_record
from apps.common.request_id import current as current_request_id
from apps.common.errors import Conflict, NotFound
from apps.leaderboards.models import BatchedRequest, QuestionSettlementRequest, SettlementRequest
from apps.leaderboards.settlement.outbox import (
    question_request_enqueue,
    question_settlement_key,
    settlement_key,
    settlement_request_enqueue,
)
from apps.leaderboards.settlement.runner import UNFINISHED
from apps.matches.models import Match
from apps.matches.question_services import bonus_question_settle


# --- dead letters and manual runs --------------------------------------------
def _fail(model: type[BatchedRequest], request_id: int, error: str) -> None:
    model.objects.filter(pk=request_id).exclude(
        status__in=[BatchedRequest.Status.DONE, BatchedRequest.Status.SUPERSEDED]
    ).update(status=BatchedRequest.Status.FAILED, last_error=error[:4000], finished_at=timezone.now())


def _retry(model: type[BatchedRequest], request_id: int, actor, enqueue) -> None:
    with transaction.atomic():
        updated = model.objects.filter(pk=request_id, status=BatchedRequest.Status.FAILED).update(
            status=BatchedRequest.Status.PENDING, finished_at=None
        )
        if not updated:
            raise Conflict("not_failed", "Only a failed settlement request can be retried.")
        audit_record(
            actor=actor,
            action=Action.SETTLEMENT_RETRIED,
            target=(model._meta.model_name, request_id),
            before={"status": BatchedRequest.Status.FAILED},
            after={"status": BatchedRequest.Status.PENDING},
        )
        transaction.on_commit(lambda: enqueue(request_id=request_id))


def settlement_request_fail(*, request_id: int, error: str) -> None:
    """Park a request whose retries ran out: failed, with the error, visible in the admin."""
    _fail(SettlementRequest, request_id, error)


def settlement_request_note_error(*, request_id: int, error: str) -> None:
    SettlementRequest.objects.filter(pk=request_id).update(last_error=error[:4000])


def settlement_request_retry(*, request_id: int, actor=None) -> SettlementRequest:
    """Send a failed request back to the queue; it resumes where it stopped. Audited as `settlement_retried`."""
    _retry(SettlementRequest, request_id, actor, settlement_request_enqueue)
    return SettlementRequest.objects.get(pk=request_id)


def question_request_fail(*, request_id: int, error: str) -> None:
    """Park a question's request whose retries ran out (a dead letter, as for matches)."""
    _fail(QuestionSettlementRequest, request_id, error)


def question_request_note_error(*, request_id: int, error: str) -> None:
    QuestionSettlementRequest.objects.filter(pk=request_id).update(last_error=error[:4000])


def question_request_retry(*, request_id: int, actor=None) -> QuestionSettlementRequest:
    """Send a failed question request back to the queue; it resumes where it stopped. Audited as `settlement_retried`."""
    _retry(QuestionSettlementRequest, request_id, actor, question_request_enqueue)
    return QuestionSettlementRequest.objects.get(pk=request_id)


def question_settle_now(*, question_id: int, answer, actor=None) -> QuestionSettlementRequest:
    """Settle a bonus question with `answer`, re-settle it with another, or un-settle it (None).

    The correct answer, its new version and the settlement request commit
    together (`bonus_question_settle`, audited as `question_settled`); the
    job runs after commit. Returns the request (its id is the job id).
    """
    with transaction.atomic():
        question = bonus_question_settle(question_id=question_id, answer=answer, actor=actor)
        return QuestionSettlementRequest.objects.get(
            idempotency_key=question_settlement_key(question_id=question.pk, answer_version=question.answer_version)
        )


def match_settle_now(*, match_id: int, actor=None) -> SettlementRequest:
    """Settle (or re-settle, or reverse) a match now, whatever ran before.

    An unfinished request of the match's current result goes back to the queue;
    otherwise a new request is written, which re-applies the current result
    and scoring: standings move by the difference, if any. Audited as
    `match_settled_manually`, naming `actor` (the staff member).
    """
    with transaction.atomic():
        try:
            match = Match.objects.select_for_update().get(pk=match_id)
        except Match.DoesNotExist:
            raise NotFound("not_found", "No match with this id.")
        void = match.status in Match.VOID_STATUSES
        if not void and match.status not in Match.SCORED_STATUSES:
            raise Conflict(
                "match_not_finished", "Only a finished, live, cancelled or abandoned match can be settled."
            )
        kind = SettlementRequest.Kind.REVERSE if void else SettlementRequest.Kind.SETTLE
        latest = SettlementRequest.objects.filter(match_id=match_id).order_by("-id").first()
        if latest is not None and latest.result_version == match.result_version and latest.status in UNFINISHED:
            if latest.status == SettlementRequest.Status.FAILED:
                SettlementRequest.objects.filter(pk=latest.pk).update(
                    status=SettlementRequest.Status.PENDING, finished_at=None
                )
            request = latest
        else:
            base_key = settlement_key(match_id=match_id, result_version=match.result_version)
            taken = SettlementRequest.objects.filter(idempotency_key=base_key).exists()
            key = f"{base_key}:manual:{uuid.uuid4().hex[:12]}" if taken else base_key
            request = SettlementRequest.objects.create(
                match=match,
                result_version=match.result_version,
                kind=kind,
                idempotency_key=key,
                request_id=current_request_id() or "",
            )
        audit_record(
            actor=actor,
            action=Action.MATCH_SETTLED_MANUALLY,
            target=match,
            before={"result_version": match.result_version, "settled_version": match.settled_version},
            after={"settlement_request": request.pk, "kind": request.kind, "requeued": request is latest},
        )
        request_id = request.pk
        transaction.on_commit(lambda: settlement_request_enqueue(request_id=request_id))
    return request
