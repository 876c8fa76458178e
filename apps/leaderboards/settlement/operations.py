"""Settlement operations staff start: retry a dead letter, settle a match again now."""

import uuid

from django.db import transaction
from django.utils import timezone

from apps.common.audit import Action, audit_record
from apps.common.request_id import current as current_request_id
from apps.common.errors import Conflict, NotFound
from apps.leaderboards.models import SettlementRequest
from apps.leaderboards.settlement.outbox import settlement_key, settlement_request_enqueue
from apps.leaderboards.settlement.runner import UNFINISHED
from apps.matches.models import Match


# --- dead letters and manual runs --------------------------------------------
def settlement_request_fail(*, request_id: int, error: str) -> None:
    """Park a request whose retries ran out: failed, with the error, visible in the admin."""
    SettlementRequest.objects.filter(pk=request_id).exclude(
        status__in=[SettlementRequest.Status.DONE, SettlementRequest.Status.SUPERSEDED]
    ).update(status=SettlementRequest.Status.FAILED, last_error=error[:4000], finished_at=timezone.now())


def settlement_request_note_error(*, request_id: int, error: str) -> None:
    SettlementRequest.objects.filter(pk=request_id).update(last_error=error[:4000])


def settlement_request_retry(*, request_id: int, actor=None) -> SettlementRequest:
    """Send a failed request back to the queue; it resumes where it stopped. Audited as `settlement_retried`."""
    with transaction.atomic():
        updated = SettlementRequest.objects.filter(pk=request_id, status=SettlementRequest.Status.FAILED).update(
            status=SettlementRequest.Status.PENDING, finished_at=None
        )
        if not updated:
            raise Conflict("not_failed", "Only a failed settlement request can be retried.")
        audit_record(
            actor=actor,
            action=Action.SETTLEMENT_RETRIED,
            target=("settlementrequest", request_id),
            before={"status": SettlementRequest.Status.FAILED},
            after={"status": SettlementRequest.Status.PENDING},
        )
        request_id_ = request_id
        transaction.on_commit(lambda: settlement_request_enqueue(request_id=request_id_))
    return SettlementRequest.objects.get(pk=request_id)


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
