"""The beat sweeper: nothing asked for is ever lost, only delayed.

Settlement requests (of matches and of bonus questions) whose message was lost (still pending) or whose worker
vanished (in progress, heartbeat stale) are sent again; so are score awards
never applied (one job per tournament), and the projection flush of
tournaments whose boards still owe score-award totals; tournaments whose
projection missed a Redis write are rebuilt.
Sending twice is harmless: claims are compare-and-swap and batches resume at
their cursor.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.leaderboards.boards.keys import owed_key
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client
from apps.leaderboards.boards.services import projection_rebuild_enqueue
from apps.leaderboards.models import (
    BatchedRequest,
    BoardState,
    QuestionSettlementRequest,
    ScoreActionAward,
    SettlementRequest,
)
from apps.leaderboards.settlement.outbox import (
    question_request_enqueue,
    score_awards_enqueue,
    score_projection_flush_enqueue,
    settlement_request_enqueue,
)

logger = logging.getLogger(__name__)


def _stuck(model: type[BatchedRequest], now, timeout: timedelta) -> list[int]:
    """Requests pending past the timeout (message lost) or in progress with a stale heartbeat (worker gone)."""
    stuck = list(
        model.objects.filter(
            Q(status=BatchedRequest.Status.PENDING, updated_at__lt=now - timeout)
            | Q(status=BatchedRequest.Status.IN_PROGRESS, heartbeat_at__lt=now - timeout)
        )
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    # Touch them so the next sweep waits a full timeout before sending again.
    model.objects.filter(id__in=stuck, status=BatchedRequest.Status.PENDING).update(updated_at=now)
    return stuck


def settlement_sweep() -> dict:
    now = timezone.now()
    timeout = timedelta(seconds=getattr(settings, "SETTLEMENT_STUCK_SECONDS", 300))
    stuck = _stuck(SettlementRequest, now, timeout)
    for request_id in stuck:
        settlement_request_enqueue(request_id=request_id)
    questions = _stuck(QuestionSettlementRequest, now, timeout)
    for request_id in questions:
        question_request_enqueue(request_id=request_id)

    # One job per tournament applies all of its pending awards in batches.
    awards = sorted(
        ScoreActionAward.objects.filter(status=ScoreActionAward.Status.PENDING, created_at__lt=now - timeout)
        .order_by("tournament_id")  # not the model's ordering by id, which would defeat DISTINCT
        .values_list("tournament_id", flat=True)
        .distinct()
    )
    for tournament_id in awards:
        score_awards_enqueue(tournament_id=tournament_id, coalesce=False)

    stale, owed = [], []
    if projection_enabled():
        stale = list(BoardState.objects.filter(projection_stale=True).values_list("tournament_id", flat=True))
        for tournament_id in stale:
            projection_rebuild_enqueue(tournament_id=tournament_id)
        owed = _owing_tournaments(exclude=set(stale))
        for tournament_id in owed:
            score_projection_flush_enqueue(tournament_id=tournament_id)
    if stuck or questions or awards or stale or owed:
        logger.warning(
            "sweeper re-sent %s settlements, %s question settlements, the awards of %s tournaments, %s rebuilds, "
            "%s owed projections",
            len(stuck), len(questions), len(awards), len(stale), len(owed),
        )  # fmt: skip
    return {"settlements": stuck, "questions": questions, "awards": awards, "rebuilds": stale, "owed": owed}


def _owing_tournaments(*, exclude: set[int]) -> list[int]:
    """Tournaments whose boards still owe score-award totals (a flush message lost, or never sent eagerly)."""
    tournament_ids = [t for t in BoardState.objects.values_list("tournament_id", flat=True) if t not in exclude]
    if not tournament_ids:
        return []
    try:
        pipe = redis_client().pipeline(transaction=False)
        for tournament_id in tournament_ids:
            pipe.scard(owed_key(tournament_id))
        counts = pipe.execute()
    except RedisError as exc:
        logger.warning("could not read the owed projections: %s", exc)
        return []
    return [tournament_id for tournament_id, count in zip(tournament_ids, counts) if count]
