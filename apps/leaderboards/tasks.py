"""Celery tasks of the `settlement` queue: each takes ids, calls one service, and owns its retries.

Messages are acknowledged late and requeued when the worker dies, so a killed
worker's settlement is delivered again and resumes at its progress cursor.
Database and Redis errors retry with exponential backoff; after the last retry
the request is parked as failed (a dead letter with its error, retried from the
admin), never dropped.
"""

import logging

import redis
from celery.signals import worker_init, worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.leaderboards import metrics
from apps.leaderboards.services.settlement_locks import TournamentBusy
# The project's app, not shared_task: the tasks must carry its configuration (eager
# mode in the embedded default) even when imported before anything else loads it.
from scoreboard.celery import app

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError, redis.RedisError, OSError, TournamentBusy)


def _backoff(retries: int) -> int:
    base = getattr(settings, "SETTLEMENT_RETRY_BACKOFF_SECONDS", 2)
    return min(base * (2**retries), getattr(settings, "SETTLEMENT_RETRY_BACKOFF_MAX_SECONDS", 300))


def _max_retries() -> int:
    return int(getattr(settings, "SETTLEMENT_MAX_RETRIES", 6))


@app.task(
    bind=True,
    name="apps.leaderboards.tasks.settlement_run",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # counted against SETTLEMENT_MAX_RETRIES below, read at run time
)
def settlement_run(self, request_id: int) -> str:
    from apps.leaderboards.services.settlement import ClaimLost, settlement_request_fail, settlement_request_note_error
    from apps.leaderboards.services.settlement import settlement_run as run

    retries = self.request.retries or 0
    while True:
        try:
            report = run(request_id=request_id, worker=self.request.id)
        except ClaimLost as exc:
            # Someone else runs it now; their run finishes it.
            logger.info("%s", exc)
            metrics.settlement_outcomes.labels(outcome="noop").inc()
            return "noop"
        except RETRYABLE as exc:
            error = f"{type(exc).__name__}: {exc}"
            if retries >= _max_retries():
                logger.error("settlement request %s failed after %s retries: %s", request_id, retries, error)
                _park(settlement_request_fail, request_id, error)
                metrics.settlement_outcomes.labels(outcome="failed").inc()
                return "failed"
            logger.warning("settlement request %s will retry (%s): %s", request_id, retries + 1, error)
            _park(settlement_request_note_error, request_id, error)
            metrics.settlement_outcomes.labels(outcome="retry").inc()
            if self.request.is_eager:
                # No broker to come back through (the embedded default): retry here.
                retries += 1
                continue
            raise self.retry(exc=exc, countdown=_backoff(retries), max_retries=_max_retries())
        except Exception as exc:
            # Not a passing failure (a bug, bad data): park it at once with the trace in the log.
            logger.exception("settlement request %s failed", request_id)
            _park(settlement_request_fail, request_id, f"{type(exc).__name__}: {exc}")
            metrics.settlement_outcomes.labels(outcome="failed").inc()
            return "failed"
        metrics.settlement_outcomes.labels(outcome="success" if report.outcome == "done" else "noop").inc()
        return report.outcome


def _park(function, request_id: int, error: str) -> None:
    try:
        function(request_id=request_id, error=error)
    except Exception as exc:  # the database itself may be away; the sweeper finds the request later
        logger.error("could not record the error of settlement request %s: %s", request_id, exc)


@app.task(
    bind=True,
    name="apps.leaderboards.tasks.projection_rebuild",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def projection_rebuild(self, tournament_id: int) -> dict:
    from apps.leaderboards.services import projection

    if not projection.projection_enabled():
        return {}
    try:
        projection.redis_client().delete(f"lb:{{t:{tournament_id}}}:rebuild-queued")
        return projection.projection_rebuild(tournament_id=tournament_id)
    except RETRYABLE as exc:
        # Redis (or the database) is away: keep trying until it is back; the
        # tournament stays marked stale, so the sweeper asks again meanwhile.
        retries = self.request.retries or 0
        logger.warning("rebuild of tournament %s will retry: %s", tournament_id, exc)
        if self.request.is_eager:
            return {}
        raise self.retry(exc=exc, countdown=_backoff(retries), max_retries=_max_retries())


@app.task(
    bind=True,
    name="apps.leaderboards.tasks.score_action_apply",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def score_action_apply(self, award_id: int) -> str:
    from apps.leaderboards.services.actions import score_award_apply

    try:
        return score_award_apply(award_id=award_id)
    except RETRYABLE as exc:
        retries = self.request.retries or 0
        if retries >= _max_retries():
            # The award stays pending: the sweeper sends it again later.
            logger.error("score award %s not applied after %s retries: %s", award_id, retries, exc)
            return "pending"
        if self.request.is_eager:
            return "pending"
        raise self.retry(exc=exc, countdown=_backoff(retries), max_retries=_max_retries())


@app.task(name="apps.leaderboards.tasks.settlement_sweep")
def settlement_sweep() -> dict:
    from apps.leaderboards.services.settlement_sweeper import settlement_sweep as sweep

    return sweep()


@worker_process_init.connect
def _worker_process_init(**kwargs) -> None:
    """Each worker child starts with Redis connections of its own, never its parent's."""
    from apps.leaderboards.services.projection import projection_clients_reset

    projection_clients_reset()
