"""Reads about the settlement outbox, for metrics and operators."""

from django.db.models import Count, Min
from django.utils import timezone

from apps.leaderboards.models import BatchedRequest, QuestionSettlementRequest, SettlementRequest


def settlement_outbox_stats() -> dict:
    """Requests (of matches and of bonus questions) per status, and the age in seconds of the oldest one
    not yet done (0 when none)."""
    by_status = {status: 0 for status in BatchedRequest.Status.values}
    oldest = None
    for model in (SettlementRequest, QuestionSettlementRequest):
        for row in model.objects.order_by().values("status").annotate(n=Count("id")):
            by_status[row["status"]] += row["n"]
        first = model.objects.filter(
            status__in=[BatchedRequest.Status.PENDING, BatchedRequest.Status.IN_PROGRESS]
        ).aggregate(oldest=Min("created_at"))["oldest"]
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"by_status": by_status, "oldest_unfinished_age": max(age, 0.0)}
