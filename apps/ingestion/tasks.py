"""Ingestion jobs, routed to the `ingestion` queue (CELERY_TASK_ROUTES).

Tasks take ids and call one service. A provider failure is not a task failure:
it ends its Execution as failed (with the reason in its report) and an
operator retries it from the admin. Only infrastructure errors (the database
going away mid-claim) make the task itself retry.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.ingestion.services import execution_run, ingestion_poll


@shared_task(
    name="apps.ingestion.tasks.ingestion_execute",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def ingestion_execute(execution_id: int) -> str:
    return execution_run(execution_id=execution_id).status


@shared_task(name="apps.ingestion.tasks.ingestion_poll_live")
def ingestion_poll_live() -> list[int]:
    """Beat, every minute: results of tournaments with a match in play or about to kick off."""
    return ingestion_poll(operation="results", live_only=True)


@shared_task(name="apps.ingestion.tasks.ingestion_poll_fixtures")
def ingestion_poll_fixtures() -> list[int]:
    """Beat, a few times a day: fixtures (new matches, moved kickoffs) of tournaments not finished."""
    return ingestion_poll(operation="fixtures", live_only=False)
