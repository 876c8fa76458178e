"""The request id: one id per HTTP request, carried into the Celery jobs it causes and into every log line.

The id lives in a context variable, so it is right per thread under WSGI and
per task under ASGI (asgiref copies the context into the threads that run
synchronous views). Celery carries it in a message header: publishing copies
the current id into the job's headers (`task_publish_add_request_id`), and the
worker sets it around the job (`task_prerun_bind` / `task_postrun_unbind`), so
a job published from that job carries it on again.

`current()` is the id to record on rows a request or job writes.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

HEADER = "X-Request-ID"
# The Celery message header; not `request_id`, which the settlement job already uses as a keyword argument.
CELERY_HEADER = "x_request_id"
MAX_LENGTH = 64
# Safe to copy into log lines, headers and database rows as they are: no spaces, quotes or line breaks.
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_LENGTH)

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_job_id: ContextVar[str | None] = ContextVar("job_id", default=None)
_execution_id: ContextVar[int | None] = ContextVar("execution_id", default=None)

_VARIABLES = {"request_id": _request_id, "job_id": _job_id, "execution_id": _execution_id}


def current() -> str | None:
    """The id of the request (or of the request behind the job) this code runs for, or None outside any."""
    return _request_id.get()


def accept_or_new(candidate: str | None) -> str:
    """The caller's id when it is 1..64 safe characters ([A-Za-z0-9._-]), else a fresh one."""
    if candidate and _SAFE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def context() -> dict:
    """The ids known here, for log records: `request_id`, `job_id`, `execution_id` (None when unknown)."""
    return {name: variable.get() for name, variable in _VARIABLES.items()}


def bind(**values) -> dict[str, Token]:
    """Set some of `request_id`, `job_id`, `execution_id`; returns the tokens `unbind` takes to restore them."""
    return {name: _VARIABLES[name].set(value) for name, value in values.items()}


def unbind(tokens: dict[str, Token]) -> None:
    for name, token in tokens.items():
        try:
            _VARIABLES[name].reset(token)
        except ValueError:
            # A token from another context (a pool that runs postrun elsewhere): clear instead.
            _VARIABLES[name].set(None)


@contextmanager
def bound(**values) -> Iterator[None]:
    """`bind` for the length of a block."""
    tokens = bind(**values)
    try:
        yield
    finally:
        unbind(tokens)


# --- Celery signal receivers (connected in scoreboard/celery.py) ----------------

# Tokens of the job running in this worker thread, by task id, so postrun restores what prerun replaced.
_job_tokens: dict[str, dict[str, Token]] = {}


def task_publish_add_request_id(headers: dict | None = None, **kwargs) -> None:
    """before_task_publish: the job carries the id of the request (or job) that publishes it."""
    request_id = current()
    if request_id and headers is not None:
        headers.setdefault(CELERY_HEADER, request_id)


def task_prerun_bind(task_id: str | None = None, task=None, **kwargs) -> None:
    """task_prerun: the job's log lines and the rows it writes know its request id and its own id."""
    values = {"job_id": task_id}
    carried = getattr(task.request, CELERY_HEADER, None) if task is not None else None
    if carried:
        values["request_id"] = accept_or_new(carried)
    elif not (task is not None and task.request.is_eager):
        # On a worker a job without the header belongs to no request (beat, a sweep); an eager job
        # runs inside the request that called it and keeps its id.
        values["request_id"] = None
    if task_id:
        _job_tokens[task_id] = bind(**values)


def task_postrun_unbind(task_id: str | None = None, **kwargs) -> None:
    tokens = _job_tokens.pop(task_id, None) if task_id else None
    if tokens:
        unbind(tokens)
