"""Celery task of the projection: rebuild a tournament's Redis sets (queue `settlement`)."""

import logging

from celery.signals import worker_process_init

from apps.common.retry import RETRIED_TASK_OPTIONS, RetryPolicy, TRANSIENT_ERRORS
from apps.leaderboards.boards.keys import rebuild_queued_key
from apps.leaderboards.boards.locks import TournamentBusy
from apps.leaderboards.boards.projection_read import projection_clients_reset, projection_enabled, redis_client
from apps.leaderboards.boards.projection_write import projection_rebuild as rebuild

# The project's app, not shared_task: the tasks must carry its configuration (eager
# mode in the embedded default) even when imported before anything else loads it.
from scoreboard.celery import app

logger = logging.getLogger(__name__)

# The policy of every job on the settlement queue (settlement, score awards,
# rebuilds): a busy tournament lock is as passing as a database restart.
SETTLEMENT_RETRY = RetryPolicy(
    max_retries_setting="SETTLEMENT_MAX_RETRIES",
    max_retries_default=6,
    backoff_setting="SETTLEMENT_RETRY_BACKOFF_SECONDS",
    backoff_default=2,
    transient=TRANSIENT_ERRORS + (TournamentBusy,),
)


@app.task(name="apps.leaderboards.tasks.projection_rebuild", **RETRIED_TASK_OPTIONS)
def projection_rebuild(self, tournament_id: int) -> dict:
    if not projection_enabled():
        return {}
    policy = SETTLEMENT_RETRY
    try:
        redis_client().delete(rebuild_queued_key(tournament_id))
        return rebuild(tournament_id=tournament_id)
    except policy.transient as exc:
        # Redis (or the database) is away: keep trying until it is back; the
        # tournament stays marked stale, so the sweeper asks again meanwhile.
        logger.warning("rebuild of tournament %s will retry: %s", tournament_id, exc)
        if self.request.is_eager:
            return {}
        raise policy.retry(self, exc)


@worker_process_init.connect
def _worker_process_init(**kwargs) -> None:
    """Each worker child starts with Redis connections of its own, never its parent's."""
    projection_clients_reset()
