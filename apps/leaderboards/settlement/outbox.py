"""The settlement outbox: result changes ask for a settlement in their own transaction."""

import logging

from django.conf import settings
from django.db import transaction

from apps.common.request_id import current as current_request_id
from apps.leaderboards.boards.keys import awards_queued_key, owed_flush_queued_key
from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client
from apps.leaderboards.models import QuestionSettlementRequest, SettlementRequest
from apps.matches.models import BonusQuestion, Match
from apps.matches.services import match_settlement_kind_note

logger = logging.getLogger(__name__)


def settlement_key(*, match_id: int, result_version: int) -> str:
    return f"settlement:{match_id}:{result_version}"


def settlement_request_write(*, match: Match, kind: str = SettlementRequest.Kind.SETTLE) -> SettlementRequest:
    """Record that `match` at its current result_version must be settled (or reversed).

    Call inside the transaction that changed the match: the row commits or rolls
    back with the change. Writing the same (match, result_version) twice returns
    the first row. The job is enqueued only after commit; the sweeper re-enqueues
    rows whose message was lost.
    """
    request, created = SettlementRequest.objects.get_or_create(
        idempotency_key=settlement_key(match_id=match.pk, result_version=match.result_version),
        defaults={
            "match": match,
            "result_version": match.result_version,
            "kind": kind,
            "request_id": current_request_id() or "",
        },
    )
    if created:
        match_settlement_kind_note(match=match, kind=kind)
        transaction.on_commit(lambda: settlement_request_enqueue(request_id=request.pk))
    return request


def question_settlement_key(*, question_id: int, answer_version: int) -> str:
    return f"question:{question_id}:{answer_version}"


def question_request_write(*, question: BonusQuestion) -> QuestionSettlementRequest:
    """Record that `question` at its current answer_version must be settled (or un-settled).

    Call inside the transaction that changed the correct answer; the same
    (question, version) twice returns the first row. Enqueued after commit.
    """
    request, created = QuestionSettlementRequest.objects.get_or_create(
        idempotency_key=question_settlement_key(question_id=question.pk, answer_version=question.answer_version),
        defaults={
            "question": question,
            "answer_version": question.answer_version,
            "request_id": current_request_id() or "",
        },
    )
    if created:
        transaction.on_commit(lambda: question_request_enqueue(request_id=request.pk))
    return request


def question_request_enqueue(*, request_id: int) -> None:
    """Send a question's settlement job (see `settlement_request_enqueue`)."""
    _send("question_settlement_run", what=f"question settlement request {request_id}", request_id=request_id)


def _send(task_name: str, *, what: str, countdown: float | None = None, eager_raises: bool = True, **kwargs) -> None:
    """Send a job of the settlement queue. A broker that does not answer loses nothing: what the job
    would do stays pending in the database and the sweeper sends it again, so the failure is logged,
    not raised; in the embedded default (eager Celery) the job runs here, and its error is the caller's.
    """
    # Imported here, not at the top: the tasks call the services that call this
    # module (the Celery task <-> service pair the project allows).
    from apps.leaderboards.settlement import tasks

    try:
        getattr(tasks, task_name).apply_async(kwargs=kwargs, queue="settlement", countdown=countdown)
    except Exception as exc:
        if eager_raises and getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            raise
        logger.error("could not enqueue %s (the sweeper will): %s", what, exc)


def settlement_request_enqueue(*, request_id: int) -> None:
    """Send the settlement job; in the embedded default (eager Celery) it runs here and now.

    A broker that does not answer loses nothing: the request stays pending and
    the sweeper sends it again.
    """
    _send("settlement_run", what=f"settlement request {request_id}", request_id=request_id)


def score_awards_enqueue(*, tournament_id: int, coalesce: bool = True) -> None:
    """Send the job that applies the tournament's pending score awards in batches.

    Intake calls this after every accepted award. With `coalesce`, a Redis flag
    (set here, cleared by the job before its first claim) sends one job for
    the many awards that arrive while one is queued: an award committed before
    the job clears the flag is claimed by that job, one committed after sets
    the flag again and sends the next. Without Redis, or when it fails, the
    job is sent anyway; a lost message is sent again by the sweeper.
    """
    if coalesce and not _first_to_queue(awards_queued_key(tournament_id), seconds=AWARDS_QUEUED_SECONDS):
        return
    _send("score_actions_apply", what=f"the score awards of tournament {tournament_id}", tournament_id=tournament_id)


def score_awards_queued_clear(*, tournament_id: int) -> None:
    """The applying job starts: awards committed from now on must send another one."""
    _forget(awards_queued_key(tournament_id))


def score_projection_flush_enqueue(*, tournament_id: int) -> None:
    """Send, in a second, the job that writes owed totals once the tournament lock is free (one queued at a time)."""
    if not _first_to_queue(owed_flush_queued_key(tournament_id), seconds=OWED_FLUSH_QUEUED_SECONDS):
        return
    _send(
        "score_projection_flush",
        what=f"the projection flush of tournament {tournament_id}",
        countdown=1,
        eager_raises=False,
        tournament_id=tournament_id,
    )


def score_projection_flush_queued_clear(*, tournament_id: int) -> None:
    _forget(owed_flush_queued_key(tournament_id))


# A flag outlives a lost message by this long at most; then the next award
# (or the sweeper) sends a job again.
AWARDS_QUEUED_SECONDS = 60
OWED_FLUSH_QUEUED_SECONDS = 30


def _first_to_queue(key: str, *, seconds: int) -> bool:
    """Set `key` unless present; True when this caller set it (and so sends the job) or Redis cannot say."""
    if not projection_enabled():
        return True
    try:
        return bool(redis_client().set(key, 1, nx=True, ex=seconds))
    except RedisError as exc:
        logger.warning("could not check %s, sending the job anyway: %s", key, exc)
        return True


def _forget(key: str) -> None:
    if not projection_enabled():
        return
    try:
        redis_client().delete(key)
    except RedisError as exc:
        # The flag expires by itself; until then the sweeper covers what it hides.
        logger.warning("could not clear %s: %s", key, exc)
