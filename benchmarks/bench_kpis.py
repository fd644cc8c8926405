"""KPI and experiment-results latency at 10,000 and 1,000,000 responses (rollups vs a raw scan).

Usage (two throwaway databases are created and dropped):

    .venv/bin/python benchmarks/bench_kpis.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--small 10000] [--large 1000000] [--calls 60]

Two deployments of the service in-process, each on its own database: one with 10,000
synthetic counter-check responses, one with 1,000,000 (and 1.2 served forms per
response), answered over the last 90 days in time order (20 agents at 4 touchpoints, 3
channels, the warm/neutral experiment), loaded with COPY while the service's fold folds
them into the rollups (no VACUUM anywhere: folding leaves no dead rows). Then times
in-process GET /api/v1/surveys/counter-check/kpis for an unfiltered 90-day window and for
group_by=day,agent, and GET /api/v1/experiments/counter-wording/results, on both
deployments in turns (a call on one, then on the other: the machine's drift falls on both
sides of the ratio alike), in three states: after the fold, after a rebuild, and while 500
answers a second arrive at each and the fold runs every 2 s; median and p99. Beside it,
the same unfiltered aggregate as one raw SQL scan over the responses (the baseline the
rollups replace), measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import Any, cast

import asyncpg
import httpx
from _common import ROOT, throwaway_database
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.db import Database
from survey_service.experiments.queries import SERVED_COLUMNS
from survey_service.reporting.columns import RESPONSE_AGGREGATES
from survey_service.reporting.rollups import Upkeep, fold_all, rebuild
from survey_service.settings import Settings
from survey_service.surveys.tokens import uuid7

COLUMNS = [
    *SERVED_COLUMNS,
    "answers",
    "empathy_understood",
    "empathy_cared",
    "comment",
    "sentiment_class",
    "sentiment_cues",
    "created_at",
    "flags",
]
ASSIGNMENT_COLUMNS = [*SERVED_COLUMNS, "created_at"]


def nonce_at(at: dt.datetime, rng: random.Random) -> uuid.UUID:
    """The service's kind of nonce (:func:`.tokens.new_nonce`) for a form served at ``at``."""
    return uuid.UUID(bytes=uuid7(int(at.timestamp() * 1000), rng.randbytes(10)))


def synthetic(
    count: int, survey_id: int, version_id: int, seed: int, *, start: dt.datetime, end: dt.datetime
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """``count`` responses answered between ``start`` and ``end``, in that order (as they
    arrive: a table's rows and ids follow time), and the served forms (assignments) behind
    them, 1.2 per response."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    moments = sorted(rng.random() * span for _ in range(count))
    responses: list[tuple[object, ...]] = []
    served: list[tuple[object, ...]] = []
    for i, offset in enumerate(moments):
        agent_number = rng.randint(1, 20)
        # Staff work at one touchpoint each.
        metadata = f'{{"agent": "agent-{agent_number}", "touchpoint": "tp-{agent_number % 4}"}}'
        variant = rng.choice(["neutral", "warm"])
        channel = rng.choice(["link", "qr", "email"])
        at = start + dt.timedelta(seconds=offset)
        commented = rng.random() < 0.4
        nonce = nonce_at(at, rng)
        responses.append(
            (
                survey_id,
                version_id,
                nonce,
                variant,
                channel,
                "en",
                metadata,
                "{}",
                min(5, rng.randint(1, 5) + (variant == "warm" and rng.random() < 0.1)),
                rng.random() < 0.7,
                "ok" if commented else None,
                rng.choice([-1, 0, 1]) if commented else None,
                ["felt_heard"] if commented and rng.random() < 0.3 else [],
                at,
                ["too_fast"] if rng.random() < 0.02 else [],
            )
        )
        served.append((survey_id, version_id, nonce, variant, channel, "en", metadata, at))
        if i % 5 == 0:
            served.append(
                (survey_id, version_id, nonce_at(at, rng), variant, channel, "en", metadata, at)
            )
    return responses, served


async def copy_rows(
    connection: asyncpg.Connection,
    rows: tuple[list[tuple[object, ...]], list[tuple[object, ...]]],
) -> int:
    """COPY :func:`synthetic`'s responses and served forms; how many responses."""
    responses, served = rows
    await connection.copy_records_to_table("response", records=responses, columns=COLUMNS)
    await connection.copy_records_to_table("assignment", records=served, columns=ASSIGNMENT_COLUMNS)
    return len(responses)


BATCH = 100_000
"""Responses a COPY."""
INGESTING_BEFORE = 4
"""Seconds of ingestion (two passes of the fold) before the reads while ingesting."""
FOLD_EVERY = 2.0
"""Seconds between the passes of the fold (the service's default)."""


async def load_history(
    connection: asyncpg.Connection, survey_id: int, version_id: int, count: int
) -> int:
    """``count`` responses (and their served forms) answered over the last 90 days, in
    time order: a slice of the 90 days a batch of :data:`BATCH`. The next batch is made in
    a thread while one is copied (PostgreSQL's part is the larger). How many were stored."""
    days = dt.timedelta(days=90)
    history = dt.datetime.now(dt.UTC) - days

    def make(n: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        size = min(BATCH, count - n)
        start, end = (history + days * k / count for k in (n, n + size))
        return synthetic(size, survey_id, version_id, n, start=start, end=end)

    loaded = 0
    made = asyncio.create_task(asyncio.to_thread(make, loaded))
    while loaded < count:
        rows = await made
        loaded += len(rows[0])
        if loaded < count:
            made = asyncio.create_task(asyncio.to_thread(make, loaded))
        await copy_rows(connection, rows)
    return loaded


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def timed_in_turns(
    deployments: list[Deployment], path: str, calls: int, spread: float = 0.0
) -> list[tuple[float, float]]:
    """``calls`` GETs of ``path`` on each deployment, one after the other in turns (so the
    machine's drift falls on all of them alike), the turns paced over at least ``spread``
    seconds: each one's median and p99 in ms."""
    samples: list[list[float]] = [[] for _ in deployments]
    for deployment in deployments:  # warm
        await deployment.client.get(path, headers=deployment.headers)
    started = time.perf_counter()
    for turn in range(calls):
        await asyncio.sleep(started + turn * spread / calls - time.perf_counter())
        for deployment, taken in zip(deployments, samples, strict=True):
            start = time.perf_counter()
            response = await deployment.client.get(path, headers=deployment.headers)
            taken.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
    return [(statistics.median(taken), percentile(taken, 0.99)) for taken in samples]


async def ingest(dsn: str, survey_id: int, version_id: int, stop: asyncio.Event) -> int:
    """50 new answers (and their served forms) every 0.1 s until ``stop``; how many."""
    connection = await asyncpg.connect(dsn)
    added = 0
    try:
        while not stop.is_set():
            now = dt.datetime.now(dt.UTC)
            rows = synthetic(50, survey_id, version_id, 10_000_000 + added, start=now, end=now)
            added += await copy_rows(connection, rows)
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return added


async def keep_folding(db: Database, zone: str, stop: asyncio.Event) -> None:
    """The service's fold job: every 2 s until ``stop``, its upkeep counted across passes
    as the service's periodic job counts it."""
    upkeep = Upkeep()
    while not stop.is_set():
        await fold_all(db, zone, upkeep=upkeep)
        await asyncio.sleep(FOLD_EVERY)


async def fold_while(db: Database, zone: str, load: Awaitable[int]) -> tuple[int, float, float]:
    """Run ``load`` while the service's fold keeps folding what has arrived (as its job
    does during a bulk import), then fold the rest: what ``load`` returned, and the
    seconds until it ended and until the fold had folded everything."""
    started = time.perf_counter()
    loading = asyncio.ensure_future(load)
    ended: list[float] = []
    loading.add_done_callback(lambda _: ended.append(time.perf_counter() - started))
    upkeep = Upkeep()
    while not loading.done():
        if not await fold_all(db, zone, upkeep=upkeep):
            await asyncio.sleep(0.2)  # the first batch is not in yet
    loaded = await loading
    await fold_all(db, zone, upkeep=upkeep)
    return loaded, ended[0], time.perf_counter() - started


async def raw_scan(dsn: str, survey_id: int, since: dt.datetime, calls: int) -> tuple[float, float]:
    sums = ", ".join(f"coalesce(sum({expr}), 0)" for _, expr in RESPONSE_AGGREGATES)
    sql = f"SELECT {sums} FROM response WHERE survey_id = $1 AND created_at >= $2 AND cardinality(flags) = 0"
    connection = await asyncpg.connect(dsn)
    samples = []
    try:
        for _ in range(max(3, calls // 10)):
            start = time.perf_counter()
            await connection.fetchrow(sql, survey_id, since)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        await connection.close()
    return statistics.median(samples), percentile(samples, 0.99)


class Deployment:
    """One service in-process on its own database, and a client for its API."""

    def __init__(self, size: int, dsn: str, app: Litestar, client: httpx.AsyncClient) -> None:
        self.size, self.dsn, self.app, self.client = size, dsn, app, client
        self.info = app.state.surveys.survey("counter-check")
        self.headers: dict[str, str] = {}

    @property
    def db(self) -> Database:
        return cast(Database, self.app.state.db)

    @property
    def zone(self) -> str:
        return cast(Settings, self.app.state.settings).time_zone


def in_process(dsn: str, **more: Any) -> Settings:
    """Settings of the app run in-process on ``dsn`` for timing: no periodic fold (the
    benchmark folds itself) and no access log (a line per timed call would be timed too)."""
    return Settings(
        database_url=dsn,
        forms_dir=str(ROOT / "forms"),
        secret_key="k" * 40,
        data_dir=tempfile.mkdtemp(),
        rollup_interval_seconds=3600,
        access_log=False,
        **more,
    )


async def deploy(stack: AsyncExitStack, server: str | None, size: int) -> Deployment:
    """A throwaway database with the service's app in-process on it (its lifespan and
    client entered in ``stack``), holding an API key that reads KPIs."""
    dsn = await stack.enter_async_context(throwaway_database(server))
    app = create_app(in_process(dsn))
    await stack.enter_async_context(app.lifespan())
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")  # type: ignore[arg-type]
    )
    deployment = Deployment(size, dsn, app, client)
    key = (await create_key(deployment.db, "bench", ["kpis:read"])).key
    deployment.headers = {"Authorization": f"Bearer {key}"}
    return deployment


async def load_and_fold(deployment: Deployment) -> None:
    """Its history loaded while the fold runs, then fresh planner statistics (as
    autoanalyze gives shortly after a bulk load; no VACUUM: the fold leaves no dead row
    versions in the big tables)."""
    connection = await asyncpg.connect(deployment.dsn)
    try:
        info = deployment.info
        load = load_history(connection, info.survey_id, info.version_id, deployment.size)
        _, copy_s, fold_s = await fold_while(deployment.db, deployment.zone, load)
        for table in ("response", "assignment", "response_unfolded"):
            await connection.execute(f"ANALYZE {table}")
        rollup_rows = await connection.fetchval("SELECT count(*) FROM response_rollup_daily")
    finally:
        await connection.close()
    print(
        f"# {deployment.size:,} loaded in {copy_s:.1f} s (COPY) while the fold ran, all"
        f" folded after {fold_s:.1f} s ({rollup_rows:,} daily rollup rows)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=90)).date().isoformat()
    urls = {
        "90 days": f"/api/v1/surveys/counter-check/kpis?from={since}",
        "group_by=day,agent": f"/api/v1/surveys/counter-check/kpis?from={since}&group_by=day,agent",
        "experiment results": "/api/v1/experiments/counter-wording/results",
    }
    results: dict[tuple[int, str, str], float] = {}
    async with AsyncExitStack() as stack:
        deployments = [await deploy(stack, args.dsn, size) for size in (args.small, args.large)]
        # The client's own per-request log lines are not the service's cost (and they
        # interleaved with the table).
        logging.getLogger("httpx").setLevel(logging.WARNING)

        async def read_all(state: str) -> None:
            """Time every read in ``state`` (folded, rebuilt or ingesting) on both
            deployments in turns, printing and keeping the medians."""
            # While ingesting, a read costs more just before a fold (up to 2 s of answers
            # queued) than just after it: the turns span a whole fold cycle, or a fast
            # read's 60 turns fell in a few tenths of one, the large deployment's near one
            # phase and the small one's near another (ratios 0.6-2.2 in one run).
            spread = FOLD_EVERY if state == "ingesting" else 0.0
            for label, url in urls.items():
                timings = await timed_in_turns(deployments, url, args.calls, spread)
                for deployment, (median, p99) in zip(deployments, timings, strict=True):
                    results[(deployment.size, state, label)] = median
                    name = label + ("" if state == "folded" else f" ({state})")
                    print(f"{deployment.size:>10,} {name:<20} {median:>10.1f} {p99:>8.1f}")

        for deployment in deployments:
            await load_and_fold(deployment)
        print(f"{'responses':>10} {'query':<20} {'median ms':>10} {'p99 ms':>8}")
        await read_all("folded")
        for deployment in deployments:
            start = time.perf_counter()
            await rebuild(deployment.db, deployment.zone)  # and again, no VACUUM
            print(f"# {deployment.size:,}: rollups rebuilt in {time.perf_counter() - start:.1f} s")
        await read_all("rebuilt")
        # And while answers keep arriving (500 a second at each) and the service's own
        # fold runs every 2 s, as in production: the queues fill and empty.
        stop = asyncio.Event()
        arriving = asyncio.gather(
            *(ingest(d.dsn, d.info.survey_id, d.info.version_id, stop) for d in deployments)
        )
        folding = asyncio.gather(*(keep_folding(d.db, d.zone, stop) for d in deployments))
        await asyncio.sleep(INGESTING_BEFORE)
        await read_all("ingesting")
        stop.set()
        await folding
        print(f"# {sum(await arriving):,} answers arrived meanwhile")
        for deployment in deployments:
            median, p99 = await raw_scan(
                deployment.dsn,
                deployment.info.survey_id,
                dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC),
                args.calls,
            )
            print(
                f"{deployment.size:>10,} {'raw SQL scan':<20} {median:>10.1f} {p99:>8.1f}"
                "   (baseline)"
            )
    states = ("folded", "rebuilt", "ingesting")
    for label in urls:
        large = [results[(args.large, state, label)] for state in states]
        ratios = [
            results[(args.large, state, label)] / results[(args.small, state, label)]
            for state in states
        ]
        print(
            f"{label} at {args.large:,}, after fold / rebuild / while ingesting:"
            f" median {' / '.join(f'{ms:.1f}' for ms in large)} ms (target under 50:"
            f" {'met' if max(large) < 50 else 'NOT met'}), ratio to {args.small:,}"
            f" {' / '.join(f'{r:.2f}' for r in ratios)} (target at most 2:"
            f" {'met' if max(ratios) <= 2 else 'NOT met'})"
        )


if __name__ == "__main__":
    asyncio.run(main())
