"""Ingestion jobs, routed to the `ingestion` queue (CELERY_TASK_ROUTES).

Tasks take ids and call one service. A provider failure is not a task failure:
it ends its Execution as failed (with the reason in its report) and an
operator retries it from the admin. Only infrastructure errors (the database
going away mid-claim) make the task itself retry, by the policy below.
"""

from celery import shared_task

from apps.common.retry import RetryPolicy
from apps.ingestion.services import execution_run, ingestion_poll

EXECUTE_RETRY = RetryPolicy(
    max_retries_setting="INGESTION_TASK_MAX_RETRIES",
    max_retries_default=5,
    backoff_setting="INGESTION_TASK_RETRY_BACKOFF_SECONDS",
    backoff_default=1.0,
)


@shared_task(bind=True, name="apps.ingestion.tasks.ingestion_execute", max_retries=None)
def ingestion_execute(self, execution_id: int) -> str:
    # The claim is a compare-and-swap on the execution's status, so a retry of
    # a run that did claim it before the error returns it as is, never runs it twice.
    try:
        return execution_run(execution_id=execution_id).status
    except EXECUTE_RETRY.transient as exc:
        raise EXECUTE_RETRY.retry(self, exc) from exc


@shared_task(name="apps.ingestion.tasks.ingestion_poll_live")
def ingestion_poll_live() -> list[int]:
    """Beat, every INGESTION_LIVE_POLL_SECONDS (15 s): results of tournaments with a match in play."""
    return ingestion_poll(operation="results", live_only=True)


@shared_task(name="apps.ingestion.tasks.ingestion_poll_fixtures")
def ingestion_poll_fixtures() -> list[int]:
    """Beat, a few times a day: fixtures (new matches, moved kickoffs) of tournaments not finished."""
    return ingestion_poll(operation="fixtures", live_only=False)
