"""Logs: JSON lines for production (ITSM_LOG_FORMAT=json, the default), readable text for a
developer's terminal (ITSM_LOG_FORMAT=text); both on stderr, through the standard logging module.

Every line written while a request is served carries that request's correlation id (the
X-Correlation-ID it came with, or the one the service gave it), which events record too: one id
follows a request from its access-log line to the events it caused. The id rides in a context
variable set by the access log (api/access_log.py), so no call has to pass it on.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

#: Fields a record may carry (`extra=`) that a JSON line shows as fields of its own: the access
#: log's, in the order a reader scans them.
#: What an X-Correlation-ID may be: a UUID's 36-character text. The API documents this pattern
#: and refuses anything else (api/deps.py); the access log takes the same ids, no wider reading.
CORRELATION_ID_PATTERN = (
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)

FIELDS = ("actor", "role", "method", "route", "path", "status", "duration_ms")


def current_correlation_id() -> str | None:
    """The correlation id of the request being served in this context, if any."""
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str) -> Iterator[None]:
    """Every log line written inside carries `correlation_id`."""
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)


def correlation_id_of(record: logging.LogRecord) -> str | None:
    """The id the record was given (the access log's line, formatted after the request), else
    the one of the request this line is written in (handlers format as the line is logged)."""
    given: str | None = record.__dict__.get("correlation_id")
    return given if given is not None else _correlation_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, correlation_id when
    in a request, the access log's fields when present, and the exception's traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (correlation_id := correlation_id_of(record)) is not None:
            line["correlation_id"] = correlation_id
        for field in FIELDS:
            if (value := record.__dict__.get(field)) is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message (by actor) [correlation id]`, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if (actor := record.__dict__.get("actor")) is not None:
            text += f" by {actor}"
        if (correlation_id := correlation_id_of(record)) is not None:
            text += f" [{correlation_id}]"
        return text


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


def config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for `log_format` at `level`: also what `itsm serve` gives
    uvicorn, which configures each worker process with it. uvicorn's own access log (plain text,
    without the actor or the correlation id) stays off: api/access_log.py writes one instead."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"itsm": {"()": FORMATTERS[log_format]}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "itsm",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "kafka": {"level": "WARNING"},
        },
    }


def configure(log_format: LogFormat, level: str) -> None:
    """Log to stderr in `log_format` (a command's process, where uvicorn does not do it)."""
    logging.config.dictConfig(config(log_format, level))
