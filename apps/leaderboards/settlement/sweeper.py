"""The beat sweeper: nothing asked for is ever lost, only delayed.

Settlement requests whose message was lost (still pending) or whose worker
vanished (in progress, heartbeat stale) are sent again; so are score awards
never applied; tournaments whose projection missed a Redis write are rebuilt.
Sending twice is harmless: claims are compare-and-swap and batches resume at
their cursor.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.leaderboards.boards.projection_read import projection_enabled
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.models import BoardState, ScoreActionAward, SettlementRequest
from apps.leaderboards.settlement.outbox import score_award_enqueue, settlement_request_enqueue

logger = logging.getLogger(__name__)


def settlement_sweep() -> dict:
    now = timezone.now()
    timeout = timedelta(seconds=getattr(settings, "SETTLEMENT_STUCK_SECONDS", 300))
    stuck = list(
        SettlementRequest.objects.filter(
            Q(status=SettlementRequest.Status.PENDING, updated_at__lt=now - timeout)
            | Q(status=SettlementRequest.Status.IN_PROGRESS, heartbeat_at__lt=now - timeout)
        )
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    # Touch them so the next sweep waits a full timeout before sending again.
    SettlementRequest.objects.filter(id__in=stuck, status=SettlementRequest.Status.PENDING).update(updated_at=now)
    for request_id in stuck:
        settlement_request_enqueue(request_id=request_id)

    awards = list(
        ScoreActionAward.objects.filter(status=ScoreActionAward.Status.PENDING, created_at__lt=now - timeout)
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    for award_id in awards:
        score_award_enqueue(award_id=award_id)

    stale = []
    if projection_enabled():
        stale = list(BoardState.objects.filter(projection_stale=True).values_list("tournament_id", flat=True))
        for tournament_id in stale:
            projection_rebuild_enqueue(tournament_id=tournament_id)
    if stuck or awards or stale:
        logger.warning("sweeper re-sent %s settlements, %s awards, %s rebuilds", len(stuck), len(awards), len(stale))
    return {"settlements": stuck, "awards": awards, "rebuilds": stale}
