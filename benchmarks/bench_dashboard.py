"""Dashboard pages against the KPI API call they are built from, measured in one run.

Usage (a throwaway database is created and dropped):

    .venv/bin/python benchmarks/bench_dashboard.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--responses 100000] [--calls 20]

Loads synthetic counter-check responses over 90 days (as bench_kpis.py does) and folds
them; then times, in-process, the KPI API call for the last 28 days (the baseline: one
figure set), the overview page, a survey's page (cards, five trend charts, five
breakdowns, key drivers: about a dozen reads of the rollups), the experiment page and the
comments page; and the two SVG charts on their own (90 points, 20 bars).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import time

import asyncpg
import httpx
from _common import throwaway_database
from bench_kpis import in_process, load_history

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.dashboard.charts import Bar, Point, interval_chart, line_chart
from survey_service.reporting.rollups import fold_all


async def timed(client: httpx.AsyncClient, url: str, calls: int, **kw: object) -> float:
    await client.get(url, **kw)  # type: ignore[arg-type]
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        response = await client.get(url, **kw)  # type: ignore[arg-type]
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def chart_microseconds() -> tuple[float, float]:
    points = [
        Point(label=f"d{i}", value=50 + i % 7, low=40 + i % 7, high=60 + i % 7) for i in range(90)
    ]
    bars = [Bar(label=f"agent-{i}", value=60 + i, low=50 + i, high=70 + i, n=40) for i in range(20)]
    rounds = 500
    start = time.perf_counter()
    for _ in range(rounds):
        line_chart(points, chart_id="c", title="t", lower=0, upper=100)
    line = (time.perf_counter() - start) * 1e6 / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        interval_chart(bars, chart_id="b", title="t", lower=0, upper=100)
    return line, (time.perf_counter() - start) * 1e6 / rounds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    async with throwaway_database(args.dsn) as dsn:
        app = create_app(in_process(dsn, sign_in_limit=1000))
        async with app.lifespan():
            info = app.state.surveys.survey("counter-check")
            connection = await asyncpg.connect(dsn)
            try:
                await load_history(connection, info.survey_id, info.version_id, args.responses)
            finally:
                await connection.close()
            await fold_all(app.state.db, "UTC")
            key = (await create_key(app.state.db, "bench", ["kpis:read"])).key
            await app.state.accounts.create("b@example.com", "owner", [], "a long enough password")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                page = await client.get("/dashboard/sign-in")
                token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
                await client.post(
                    "/dashboard/sign-in",
                    data={
                        "email": "b@example.com",
                        "password": "a long enough password",
                        "_csrf_token": token,
                    },
                )
                since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=27)).date().isoformat()
                api = await timed(
                    client,
                    f"/api/v1/surveys/counter-check/kpis?from={since}",
                    args.calls,
                    headers={"Authorization": f"Bearer {key}"},
                )
                pages = {
                    "overview": "/dashboard",
                    "survey page": "/dashboard/surveys/counter-check",
                    "experiment page": "/dashboard/experiments/counter-wording",
                    "comments page": "/dashboard/surveys/counter-check/comments",
                }
                figures = {
                    name: await timed(client, url, args.calls) for name, url in pages.items()
                }
    line, bars = chart_microseconds()
    print(f"{args.responses:,} responses, 28-day window, medians of {args.calls} calls")
    print(f"baseline: KPI API call            {api:7.1f} ms")
    for name, ms in figures.items():
        print(f"{name:<33} {ms:7.1f} ms   {ms / api:5.1f}x the API call")
    print(f"line chart, 90 points: {line:.0f} µs; interval chart, 20 bars: {bars:.0f} µs")


if __name__ == "__main__":
    asyncio.run(main())
