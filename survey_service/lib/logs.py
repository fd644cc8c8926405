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
import weakref
from typing import Any, Protocol, TextIO

import msgspec

__all__ = [
    "REQUEST_ID",
    "BufferedStreamHandler",
    "JsonFormatter",
    "LineFormatter",
    "TextFormatter",
    "configure",
    "direct_handler",
    "flush_buffered_logs",
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
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            extra["error"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), extra)

    def line(
        self, created: float, level: str, name: str, message: str, extra: dict[str, Any]
    ) -> str:
        """The line of a record made of these parts (:func:`direct_handler`'s callers
        write lines without making the record)."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(),
            "level": level,
            "logger": name,
            "message": message,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(extra)
        return msgspec.json.encode(entry, enc_hook=str).decode()


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message [request id]``: for a terminal (``SURVEY_LOG_FORMAT=text``)."""

    FORMAT = "%(levelname)s %(name)s: %(message)s"

    def __init__(self) -> None:
        super().__init__(self.FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return _with_request_id(super().format(record))

    def line(
        self, created: float, level: str, name: str, message: str, extra: dict[str, Any]
    ) -> str:
        """As :meth:`JsonFormatter.line` (the text shows no extra fields)."""
        return _with_request_id(
            self.FORMAT % {"levelname": level, "name": name, "message": message}
        )


def _with_request_id(line: str) -> str:
    request_id = REQUEST_ID.get()
    return f"{line} [{request_id}]" if request_id else line


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that formats each record at once, in the caller's context (its
    request id), and writes the lines in one batch every ``interval`` seconds from a
    thread of its own. A warning or worse is written at once, with what waited before
    it, by the caller (never lost to an exit that skips ``atexit``, as a forked worker's
    ``os._exit``); ``capacity`` lines waiting wake the writer. :meth:`flush` writes what
    waits: at exit by ``logging.shutdown``, and by :func:`flush_buffered_logs` (the
    app's shutdown). A forked child drops its parent's waiting lines (the parent writes
    them) and starts its own writer. If the stream stops taking lines (a full pipe), at
    most ``100 * capacity`` wait; later ones are dropped, and counted in a line of their
    own."""

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.2, capacity: int = 1000
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.capacity = capacity
        self._start()
        _BUFFERED.add(self)

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
        self.add_line(line, urgent=record.levelno >= logging.WARNING)

    def add_line(self, line: str, *, urgent: bool = False) -> None:
        """Queue a formatted line (with its line end); ``urgent``: write it now."""
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
        if urgent:  # rare: a write here costs the caller little, and nothing is lost
            self.flush()
        elif waiting >= self.capacity:
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


_BUFFERED: weakref.WeakSet[BufferedStreamHandler] = weakref.WeakSet()


def flush_buffered_logs() -> None:
    """Write every :class:`BufferedStreamHandler`'s waiting lines now (a worker's
    shutdown: it may end by ``os._exit``, which skips ``logging.shutdown``)."""
    for handler in list(_BUFFERED):
        handler.flush()


def logging_config(level: str, style: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and its HTTP server's loggers."""
    formatter: dict[str, Any] = {"()": JsonFormatter if style == "json" else TextFormatter}
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


class LineFormatter(Protocol):
    """A formatter that makes a line from a record's parts, without the record."""

    def line(
        self, created: float, level: str, name: str, message: str, extra: dict[str, Any]
    ) -> str:
        """The line (without its end) of a record made of these parts."""


def direct_handler(
    logger: logging.Logger, level: int
) -> tuple[BufferedStreamHandler, LineFormatter] | None:
    """The one handler ``logger``'s records of ``level`` reach, and its formatter, when
    both are this module's and nothing filters on the way: a caller may then write its
    lines straight to it (:meth:`BufferedStreamHandler.add_line`, made by the formatter's
    ``line``) instead of making a record each time (the access log). None otherwise: log
    as usual. Looked up per call, so a reconfigured logging (a test's handler) is seen at
    once."""
    if not logger.isEnabledFor(level):
        return None
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        found += current.handlers
        current = current.parent if current.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if not isinstance(handler, BufferedStreamHandler) or handler.filters or handler.level > level:
        return None
    formatter = handler.formatter
    return (handler, formatter) if isinstance(formatter, JsonFormatter | TextFormatter) else None


def lean_records() -> None:
    """Records without what no line of the service shows: the caller's file and line, the
    thread's and the process's names (the logging HOWTO's "Optimization"). A JSON access
    line took 15.9 µs with them and 13.4 without. Module-wide, so called once per process
    by ``serve`` (its workers inherit it)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
