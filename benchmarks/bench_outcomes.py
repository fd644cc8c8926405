"""What-empathy-is-worth and interaction reports at realistic sizes, against baselines in
the same run.

Usage (a throwaway database is created and dropped):

    .venv/bin/python benchmarks/bench_outcomes.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--customers 10000] [--others 200000] [--interactions 20000] [--calls 7]

Loads ``--customers`` empathy-csat responses that name a customer (answered 200 days ago)
among ``--others`` anonymous ones, an outcome event or two per customer, and
``--interactions`` staff-log entries, with COPY. Then times in-process
GET /api/v1/surveys/empathy-csat/outcomes and GET /api/v1/interactions/summary (median and
max), and beside them: the one SQL read the report starts from (responses naming a
customer), the logistic regression alone (lib/regression.py) and statsmodels' Logit on the
same design (the test oracle, NumPy underneath).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from _common import ROOT, throwaway_database

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.lib.references import CustomerKeys
from survey_service.lib.regression import logistic_regression
from survey_service.outcomes.value import CustomerRow, design
from survey_service.responses import queries as response_queries
from survey_service.settings import Settings

SECRET = "k" * 40
RESPONSE_COLUMNS = [
    "survey_id",
    "survey_version_id",
    "token_nonce",
    "channel",
    "language",
    "metadata",
    "answers",
    "csat",
    "empathy_understood",
    "empathy_cared",
    "empathy_emotional",
    "created_at",
]


async def load(
    dsn: str, survey_id: int, version_id: int, args: argparse.Namespace
) -> list[CustomerRow]:
    rng = random.Random(3)
    keys = CustomerKeys(SECRET)
    now = dt.datetime.now(dt.UTC)
    responses, events, rows = [], [], []
    for i in range(args.customers + args.others):
        named = i < args.customers
        u, c, e = rng.randint(1, 5), rng.random() < 0.6, rng.randint(1, 5)
        touchpoint = rng.choice(["counter", "phone", "web"])
        metadata = {"touchpoint": touchpoint, **({"customer_ref": f"C{i}"} if named else {})}
        at = now - dt.timedelta(days=200, seconds=rng.randint(0, 86400))
        responses.append(
            (
                survey_id,
                version_id,
                uuid.uuid4(),
                "link",
                "en",
                json.dumps(metadata),
                "{}",
                4,
                u,
                c,
                e,
                at,
            )
        )
        if not named:
            continue
        bought = rng.random() < 0.2 + 0.1 * u
        revenue = 0.0
        if bought:
            revenue = round(rng.uniform(5, 80), 2)
            events.append(
                (f"p{i}", "purchase", keys(f"C{i}"), at + dt.timedelta(days=20), revenue, "EUR")
            )
        if rng.random() < 0.1:
            events.append(
                (f"r{i}", "referral", keys(f"C{i}"), at + dt.timedelta(days=9), None, None)
            )
        rows.append(
            CustomerRow(
                empathy_index=0.0,
                empathy_understood=float(u),
                empathy_cared=float(c),
                empathy_emotional=float(e),
                touchpoint=touchpoint,
                channel="link",
                bought=bought,
                referrals=0,
                revenue=revenue,
            )
        )
    logged = []
    emotions = ["frustrated", "confused", "anxious", "angry", "sad", "neutral", "happy"]
    for _ in range(args.interactions):
        at = now - dt.timedelta(days=rng.randint(0, 60))
        logged.append(
            (
                at,
                rng.choice(["counter", "phone"]),
                f"agent-{rng.randint(1, 12)}",
                "in_person",
                rng.choice(emotions),
                rng.sample(["listened", "apologised", "explained", "solved"], 2),
                rng.choice(["calmer", "satisfied", "still_upset", "left"]),
                keys(f"C{rng.randint(0, args.customers - 1)}"),
                "bench",
            )
        )
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "response", records=responses, columns=RESPONSE_COLUMNS
        )
        await connection.copy_records_to_table(
            "outcome",
            records=[(*e, "bench") for e in events],
            columns=[
                "event_id",
                "kind",
                "customer_key",
                "occurred_at",
                "amount",
                "currency",
                "recorded_by",
            ],
        )
        await connection.copy_records_to_table(
            "interaction",
            records=logged,
            columns=[
                "occurred_at",
                "touchpoint",
                "agent",
                "channel",
                "emotion",
                "actions",
                "reaction",
                "customer_key",
                "recorded_by",
            ],
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return rows


async def timed(run: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    await run()  # warm
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def seconds_of(work: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - start) * 1000 / calls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=200_000)
    parser.add_argument("--interactions", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=7)
    args = parser.parse_args()
    async with throwaway_database(args.dsn) as dsn:
        settings = Settings(
            database_url=dsn,
            forms_dir=str(ROOT / "forms"),
            secret_key=SECRET,
            data_dir=tempfile.mkdtemp(),
            rollup_interval_seconds=3600,
            access_log=False,
        )
        app = create_app(settings)
        async with app.lifespan():
            info = app.state.surveys.survey("empathy-csat")
            rows = await load(dsn, info.survey_id, info.version_id, args)
            key = (await create_key(app.state.db, "bench", ["kpis:read"])).key
            headers = {"Authorization": f"Bearer {key}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                async def get(url: str) -> None:
                    response = await client.get(url, headers=headers, timeout=120)
                    assert response.status_code == 200, response.text

                report = await timed(
                    lambda: get("/api/v1/surveys/empathy-csat/outcomes"), args.calls
                )
                summary = await timed(lambda: get("/api/v1/interactions/summary"), args.calls)
                since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
                scan = await timed(
                    lambda: response_queries.referenced(
                        app.state.db, [info.survey_id], since, None
                    ),
                    args.calls,
                )
        names, matrix, outcomes, _ = design(rows)
        ours = seconds_of(lambda: logistic_regression(matrix, outcomes), 3)
        import numpy as np
        import statsmodels.api as sm

        x, y = np.array(matrix), np.array(outcomes, dtype=float)
        oracle = seconds_of(lambda: sm.Logit(y, x).fit(disp=0), 3)
    total = args.customers + args.others
    print(
        f"{args.customers:,} customers among {total:,} responses, {args.interactions:,} interactions"
    )
    print(
        f"value report (GET .../outcomes):        median {report[0]:8.1f} ms   max {report[1]:8.1f} ms"
    )
    print(
        f"  baseline: its one SQL read alone      median {scan[0]:8.1f} ms   max {scan[1]:8.1f} ms"
        f"   ratio {report[0] / scan[0]:.1f}x"
    )
    print(
        f"  regression ({len(names)} terms, {len(outcomes):,} rows): ours {ours:.1f} ms,"
        f" statsmodels Logit {oracle:.1f} ms, ratio {ours / oracle:.1f}x"
    )
    print(
        f"interaction summary (GET .../summary):  median {summary[0]:8.1f} ms   max {summary[1]:8.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
