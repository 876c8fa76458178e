"""Ingestion's services: `executions` runs and records a provider run, `feeds` applies what it read.

The names other apps, commands, the admin and the API call are re-exported
here, so callers depend on this package, not on how it is split.
"""

from apps.ingestion.services.executions import (
    execution_cancel,
    execution_create,
    execution_retry,
    execution_run,
    ingestion_enqueue,
    ingestion_poll,
    ingestion_run,
)
from apps.ingestion.services.feeds import feed_apply

__all__ = [
    "execution_cancel",
    "execution_create",
    "execution_retry",
    "execution_run",
    "feed_apply",
    "ingestion_enqueue",
    "ingestion_poll",
    "ingestion_run",
]
