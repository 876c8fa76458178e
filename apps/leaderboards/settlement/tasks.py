"""Celery tasks of the `settlement` queue: each takes ids, calls one service, and owns its retries.

Messages are acknowledged late and requeued when the worker dies, so a killed
worker's settlement is delivered again and resumes at its progress cursor.
Passing errors (database, Redis, a busy tournament lock) retry with the
settlement queue's policy; after the last retry the request is parked as
failed (a dead letter with its error, retried from the admin), never dropped.
Task names keep the `apps.leaderboards.tasks` prefix the queues route on.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from celery.signals import worker_ready, worker_shutting_down

from apps.common.retry import RETRIED_TASK_OPTIONS
from apps.leaderboards.boards.tasks import SETTLEMENT_RETRY
from apps.leaderboards.settlement import metrics
from apps.leaderboards.boards.projection_write import projection_owed_count
from apps.leaderboards.settlement.actions import score_award_apply, score_awards_apply
from apps.leaderboards.settlement.actions import score_projection_flush as flush
from apps.leaderboards.settlement.outbox import (
    score_awards_enqueue,
    score_projection_flush_enqueue,
    score_projection_flush_queued_clear,
)
from apps.leaderboards.settlement.operations import (
    question_request_fail,
    question_request_note_error,
    settlement_request_fail,
    settlement_request_note_error,
)
from apps.leaderboards.settlement.outbox import question_request_enqueue, settlement_request_enqueue
from apps.leaderboards.settlement.runner import ClaimLost
from apps.leaderboards.settlement.runner import question_settlement_run as question_run
from apps.leaderboards.settlement.runner import settlement_run as run
from apps.leaderboards.settlement.shutdown import worker_stop_announce, worker_stop_clear, worker_stopping
from apps.leaderboards.settlement.sweeper import settlement_sweep as sweep

# The project's app, not shared_task: the tasks must carry its configuration (eager
# mode in the embedded default) even when imported before anything else loads it.
from scoreboard.celery import app

logger = logging.getLogger(__name__)


@app.task(name="apps.leaderboards.tasks.settlement_run", **RETRIED_TASK_OPTIONS)
def settlement_run(self, request_id: int) -> str:
    return _request_run(self, request_id=request_id, job=MATCH_REQUESTS)


@app.task(name="apps.leaderboards.tasks.question_settlement_run", **RETRIED_TASK_OPTIONS)
def question_settlement_run(self, request_id: int) -> str:
    return _request_run(self, request_id=request_id, job=QUESTION_REQUESTS)


@dataclass(frozen=True)
class _Requests:
    """The services one kind of settlement request's task calls."""

    label: str
    run: Callable
    fail: Callable
    note_error: Callable
    enqueue: Callable


MATCH_REQUESTS = _Requests(
    label="settlement request",
    run=run,
    fail=settlement_request_fail,
    note_error=settlement_request_note_error,
    enqueue=settlement_request_enqueue,
)
QUESTION_REQUESTS = _Requests(
    label="question settlement request",
    run=question_run,
    fail=question_request_fail,
    note_error=question_request_note_error,
    enqueue=question_request_enqueue,
)


def _request_run(task, *, request_id: int, job: _Requests) -> str:
    retries = task.request.retries or 0
    hostname = task.request.hostname
    while True:
        try:
            report = job.run(
                request_id=request_id,
                worker=task.request.id,
                should_stop=None if task.request.is_eager else lambda: worker_stopping(worker=hostname),
            )
        except ClaimLost as exc:
            # Someone else runs it now; their run finishes it.
            logger.info("%s", exc)
            metrics.settlement_outcomes.labels(outcome="noop").inc()
            return "noop"
        except SETTLEMENT_RETRY.transient as exc:
            error = f"{type(exc).__name__}: {exc}"
            if SETTLEMENT_RETRY.exhausted(retries):
                logger.error("%s %s failed after %s retries: %s", job.label, request_id, retries, error)
                _park(job.fail, request_id, error)
                metrics.settlement_outcomes.labels(outcome="failed").inc()
                return "failed"
            logger.warning("%s %s will retry (%s): %s", job.label, request_id, retries + 1, error)
            _park(job.note_error, request_id, error)
            metrics.settlement_outcomes.labels(outcome="retry").inc()
            if task.request.is_eager:
                # No broker to come back through (the embedded default): retry here.
                retries += 1
                continue
            raise SETTLEMENT_RETRY.retry(task, exc)
        except Exception as exc:
            # Not a passing failure (a bug, bad data): park it at once with the trace in the log.
            logger.exception("%s %s failed", job.label, request_id)
            _park(job.fail, request_id, f"{type(exc).__name__}: {exc}")
            metrics.settlement_outcomes.labels(outcome="failed").inc()
            return "failed"
        if report.outcome == "handed_back":
            # Back to the queue at once: another worker (or this one, restarted) resumes at the cursor.
            job.enqueue(request_id=request_id)
            metrics.settlement_outcomes.labels(outcome="handed_back").inc()
            return report.outcome
        metrics.settlement_outcomes.labels(outcome="success" if report.outcome == "done" else "noop").inc()
        return report.outcome


def _retry_or_leave_pending(task, exc: BaseException, what: str) -> str:
    """Retry a passing failure; past the last retry (or with no broker) leave the work pending for the sweeper."""
    retries = task.request.retries or 0
    if SETTLEMENT_RETRY.exhausted(retries) or task.request.is_eager:
        logger.error("%s not applied after %s retries: %s", what, retries, exc)
        return "pending"
    raise SETTLEMENT_RETRY.retry(task, exc)


def _park(function, request_id: int, error: str) -> None:
    try:
        function(request_id=request_id, error=error)
    except Exception as exc:  # the database itself may be away; the sweeper finds the request later
        logger.error("could not record the error of request %s: %s", request_id, exc)


@app.task(name="apps.leaderboards.tasks.score_actions_apply", **RETRIED_TASK_OPTIONS)
def score_actions_apply(self, tournament_id: int) -> dict | str:
    """Apply the tournament's pending awards in batches; a job left with more sends the next one."""
    try:
        report = score_awards_apply(tournament_id=tournament_id)
    except SETTLEMENT_RETRY.transient as exc:
        return _retry_or_leave_pending(self, exc, f"score awards of tournament {tournament_id}")
    if report["more"]:
        score_awards_enqueue(tournament_id=tournament_id, coalesce=False)
    return report


@app.task(name="apps.leaderboards.tasks.score_action_apply", **RETRIED_TASK_OPTIONS)
def score_action_apply(self, award_id: int) -> str:
    """One award's message, as sent before awards went in batches (kept for messages queued across a deploy)."""
    try:
        return score_award_apply(award_id=award_id)
    except SETTLEMENT_RETRY.transient as exc:
        return _retry_or_leave_pending(self, exc, f"score award {award_id}")


@app.task(bind=True, name="apps.leaderboards.tasks.score_projection_flush")
def score_projection_flush(self, tournament_id: int) -> str:
    """Write the owed totals of score awards once the tournament lock is free; tries again a second later."""
    score_projection_flush_queued_clear(tournament_id=tournament_id)
    if flush(tournament_id=tournament_id):
        return "written"
    # Run eagerly (no broker), trying again would run here at once and find the
    # lock as busy: the next award batch or the sweeper writes the totals instead.
    if not self.request.is_eager and projection_owed_count(tournament_id=tournament_id):
        score_projection_flush_enqueue(tournament_id=tournament_id)
    return "busy"


@app.task(name="apps.leaderboards.tasks.settlement_sweep")
def settlement_sweep() -> dict:
    return sweep()


@worker_shutting_down.connect
def _worker_shutting_down(sender=None, **kwargs) -> None:
    """In the worker's main process: ask its running settlements to hand themselves back."""
    worker_stop_announce(worker=str(sender or ""))


@worker_ready.connect
def _worker_ready(sender=None, **kwargs) -> None:
    # A worker restarting under the name of one that stopped must not find its flag.
    worker_stop_clear(worker=getattr(sender, "hostname", "") or "")
