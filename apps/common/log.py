"""Log records that name their request, job and execution; plain text or one JSON object per line.

`LOG_FORMAT=json` (the production default) writes JSON with `time`, `level`,
`logger`, `message` and, where known, `request_id`, `job_id`, `execution_id`;
`plain` (local, `make run`) writes the same fields as text. The settings'
LOGGING names these classes by dotted path, so `config` imports no app.
"""

import logging

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from apps.common import request_id

_CONTEXT_FIELDS = ("request_id", "job_id", "execution_id")


class RequestContextFilter(logging.Filter):
    """Copies the ids of the current request, job and execution onto every record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in request_id.context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line; the ids appear only when known, so lines stay short."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        for name in _CONTEXT_FIELDS:
            if log_record.get(name) is None:
                log_record.pop(name, None)


class PlainFormatter(logging.Formatter):
    """`time level logger message [request_id=.. job_id=.. execution_id=..]`: the known ids only."""

    def __init__(self, *args, **kwargs):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS if getattr(record, name, None) is not None
        )
        if not ids:
            return text
        # Keep the ids on the first line, before any traceback.
        first, sep, rest = text.partition("\n")
        return f"{first} [{ids}]{sep}{rest}"
