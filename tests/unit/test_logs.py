"""Log lines written in batches by a thread of their own: in order, soon, bounded."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable

import pytest

from survey_service.lib.logs import (
    REQUEST_ID,
    BufferedStreamHandler,
    JsonFormatter,
    TextFormatter,
    direct_handler,
    flush_buffered_logs,
)


class _Stream(io.StringIO):
    """Counts its writes; ``gate`` (when given) holds each write until it is set."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.writes = 0
        self.gate = gate
        self.writing = threading.Event()  # a write has begun

    def write(self, text: str) -> int:
        self.writing.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.writes += 1
        return super().write(text)


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.buffered.{id(handler)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def _until(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def stream() -> _Stream:
    return _Stream()


def test_lines_wait_and_are_written_in_order_in_one_write(stream: _Stream) -> None:
    handler = BufferedStreamHandler(stream, interval=60)  # only flush() writes here
    logger = _logger(handler)
    for n in range(5):
        logger.info("line %d", n)
    assert stream.getvalue() == ""  # nothing written on the caller's thread
    handler.flush()
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(5)]
    assert stream.writes == 1


def test_a_warning_is_written_at_once_and_a_full_batch_wakes_the_writer(
    stream: _Stream,
) -> None:
    handler = BufferedStreamHandler(stream, interval=60, capacity=3)
    logger = _logger(handler)
    logger.info("quiet")
    logger.warning("loud")  # written before the call returns, with what waited before it
    assert stream.getvalue() == "quiet\nloud\n"
    for n in range(3):
        logger.info("batch %d", n)  # the third fills the batch
    assert _until(lambda: stream.getvalue().endswith("batch 2\n"))


def test_the_writer_writes_every_interval(stream: _Stream) -> None:
    logger = _logger(BufferedStreamHandler(stream, interval=0.05))
    logger.info("in a moment")
    assert _until(lambda: stream.getvalue() == "in a moment\n")


def test_a_stuck_stream_keeps_a_bounded_number_of_lines() -> None:
    gate = threading.Event()
    stream = _Stream(gate)
    handler = BufferedStreamHandler(stream, interval=60, capacity=2)  # 200 lines at most
    logger = _logger(handler)
    logger.info("first")
    logger.info("second")  # a full batch: the writer takes both and waits in write()
    assert stream.writing.wait(5)
    for n in range(250):
        logger.info("line %d", n)
    gate.set()
    handler.flush()
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["first", "second"]
    assert lines[2:202] == [f"line {n}" for n in range(200)]
    assert lines[202:] == ["50 log lines dropped: the log stream was full"]


def test_a_shutdown_writes_every_handlers_waiting_lines(stream: _Stream) -> None:
    other = _Stream()
    for target in (stream, other):
        _logger(BufferedStreamHandler(target, interval=60)).info("last words")
    assert stream.getvalue() == other.getvalue() == ""
    flush_buffered_logs()
    assert stream.getvalue() == other.getvalue() == "last words\n"


def test_a_forked_child_writes_only_its_own_lines(stream: _Stream) -> None:
    handler = BufferedStreamHandler(stream, interval=60)
    logger = _logger(handler)
    logger.info("the parent's")  # waiting when the child is forked
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        handler.stream = os.fdopen(write, "w")
        logger.info("the child's")
        handler.flush()
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read() == "the child's\n"
    handler.flush()
    assert stream.getvalue() == "the parent's\n"


@pytest.mark.parametrize("style", ["json", "text"])
def test_a_direct_line_is_the_line_logging_would_write(style: str, stream: _Stream) -> None:
    """The access log's shortcut (no record) writes what ``logging`` writes."""
    handler = BufferedStreamHandler(stream, interval=60)
    handler.setFormatter(JsonFormatter() if style == "json" else TextFormatter())
    logger = _logger(handler)
    token = REQUEST_ID.set("req-direct-1")
    try:
        logger.info("%s", "GET /s/{slug} 200 1.2 ms", extra={"status": 200, "ms": 1.23})
        direct = direct_handler(logger, logging.INFO)
        assert direct is not None
        found, formatter = direct
        assert found is handler
        line = formatter.line(
            time.time(),
            "INFO",
            logger.name,
            "GET /s/{slug} 200 1.2 ms",
            {
                "status": 200,
                "ms": 1.23,
            },
        )
        handler.add_line(line + "\n")
    finally:
        REQUEST_ID.reset(token)
    handler.flush()
    through_logging, straight = stream.getvalue().splitlines()
    if style == "json":
        a, b = json.loads(through_logging), json.loads(straight)
        assert a.pop("time")[:16] == b.pop("time")[:16]  # the same minute
        assert a == b
        assert a["request_id"] == "req-direct-1"
        assert a["status"] == 200
    else:
        assert through_logging == straight
        assert straight.endswith("[req-direct-1]")


def test_no_direct_line_when_something_else_would_see_the_record(stream: _Stream) -> None:
    handler = BufferedStreamHandler(stream, interval=60)
    handler.setFormatter(JsonFormatter())
    logger = _logger(handler)
    assert direct_handler(logger, logging.INFO) is not None
    assert direct_handler(logger, logging.DEBUG) is None  # not enabled
    logger.addFilter(lambda record: True)
    assert direct_handler(logger, logging.INFO) is None
    logger.filters.clear()
    seen = logging.Handler()  # a test's capture, say
    logger.addHandler(seen)
    assert direct_handler(logger, logging.INFO) is None
    logger.removeHandler(seen)
    handler.setFormatter(logging.Formatter())  # another formatter: its own lines
    assert direct_handler(logger, logging.INFO) is None
