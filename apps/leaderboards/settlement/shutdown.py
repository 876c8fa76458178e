"""A stopping worker hands its settlement back instead of holding the shutdown until it ends.

Celery's warm shutdown (the first SIGTERM) waits for running jobs, and a big
settlement can outlast the grace period of a deploy (docker stops a container
10 s after SIGTERM by default). The worker's main process learns of the
shutdown; its pool processes, which run the jobs, do not. So the main process
raises a flag in Redis named after the worker, and the job asks for it after
each committed batch: at most one batch later the request is pending again
with its progress kept, its message back in the queue, and the worker free to
exit. The flag is cleared when a worker of that name starts.
"""

import logging

from apps.leaderboards.boards.projection_read import RedisError, projection_enabled, redis_client

logger = logging.getLogger(__name__)

# Outlives any shutdown; a worker restarting under the same name clears it first.
FLAG_SECONDS = 600


def _flag(worker: str) -> str:
    return f"settlement:stopping:{worker}"


def worker_stop_announce(*, worker: str) -> None:
    """The worker named `worker` is shutting down (called in its main process)."""
    if not projection_enabled() or not worker:
        return
    try:
        redis_client().set(_flag(worker), 1, ex=FLAG_SECONDS)
    except RedisError as exc:
        # Without the flag the job simply runs to its end, as Celery would make it.
        logger.warning("could not announce the shutdown of %s: %s", worker, exc)


def worker_stop_clear(*, worker: str) -> None:
    if not projection_enabled() or not worker:
        return
    try:
        redis_client().delete(_flag(worker))
    except RedisError as exc:
        logger.warning("could not clear the shutdown flag of %s: %s", worker, exc)


def worker_stopping(*, worker: str) -> bool:
    """Whether the worker named `worker` is shutting down (asked by its jobs, once per batch)."""
    if not projection_enabled() or not worker:
        return False
    try:
        return bool(redis_client().exists(_flag(worker)))
    except RedisError:
        return False
