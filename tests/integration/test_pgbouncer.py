"""The service behind PgBouncer in transaction pooling mode, a real pgbouncer process:
forms, answers, the fold, KPIs, invitations and erasure all work when consecutive
transactions land on different server connections."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

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

INI = """[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 100
ignore_startup_parameters = extra_float_digits
unix_socket_dir =
logfile = {folder}/pgbouncer.log
"""


@pytest.fixture(scope="module")
def pgbouncer(server_dsn: str) -> Iterator[tuple[str, int]]:
    """pgbouncer (transaction pooling, 4 server connections) in front of the test server."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is missing: apt-get install pgbouncer")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    parts = urlsplit(server_dsn)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    folder = Path(tempfile.mkdtemp(prefix="pgb"))
    listen = free_port()
    ini = folder / "pgbouncer.ini"
    ini.write_text(INI.format(host=host, port=parts.port or 5432, listen=listen, folder=folder))
    (folder / "users.txt").write_text('"postgres" ""\n')
    command = [binary, str(ini)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root: run it as the server's user
        # (the embedded server's socket folder belongs to it), else as postgres.
        user = Path(host).owner() if host.startswith("/") else "postgres"
        shutil.chown(folder, user)
        for path in folder.iterdir():
            shutil.chown(path, user)
        command = ["runuser", "-u", user, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", listen), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield str(folder), listen
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def pooled_app(
    pgbouncer: tuple[str, int], settings: Settings, database_url: str, db: asyncpg.Connection
) -> AsyncIterator[Litestar]:
    """The app with DATABASE_URL on pgbouncer, migrations on the direct connection."""
    _, port = pgbouncer
    parts = urlsplit(database_url)
    through = urlunsplit(parts._replace(netloc=f"postgres@127.0.0.1:{port}", query=""))
    app = create_app(
        msgspec.structs.replace(
            settings,
            database_url=through,
            database_direct_url=database_url,
            db_transaction_pooler=True,
            db_pool_max=8,  # more client connections than pgbouncer has server ones
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


async def test_everything_works_through_pgbouncer_in_transaction_mode(
    pooled_app: Litestar, db: asyncpg.Connection
) -> None:
    transport = httpx.ASGITransport(app=pooled_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def answer(score: int) -> int:
            served = await client.get("/api/v1/surveys/nps-empathy")
            posted = await client.post(
                "/api/v1/surveys/nps-empathy/responses",
                json={"token": served.json()["token"], "answers": {"recommend": score}},
            )
            return posted.status_code

        assert await asyncio.gather(*(answer(i % 11) for i in range(40))) == [201] * 40
        await fold_all(pooled_app.state.db, "UTC")
        key = await create_key(pooled_app.state.db, "pooled", ["admin"])
        headers = {"Authorization": f"Bearer {key.key}"}
        kpis = await client.get(
            "/api/v1/surveys/nps-empathy/kpis?include_flagged=true", headers=headers
        )
        assert kpis.json()["n"] == 40
        invited = await client.post(
            "/api/v1/invitations",
            json=[{"survey": "nps-empathy", "email": f"p{i}@example.com"} for i in range(30)],
            headers=headers,
        )
        assert invited.status_code == 201
        erased = await client.post(
            "/api/v1/privacy/erasures", json={"email": "p1@example.com"}, headers=headers
        )
        assert erased.json()["invitations"] == 1
    assert await db.fetchval("SELECT count(*) FROM response") == 40
    assert await db.fetchval("SELECT count(*) FROM invitation") == 29
    assert await db.fetchval("SELECT sum(n) FROM response_rollup_daily") == 40
