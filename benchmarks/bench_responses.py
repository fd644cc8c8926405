"""Response ingestion: the full HTTP path against a raw asyncpg INSERT loop, same run.

Usage (a throwaway database is created and dropped):

    .venv/bin/python benchmarks/bench_responses.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--n 2000] [--concurrency 1 20]

Without --dsn (or DATABASE_URL) the embedded server is used. Prints responses per second
for: raw asyncpg INSERT ... ON CONFLICT DO NOTHING (baseline), and POST
/api/v1/surveys/{slug}/responses through the app in-process (token check, validation,
Piccolo insert), at each concurrency, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
import uuid

import asyncpg
import httpx
from _common import ROOT, throwaway_database

from survey_service.app import create_app
from survey_service.settings import Settings

ANSWERS = {"satisfaction": 4, "understood": 5, "cared": True, "emotional": 4, "comment": "Kind"}


async def raw_inserts(dsn: str, n: int, concurrency: int, ids: tuple[int, int]) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    sql = (
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, variant, channel,"
        " language, metadata, answers, csat, empathy_understood, empathy_cared,"
        " empathy_emotional, comment) VALUES ($1, $2, $3, NULL, 'api', 'en', '{}', $4, 4, 5,"
        " true, 4, 'Kind') ON CONFLICT DO NOTHING RETURNING id"
    )
    queue = list(range(n))

    async def worker() -> None:
        async with pool.acquire() as connection:
            while queue:
                queue.pop()
                await connection.fetchval(sql, ids[0], ids[1], uuid.uuid4(), '{"a": 1}')

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await pool.close()
    return n / elapsed


async def http_posts(client: httpx.AsyncClient, n: int, concurrency: int) -> float:
    tokens = []
    for _ in range(n):
        served = (await client.get("/api/v1/surveys/empathy-csat")).json()
        tokens.append(served["token"])

    async def worker() -> None:
        while tokens:
            token = tokens.pop()
            response = await client.post(
                "/api/v1/surveys/empathy-csat/responses",
                json={"token": token, "answers": ANSWERS},
            )
            assert response.status_code == 201, response.text

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    async with throwaway_database(args.dsn) as dsn:
        settings = Settings(
            database_url=dsn,
            forms_dir=str(ROOT / "forms"),
            secret_key="b" * 40,
            db_pool_max=20,
            data_dir=tempfile.mkdtemp(),
            # One client address sends everything: the abuse limits would stop it.
            submit_limit_per_ip=10**9,
            submit_limit_per_survey=10**9,
        )
        app = create_app(settings)
        async with app.lifespan():
            # The client's own per-request log lines are not the service's cost.
            logging.getLogger("httpx").setLevel(logging.WARNING)
            info = app.state.surveys.survey("empathy-csat")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                print(f"responses per second, n={args.n}, median of {args.repeat} runs")
                print(f"{'concurrency':>11} {'raw asyncpg':>12} {'HTTP POST':>10} {'ratio':>6}")
                for concurrency in args.concurrency:
                    raw = statistics.median(
                        [
                            await raw_inserts(
                                dsn, args.n, concurrency, (info.survey_id, info.version_id)
                            )
                            for _ in range(args.repeat)
                        ]
                    )
                    full = statistics.median(
                        [await http_posts(client, args.n, concurrency) for _ in range(args.repeat)]
                    )
                    print(f"{concurrency:>11} {raw:>12.0f} {full:>10.0f} {full / raw:>6.2f}")


if __name__ == "__main__":
    asyncio.run(main())
