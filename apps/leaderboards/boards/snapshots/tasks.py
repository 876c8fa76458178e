"""Celery jobs of rank snapshots (queue `settlement`, names under `apps.leaderboards.tasks`).

The beat runs `rank_snapshots_daily` every RANK_SNAPSHOT_BEAT_SECONDS (10
minutes by default): each running tournament whose local day has no daily
snapshot yet gets a job, so a tournament's snapshot lands within one beat of
00:00 in its time zone, whatever the zone. Jobs of the same day are harmless:
the database keeps one daily snapshot per tournament and local date.
"""

import logging
from datetime import date, datetime

from django.utils import timezone

from apps.common.retry import RETRIED_TASK_OPTIONS
from apps.leaderboards.boards.snapshots.record import snapshot_record
from apps.leaderboards.boards.snapshots.selectors import snapshots_due
from apps.leaderboards.boards.tasks import SETTLEMENT_RETRY
from apps.leaderboards.models import RankSnapshot

# The project's app, not shared_task: the tasks must carry its configuration (eager
# mode in the embedded default) even when imported before anything else loads it.
from scoreboard.celery import app

logger = logging.getLogger(__name__)


@app.task(name="apps.leaderboards.tasks.rank_snapshot_record", **RETRIED_TASK_OPTIONS)
def rank_snapshot_record(self, tournament_id: int, trigger: str, local_date: str | None = None) -> dict:
    try:
        snapshot = snapshot_record(
            tournament_id=tournament_id,
            trigger=trigger,
            local_date=date.fromisoformat(local_date) if local_date else None,
        )
    except SETTLEMENT_RETRY.transient as exc:
        # A settlement holds the lock (or the database is away). A daily
        # snapshot given up on is due again at the next beat.
        if self.request.is_eager or SETTLEMENT_RETRY.exhausted(self.request.retries or 0):
            logger.error("rank snapshot of tournament %s not recorded: %s", tournament_id, exc)
            return {"snapshot": None, "error": f"{type(exc).__name__}: {exc}"}
        raise SETTLEMENT_RETRY.retry(self, exc)
    return {"snapshot": snapshot.pk if snapshot else None, "total": snapshot.total if snapshot else None}


@app.task(name="apps.leaderboards.tasks.rank_snapshots_daily")
def rank_snapshots_daily(now: str | None = None) -> list[int]:
    """Send a snapshot job for each running tournament whose local day has none; returns their ids.

    `now` (ISO 8601) stands in for the clock; the beat sends none.
    """
    due = snapshots_due(now=datetime.fromisoformat(now) if now else timezone.now())
    for tournament_id, local_date in due:
        rank_snapshot_record.apply_async(
            kwargs={
                "tournament_id": tournament_id,
                "trigger": RankSnapshot.Trigger.DAILY,
                "local_date": local_date.isoformat(),
            },
            queue="settlement",
        )
    return [tournament_id for tournament_id, _ in due]
