"""Reads on a real streaming replica: a second PostgreSQL cluster made with pg_basebackup
from a primary of the test's own (the machine's server does not allow replication
connections), replaying its WAL. KPIs come from the replica with the unfolded tail exact;
a replica that lags too far, or is stopped, sends reads back to the primary."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.reporting.rollups import fold_all
from survey_service.settings import Settings
from tests.helpers import answer_nps, running
from tests.servers import Cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    made = Cluster(Path(tempfile.mkdtemp(prefix="ssrep", dir="/tmp")))
    yield made
    made.close()


@pytest.fixture
async def replicated_app(cluster: Cluster, settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(
        msgspec.structs.replace(
            settings,
            database_url=cluster.primary_dsn,
            database_read_url=cluster.replica_dsn,
            replica_max_lag_seconds=1.0,
        )
    )
    async with running(app):
        yield app


async def on_replica(cluster: Cluster, sql: str) -> Any:
    connection = await asyncpg.connect(cluster.replica_dsn)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def caught_up(cluster: Cluster, responses: int) -> None:
    """Wait until the replica has replayed ``responses`` rows and nothing is pending."""
    for _ in range(100):
        count = await on_replica(cluster, "SELECT count(*) FROM response")
        lag = await on_replica(
            cluster, "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
        )
        if count == responses and lag:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the replica did not catch up")


async def test_reads_follow_the_replica_and_fall_back_to_the_primary(
    replicated_app: Litestar, cluster: Cluster
) -> None:
    app = replicated_app
    key = (await create_key(app.state.db, "replica", ["admin"])).key
    headers = {"Authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def kpis() -> tuple[int, str, float]:
            await asyncio.sleep(1.05)  # past the router's once-a-second lag check
            got = await client.get(
                "/api/v1/surveys/nps-empathy/kpis?include_flagged=true", headers=headers
            )
            assert got.status_code == 200, got.text
            lag = float(got.headers["x-replica-lag-seconds"])
            return got.json()["n"], got.headers["x-read-from"], lag

        for score in range(20):
            assert await answer_nps(client, score % 11) == 201
        await caught_up(cluster, 20)
        # Nothing folded yet: the replica's unfolded tail gives every answer.
        assert await kpis() == (20, "replica", 0.0)
        await fold_all(app.state.db, "UTC")
        await caught_up(cluster, 20)
        assert await on_replica(cluster, "SELECT sum(n) FROM response_rollup_daily") == 20
        assert await kpis() == (20, "replica", 0.0)  # the same figure from the rollups

        # Replay paused: the replica falls behind; once past the limit, the primary answers.
        await on_replica(cluster, "SELECT pg_wal_replay_pause()")
        for score in range(5):
            assert await answer_nps(client, score) == 201
        n, source, _ = await kpis()
        assert (n, source) == (25, "primary")
        ready = (await client.get("/health/ready")).json()
        assert ready["status"] == "degraded"
        assert ready["replica"].startswith("lag ")
        await on_replica(cluster, "SELECT pg_wal_replay_resume()")
        await caught_up(cluster, 25)
        assert await kpis() == (25, "replica", 0.0)
        results = await client.get("/api/v1/experiments/split-50-50/results", headers=headers)
        assert results.status_code == 200, results.text
        assert results.headers["x-read-from"] == "replica"
        exported = await client.get("/api/v1/surveys/nps-empathy/responses", headers=headers)
        assert len(exported.json()["items"]) == 25
        assert exported.headers["x-read-from"] == "replica"

        # The replica stopped: reads go to the primary, no error.
        cluster.stop()
        try:
            n, source, _ = await kpis()
            assert (n, source) == (25, "primary")
            ready = (await client.get("/health/ready")).json()
            assert (ready["status"], ready["replica"]) == ("degraded", "unreachable")
        finally:
            cluster.start()
