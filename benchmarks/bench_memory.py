"""Resident memory of one worker under a long soak (issue 13's memory target).

Usage:

    .venv/bin/python benchmarks/bench_memory.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--minutes 8] [--requests 1000000] [--connections 32]

Starts ``survey-service serve`` (one worker, access log off, 127.0.0.1 a trusted proxy) on
a throwaway database and drives it with wrk and ``wrk/memory.lua``: form pages in two
languages and JSON forms from ever new client addresses, so the bounded caches and the
rate-limit counters see far more keys than they keep. Prints the requests served and the
worker's resident memory after every minute, for ``--minutes`` and until ``--requests``
were served; flat memory is the target (within 5% of the first minute's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from _common import throwaway_database
from bench_http import free_port, rss_mb, start_service, stop, wrk


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--minutes", type=int, default=8, help="at least this long")
    parser.add_argument("--requests", type=int, default=1_000_000, help="and at least this many")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-memory"))
    async with throwaway_database(args.dsn) as dsn:
        port = free_port()
        service = start_service(
            dsn,
            port,
            logs,
            SURVEY_TRUSTED_PROXIES="127.0.0.1",
            SURVEY_SUBMIT_LIMIT_PER_IP="100000000",
        )
        try:
            served, minute, sizes = 0, 0, []
            print(f"start: {rss_mb(service)} MB")
            while minute < args.minutes or served < args.requests:
                minute += 1
                result = wrk(f"http://127.0.0.1:{port}/", "memory", 60, args.connections, service)
                served += result["completed"]
                sizes.append(max(rss_mb(service)))
                print(
                    f"minute {minute}: {served:,} requests, {result['failed']} failed,"
                    f" {sizes[-1]} MB",
                    flush=True,
                )
            # Flat: what the first minute's working set grew by afterwards (caches and
            # buffers are filled in the first minute; a leak keeps growing).
            growth = (sizes[-1] - sizes[0]) / sizes[0]
            print(
                f"resident memory after {served:,} requests: {sizes[-1]} MB,"
                f" {growth:+.1%} since minute 1 (target flat, within 5%:"
                f" {'met' if growth <= 0.05 else 'NOT met'})"
            )
        finally:
            stop(service)


if __name__ == "__main__":
    asyncio.run(main())
