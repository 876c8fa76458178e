"""Reads about the settlement outbox, for metrics and operators."""

from django.db.models import Count, Min
from django.utils import timezone

from apps.leaderboards.models import SettlementRequest


def settlement_outbox_stats() -> dict:
    """Requests per status and the age in seconds of the oldest one not yet done (0 when none)."""
    by_status = {status: 0 for status in SettlementRequest.Status.values}
    for row in SettlementRequest.objects.order_by().values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    oldest = SettlementRequest.objects.filter(
        status__in=[SettlementRequest.Status.PENDING, SettlementRequest.Status.IN_PROGRESS]
    ).aggregate(oldest=Min("created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"by_status": by_status, "oldest_unfinished_age": max(age, 0.0)}
