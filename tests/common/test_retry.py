"""The retry policy of Celery tasks: backoff doubling to a cap, bounded retries, only transient errors."""

import pytest
import redis
from django.db import OperationalError

from apps.common.retry import TRANSIENT_ERRORS, RetryPolicy
from apps.ingestion import tasks as ingestion_tasks

POLICY = RetryPolicy(
    max_retries_setting="EXAMPLE_MAX_RETRIES",
    max_retries_default=4,
    backoff_setting="EXAMPLE_RETRY_BACKOFF_SECONDS",
    backoff_default=2.0,
)


def test_the_delay_doubles_from_the_first_and_stops_at_the_cap(settings):
    settings.TASK_RETRY_BACKOFF_MAX_SECONDS = 20

    assert [POLICY.countdown(n) for n in range(6)] == [2, 4, 8, 16, 20, 20]


def test_a_task_retried_thousands_of_times_waits_the_cap_instead_of_overflowing(settings):
    settings.TASK_RETRY_BACKOFF_MAX_SECONDS = 300

    assert POLICY.countdown(5000) == 300


def test_settings_are_read_when_the_task_runs_not_at_import(settings):
    settings.EXAMPLE_RETRY_BACKOFF_SECONDS = 0.5
    settings.EXAMPLE_MAX_RETRIES = 1

    assert POLICY.countdown(1) == 1.0
    assert POLICY.max_retries() == 1
    assert not POLICY.exhausted(0)
    assert POLICY.exhausted(1)


def test_without_settings_the_policy_uses_its_defaults():
    assert POLICY.max_retries() == 4
    assert POLICY.exhausted(4) and not POLICY.exhausted(3)
    assert POLICY.countdown(0) == 2.0


def test_database_redis_and_socket_errors_are_transient_and_bugs_are_not():
    for error in (OperationalError("gone"), redis.ConnectionError("gone"), ConnectionResetError()):
        assert isinstance(error, TRANSIENT_ERRORS)
    assert not isinstance(ValueError("a bug"), TRANSIENT_ERRORS)


@pytest.fixture
def as_on_a_worker(monkeypatch):
    """Eager runs that end in the task's state, as on a worker: each retry is delivered again until one answers.

    The suite's eager mode propagates errors, which would hand the first
    Retry to the caller instead of running the retry.
    """
    monkeypatch.setitem(ingestion_tasks.ingestion_execute.app.conf, "task_eager_propagates", False)


def _run_job():
    return ingestion_tasks.ingestion_execute.apply(kwargs={"execution_id": 1})


class _Flaky:
    """Stands in for the service: fails `failures` times with `error`, then answers."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, *, execution_id: int):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return type("Execution", (), {"status": "completed"})()


def test_an_ingestion_job_whose_database_went_away_is_retried_until_it_runs(as_on_a_worker, monkeypatch, settings):
    settings.INGESTION_TASK_MAX_RETRIES = 3
    flaky = _Flaky(failures=2, error=OperationalError("server closed the connection unexpectedly"))
    monkeypatch.setattr(ingestion_tasks, "execution_run", flaky)

    result = _run_job()

    assert result.successful() and result.result == "completed"
    assert flaky.calls == 3


def test_an_ingestion_job_gives_up_after_its_retries_with_the_original_error(as_on_a_worker, monkeypatch, settings):
    settings.INGESTION_TASK_MAX_RETRIES = 2
    flaky = _Flaky(failures=10, error=OperationalError("server closed the connection unexpectedly"))
    monkeypatch.setattr(ingestion_tasks, "execution_run", flaky)

    result = _run_job()

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert flaky.calls == 3  # the first run and two retries


def test_an_ingestion_job_failing_on_a_bug_is_not_retried(as_on_a_worker, monkeypatch):
    flaky = _Flaky(failures=10, error=KeyError("a bug"))
    monkeypatch.setattr(ingestion_tasks, "execution_run", flaky)

    result = _run_job()

    assert result.failed()
    assert isinstance(result.result, KeyError)
    assert flaky.calls == 1
