"""Logging: one JSON object per line (or plain text), each carrying the request id of the
request it was written for.

The request id lives in a context variable, so any logger anywhere below a request's
handler (a query that failed, the sender's warning) picks it up without being passed it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.config
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "configure", "logging_config"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
"""The id of the request being handled in this context (None outside requests)."""

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...}``: extra fields given
    with ``extra=`` are kept; a traceback goes in ``error``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{line} [{request_id}]" if request_id else line


def logging_config(level: str, style: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and its HTTP server's loggers."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if style == "json"
        else {"()": _TextFormatter, "format": "%(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    loggers = {
        name: {"handlers": ["main"], "level": level, "propagate": False}
        for name in ("survey_service", "_granian", "granian.access")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": loggers,
        "root": {"handlers": ["main"], "level": "WARNING"},
    }


def configure(level: str, style: str) -> None:
    """Apply :func:`logging_config`."""
    logging.config.dictConfig(logging_config(level, style))
