"""One retry policy for Celery tasks: which errors earn another try, how long to wait, how many times.

The contract, for every task that uses a `RetryPolicy`:

- Only `policy.transient` errors are retried: infrastructure that comes back by
  itself (the database restarting or failing over, Redis away, a reset
  connection). A task catches exactly those (`except policy.transient`);
  anything else is a bug or bad data, and retrying it only repeats the failure.
- Retry n (counted from 0, Celery's `request.retries`) is sent again after
  `min(first * 2**n, cap)` seconds: `first` is the setting named
  `backoff_setting`, the cap `TASK_RETRY_BACKOFF_MAX_SECONDS` (default 300),
  so a long outage is probed every five minutes rather than every few hours.
- At most `max_retries()` retries (the setting named `max_retries_setting`).
  After that `exhausted(retries)` is true; a task that must not lose its work
  parks it (a dead letter, or work a sweeper finds again) instead of calling
  `retry`. A task that simply calls `retry` once more gets the original error
  raised by Celery, and the task fails.
- Settings are read when the task runs, not at import, so an operator's change
  (and a test's `settings` fixture) applies to the next retry.
- `retry` is Celery's `Task.retry` with this countdown. Under eager mode (the
  embedded default, no broker) Celery runs the retry inline at once, without
  the countdown; a task that would rather not spin there checks
  `task.request.is_eager` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError

# The errors every task may treat as passing. OSError covers sockets (a broker
# or provider connection reset); redis-py's errors do not derive from it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, redis.RedisError, OSError)

BACKOFF_CAP_SETTING = "TASK_RETRY_BACKOFF_MAX_SECONDS"
BACKOFF_CAP_DEFAULT = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap, a bounded number of retries, and the errors that count as transient.

    `max_retries_setting` and `backoff_setting` name Django settings; the
    defaults apply when a setting is absent. Pass `transient` to add a task's
    own passing errors, e.g. `TRANSIENT_ERRORS + (TournamentBusy,)`.
    """

    max_retries_setting: str
    max_retries_default: int
    backoff_setting: str
    backoff_default: float
    transient: tuple[type[BaseException], ...] = TRANSIENT_ERRORS

    def max_retries(self) -> int:
        return int(getattr(settings, self.max_retries_setting, self.max_retries_default))

    def countdown(self, retries: int) -> float:
        """Seconds to wait before retry number `retries` (0 for the first)."""
        first = float(getattr(settings, self.backoff_setting, self.backoff_default))
        cap = float(getattr(settings, BACKOFF_CAP_SETTING, BACKOFF_CAP_DEFAULT))
        # The exponent is bounded before it is used: 2**retries of a task retried
        # thousands of times is a float overflow, not a long wait.
        return min(first * 2 ** min(retries, 32), cap)

    def exhausted(self, retries: int) -> bool:
        """Whether a task that has been retried `retries` times should stop retrying."""
        return retries >= self.max_retries()

    def retry(self, task, exc: BaseException):
        """Send `task` again after this policy's countdown; raises Celery's `Retry` (write `raise policy.retry(...)`).

        `task` is a bound task (`bind=True`); once it has been retried
        `max_retries()` times Celery raises `exc` instead.
        """
        retries = task.request.retries or 0
        return task.retry(exc=exc, countdown=self.countdown(retries), max_retries=self.max_retries())


# The options of a task that owns its retries (a RetryPolicy counts them at run
# time): the message is acknowledged only once the task ends, and given back
# when its worker dies, so a killed job runs again instead of being lost.
RETRIED_TASK_OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": None}
