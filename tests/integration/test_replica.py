"""Reads on a real streaming replica: a second PostgreSQL cluster made with pg_basebackup
from a primary of the test's own (the machine's server does not allow replication
connections), replaying its WAL. KPIs come from the replica with the unfolded tail exact;
a replica that lags too far, or is stopped, sends reads back to the primary."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.reporting.rollups import fold_all
from survey_service.settings import Settings
from tests.helpers import free_port


class Cluster:
    """A primary (pgserver) and a streaming replica of it, run as the server's own user."""

    def __init__(self, folder: Path) -> None:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self.primary = pgserver.get_server(folder / "primary", cleanup_mode="stop")
        self.primary_dsn: str = self.primary.get_uri()
        self.bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
        self.user: str | None = self.primary.system_user  # set when we are root
        self.data = folder / "replica"
        self.sockets = folder / "replica-sockets"
        self.port = free_port()
        for path in (folder, self.sockets):
            path.mkdir(exist_ok=True)
            if self.user:
                shutil.chown(path, self.user)
        host = parse_qs(urlsplit(self.primary_dsn).query)["host"][0]
        self.run("pg_basebackup", "-h", host, "-U", "postgres", "-D", str(self.data), "-R")
        assert (self.data / "standby.signal").exists()  # a standby, streaming from the primary
        self.start()
        self.replica_dsn = f"postgresql://postgres@/postgres?host={self.sockets}&port={self.port}"

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=''"
        log = str(self.data / "replica.log")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="ssrep", dir="/tmp"))
    made = Cluster(folder)
    yield made
    if (made.data / "postmaster.pid").exists():
        made.stop()
    made.primary.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


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
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()
    yield app
    stop.set()
    await task


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

        async def answer(score: int) -> None:
            served = await client.get("/api/v1/surveys/nps-empathy")
            posted = await client.post(
                "/api/v1/surveys/nps-empathy/responses",
                json={"token": served.json()["token"], "answers": {"recommend": score}},
            )
            assert posted.status_code == 201

        async def kpis() -> tuple[int, str, float]:
            await asyncio.sleep(1.05)  # past the router's once-a-second lag check
            got = await client.get(
                "/api/v1/surveys/nps-empathy/kpis?include_flagged=true", headers=headers
            )
            assert got.status_code == 200, got.text
            lag = float(got.headers["x-replica-lag-seconds"])
            return got.json()["n"], got.headers["x-read-from"], lag

        for score in range(20):
            await answer(score % 11)
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
            await answer(score)
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
