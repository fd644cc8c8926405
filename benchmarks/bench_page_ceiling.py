"""Where the form page's time goes under the server: the page against a bare ASGI app
answering the same bytes and headers, with and without the page's own Python cost.

Usage:

    .venv/bin/python benchmarks/bench_page_ceiling.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--seconds 10] [--connections 32]

Measures, on a throwaway database, the in-process cost of a first visit's page (the
service's ASGI app called in a loop: the fast lane, the token, the CSRF token, the
assignment put in the recorder's buffer; median of five rounds of 5,000) and records one
answer. Then, one after the other under Granian with one worker, driven by wrk
(``wrk/page.lua``) from its own process: the bare Litestar hello-world (issue 13's
baseline), ``ceiling_app.py`` answering the recorded page at once, the same after a busy
loop as long as the page's in-process cost, and ``survey-service serve``. The gap between
the last two is what the page costs beyond its own Python: recording the assignment in
PostgreSQL (which shares the two cores), the periodic jobs, and running more code between
the server's hand-overs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, throwaway_database
from bench_http import (
    BIN,
    HELLO_SERVERS,
    cpu_line,
    free_port,
    line,
    start,
    start_service,
    stop,
    wrk,
)

from survey_service.app import create_app
from survey_service.settings import Settings

ROUNDS, CALLS = 5, 5000


async def in_process(dsn: str) -> tuple[float, dict[str, Any]]:
    """The median µs per first-visit page in-process, and one recorded answer."""
    settings = Settings(
        database_url=dsn,
        forms_dir=str(ROOT / "forms"),
        secret_key="b" * 40,
        data_dir=tempfile.mkdtemp(),
        access_log=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/s/counter-check",
        "raw_path": b"/s/counter-check",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept-language", b"en")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    rounds = []
    async with app.lifespan():
        for _ in range(ROUNDS + 1):  # the first round warms up
            sent.clear()
            started = time.perf_counter()
            for _ in range(CALLS):
                await app(dict(scope), receive, send)
            rounds.append((time.perf_counter() - started) / CALLS * 1e6)
            await asyncio.sleep(0.5)  # the recorder's flush, outside the timing
    start_message, body = sent[-2], sent[-1]
    assert start_message["status"] == 200, start_message
    recorded = {
        "headers": [(k.decode(), v.decode()) for k, v in start_message["headers"]],
        "body": body["body"].decode(),
    }
    return statistics.median(rounds[1:]), recorded


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    c, seconds = args.connections, args.seconds
    logs = Path(tempfile.mkdtemp(prefix="bench-ceiling"))
    async with throwaway_database(args.dsn) as dsn:
        cost, recorded = await in_process(dsn)
        page_file = logs / "page.json"
        page_file.write_text(json.dumps(recorded))
        print(f"in-process first-visit page: {cost:.1f} µs of Python (median of {ROUNDS})")
        print(f"{os.cpu_count()} CPUs, {c} connections, {seconds} s per run, 1 worker")
        port = free_port()
        hello = start(
            HELLO_SERVERS["granian"](port, 1), {}, f"http://127.0.0.1:{port}/hello", logs / "h"
        )
        try:
            bare = wrk(f"http://127.0.0.1:{port}/hello", "page", seconds, c, hello)
        finally:
            stop(hello)
        line("bare Litestar GET /hello", f"{bare['per_second']:,.0f} req/s", None, None)
        cpu_line(bare)
        for label, burn in (("recorded page, bare ASGI", 0.0), ("  + the page's Python", cost)):
            port = free_port()
            command = [
                str(BIN / "granian"),
                "--interface=asgi",
                f"--port={port}",
                "--workers=1",
                "--log-level=warning",
                "ceiling_app:app",
            ]
            env = {"PAGE_FILE": str(page_file), "BURN_US": str(burn)}
            ceiling = start(command, env, f"http://127.0.0.1:{port}/", logs / "c")
            try:
                result = wrk(
                    f"http://127.0.0.1:{port}/s/counter-check", "page", seconds, c, ceiling
                )
            finally:
                stop(ceiling)
            ratio = result["per_second"] / bare["per_second"]
            line(label, f"{result['per_second']:,.0f} req/s", None, None, f"ratio {ratio:.2f}")
            cpu_line(result)
        port = free_port()
        service = start_service(dsn, port, logs)
        try:
            page = wrk(f"http://127.0.0.1:{port}/s/counter-check", "page", seconds, c, service)
        finally:
            stop(service)
        ratio = page["per_second"] / bare["per_second"]
        line(
            "the service's form page",
            f"{page['per_second']:,.0f} req/s",
            None,
            None,
            f"ratio {ratio:.2f} (target 0.6)",
        )
        cpu_line(page)


if __name__ == "__main__":
    asyncio.run(main())
