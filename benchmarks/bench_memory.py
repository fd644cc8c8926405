"""Resident memory of one worker under a long soak (issue 13's memory target).

Usage:

    .venv/bin/python benchmarks/bench_memory.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--minutes 8] [--requests 1000000] [--connections 32]

Starts ``survey-service serve`` (one worker, access log off, 127.0.0.1 a trusted proxy) on
a throwaway database and drives it with wrk and ``wrk/memory.lua``: form pages in two
languages and JSON forms from ever new client addresses, so the bounded caches and the
rate-limit counters see far more keys than they keep (``bench_http.soak``, as
``benchmarks/run --all`` soaks, in runs of a minute here). Reads the worker's resident
memory after every minute, for ``--minutes`` and until ``--requests`` were served, then
prints the readings; flat memory is the target (within 5% of the first minute's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from _common import throwaway_database
from bench_http import Service, free_port, rss_mb, soak, start_service, stop


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
        process = start_service(
            dsn,
            port,
            logs,
            SURVEY_TRUSTED_PROXIES="127.0.0.1",
            SURVEY_SUBMIT_LIMIT_PER_IP="100000000",
        )
        try:
            print(f"start: {rss_mb(process)} MB")
            soak(
                Service(process, f"http://127.0.0.1:{port}"),
                args.requests,
                args.connections,
                chunk=60,
                at_least=args.minutes * 60,
            )
        finally:
            stop(process)


if __name__ == "__main__":
    asyncio.run(main())
