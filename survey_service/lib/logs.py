"""Logging: one JSON object per line (or plain text), each carrying the request id of the
request it was written for.

The request id lives in a context variable, so any logger anywhere below a request's
handler (a query that failed, the sender's warning) picks it up without being passed it.

Lines are formatted where they are logged and written in batches by a thread of their own
(:class:`BufferedStreamHandler`): a write releases the GIL, and on the event loop, which
shares it with the HTTP server's threads, a write per request (the access log) cost a
form page about 100 µs of the loop and 40% of its throughput (``benchmarks/run``'s page
with ``SURVEY_ACCESS_LOG=true``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import logging.config
import os
import threading
from typing import Any, TextIO

import msgspec

__all__ = [
    "REQUEST_ID",
    "BufferedStreamHandler",
    "JsonFormatter",
    "configure",
    "lean_records",
    "logging_config",
]

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
        return msgspec.json.encode(entry, enc_hook=str).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{line} [{request_id}]" if request_id else line


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that formats each record at once, in the caller's context (its
    request id), and writes the lines in one batch every ``interval`` seconds from a
    thread of its own. A warning or worse, or ``capacity`` lines waiting, wakes the
    writer at once; :meth:`flush` (also at exit, by ``logging.shutdown``) writes what
    waits. A forked child drops its parent's waiting lines (the parent writes them) and
    starts its own writer. If the stream stops taking lines (a full pipe), at most
    ``100 * capacity`` wait; later ones are dropped, and counted in a line of their own."""

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.2, capacity: int = 1000
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.capacity = capacity
        self._start()

    def _start(self) -> None:
        self._lines: list[str] = []
        self._dropped = 0
        self._pid = os.getpid()
        self._write_lock = threading.Lock()  # one batch written at a time, in order
        self._lines_lock = threading.Lock()  # held only to append or to take the lines
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` and queue its line."""
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if self._pid != os.getpid():
            self._start()
        with self._lines_lock:
            if len(self._lines) < 100 * self.capacity:
                self._lines.append(line)
            else:
                self._dropped += 1
            waiting = len(self._lines)
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
            self._writer.start()
        if record.levelno >= logging.WARNING or waiting >= self.capacity:
            self._wake.set()

    def _write_loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write the waiting lines now, in one write."""
        if self._pid != os.getpid():  # forked: the parent's lines and locks are not ours
            self._start()
        with self._write_lock:
            with self._lines_lock:  # never held during the write: logging never waits on I/O
                lines, self._lines = self._lines, []
                if self._dropped:
                    lines.append(f"{self._dropped} log lines dropped: the log stream was full\n")
                    self._dropped = 0
            try:
                if lines:
                    self.stream.write("".join(lines))
                if hasattr(self.stream, "flush"):
                    self.stream.flush()
            except (OSError, ValueError):  # gone or closed: the lines cannot be written
                pass


def logging_config(level: str, style: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and its HTTP server's loggers."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if style == "json"
        else {"()": _TextFormatter, "format": "%(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "survey_service.lib.logs.BufferedStreamHandler",
        "formatter": "main",
        "stream": "ext://sys.stderr",
    }
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


def lean_records() -> None:
    """Records without what no line of the service shows: the caller's file and line, the
    thread's and the process's names (the logging HOWTO's "Optimization"). A JSON access
    line took 15.9 µs with them and 13.4 without. Module-wide, so called once per process
    by ``serve`` (its workers inherit it)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
