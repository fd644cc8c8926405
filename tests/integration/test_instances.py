"""Two ``survey-service serve`` processes on one database, driven through both at once:
limits hold across them, a form served by one is answered on the other, each invitation
goes out once, and the rollups both fold equal a rebuild. Once with the counters in Redis,
once in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.helpers import ROOT, hidden, outside_a_window_edge, start_service, start_smtp
from tests.rows import rollup_tables
from tests.servers import Cluster, pgbouncer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLIENT_LIMIT = 12


def redis_answers() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        return False
    return True


@pytest.fixture
async def own_database(server_dsn: str) -> AsyncIterator[str]:
    """A database of this test's own (the session app truncates the shared one)."""
    name = "survey_pair_" + secrets.token_hex(4)
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield urlunsplit(urlsplit(server_dsn)._replace(path="/" + name))
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


class Pair(NamedTuple):
    bases: list[str]
    dsn: str  # the primary, directly
    box: Path  # the Maildir the SMTP server delivers to
    replicated: bool  # behind PgBouncer, with a streaming replica for reads


@pytest.fixture(params=["redis", "postgres", "pooled"])
def pair(request: pytest.FixtureRequest, own_database: str, tmp_path: Path) -> Iterator[Pair]:
    """Two instances sharing the database, the counters and an SMTP server; ``pooled``:
    Redis counters, PgBouncer in front of a primary of the test's own, whose streaming
    replica serves the reads."""
    store = request.param
    if store in ("redis", "pooled") and not redis_answers():
        if os.environ.get("CI"):
            pytest.fail(f"no Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    box = tmp_path / "mail"
    smtp_port, smtp = start_smtp("aiosmtpd.handlers.Mailbox", str(box))
    env = {
        "DATABASE_URL": own_database,
        "SURVEY_SECRET_KEY": secrets.token_urlsafe(32),  # fresh counter keys each run
        "SURVEY_LIMIT_STORE": "redis" if store == "pooled" else store,
        "SURVEY_REDIS_URL": REDIS_URL,
        "SURVEY_SUBMIT_LIMIT_PER_IP": str(CLIENT_LIMIT),
        "SURVEY_TRUSTED_PROXIES": "127.0.0.1",  # clients are told apart by X-Forwarded-For
        "SURVEY_MIN_FILL_SECONDS": "0",
        "SURVEY_ROLLUP_INTERVAL_SECONDS": "0.3",
        "SURVEY_SMTP_HOST": "127.0.0.1",
        "SURVEY_SMTP_PORT": str(smtp_port),
        "SURVEY_SMTP_PER_SECOND": "1000",
    }
    processes, bases = [], []
    dsn = own_database
    servers = contextlib.ExitStack()
    try:
        if store == "pooled":
            cluster = Cluster(Path(tempfile.mkdtemp(prefix="sspair", dir="/tmp")))
            servers.callback(cluster.close)
            port = servers.enter_context(pgbouncer(cluster.primary_dsn))
            dsn = cluster.primary_dsn
            env |= {
                "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres",
                "DATABASE_DIRECT_URL": dsn,
                "SURVEY_DB_TRANSACTION_POOLER": "true",
                "DATABASE_READ_URL": cluster.replica_dsn,
            }
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            process, base = start_service(
                {**env, "SURVEY_DATA_DIR": str(folder)}, folder / "server.log"
            )
            processes.append(process)
            bases.append(base)
        yield Pair(bases, dsn, box, store == "pooled")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        smtp.terminate()
        smtp.wait(timeout=10)
        servers.close()


async def test_two_instances_behave_as_one(pair: Pair, tmp_path: Path) -> None:
    (a, b), dsn, box = pair.bases, pair.dsn, pair.box
    async with httpx.AsyncClient(timeout=20) as http:

        def client(number: int) -> dict[str, str]:
            return {"X-Forwarded-For": f"198.51.100.{number}"}

        # 1. One client, 2x the limit at once, alternating between the instances: exactly
        # the limit gets through (serving a JSON form counts as a submission).
        await outside_a_window_edge()
        burst = await asyncio.gather(
            *(
                http.get(f"{(a, b)[i % 2]}/api/v1/surveys/nps-empathy", headers=client(1))
                for i in range(2 * CLIENT_LIMIT)
            )
        )
        statuses = sorted(r.status_code for r in burst)
        assert statuses == [200] * CLIENT_LIMIT + [429] * CLIENT_LIMIT
        assert all(r.headers["retry-after"] for r in burst if r.status_code == 429)

        # 2. Forms served by one instance are answered on the other, JSON and HTML
        # (the CSRF cookie and the token are both good on either).
        async def json_answer(number: int) -> tuple[int, int]:
            served, answers = (a, b) if number % 2 else (b, a)
            form = await http.get(f"{served}/api/v1/surveys/nps-empathy", headers=client(number))
            token = form.json()["token"]
            url = f"{answers}/api/v1/surveys/nps-empathy/responses"
            body = {"token": token, "answers": {"recommend": number % 11}}
            first = await http.post(url, json=body, headers=client(number))
            replay = await http.post(
                url.replace(answers, served), json=body, headers=client(number)
            )
            return first.status_code, replay.status_code

        assert await asyncio.gather(*(json_answer(n) for n in range(10, 40))) == [(201, 200)] * 30

        async def page_answer(number: int) -> int:
            served, answers = (a, b) if number % 2 else (b, a)
            async with httpx.AsyncClient(timeout=20, headers=client(number)) as browser:
                page = await browser.get(f"{served}/s/counter-check")
                post = await browser.post(
                    f"{answers}/s/counter-check",
                    data={
                        "_csrf_token": hidden(page.text, "_csrf_token"),
                        "token": hidden(page.text, "token"),
                        "understood": "4",
                        "cared": "yes",
                    },
                )  # the CSRF cookie the first instance set goes along (same host)
                assert post.status_code == 303, post.text[-1500:]
                return post.status_code

        assert await asyncio.gather(*(page_answer(n) for n in range(40, 50))) == [303] * 10

        # 3. Invitations queued through one instance go out once, whichever sender runs.
        made = await cli(dsn, "apikey", "create", "--name", "pair", "--scope", "admin")
        key = made.split()[-1]  # printed last, once
        invited = await http.post(
            f"{a}/api/v1/invitations",
            json=[{"survey": "nps-empathy", "email": f"pair{i}@example.com"} for i in range(25)],
            headers={"Authorization": f"Bearer {key}"},
        )
        assert invited.status_code == 201, invited.text
    assert await wait_for(lambda: len(recipients(box)) >= 25, 30)
    await asyncio.sleep(6)  # a full sender period more for both: nothing goes out twice
    assert sorted(recipients(box)) == sorted(f"pair{i}@example.com" for i in range(25))

    # 4. Both instances fold; the rollups equal a rebuild from the raw rows.
    connection = await asyncpg.connect(dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM response") == 40
        assert await wait_for(lambda: folded_everything(connection), 20), (
            "the background folds did not catch up"
        )
        folded = await rollup_tables(connection)
        await cli(dsn, "rollups", "rebuild")
        assert await rollup_tables(connection) == folded
    finally:
        await connection.close()
    if pair.replicated:  # the same figures, read on the replica
        kpis = f"{b}/api/v1/surveys/nps-empathy/kpis?include_flagged=true"

        async def replica_has_all() -> bool:
            async with httpx.AsyncClient(timeout=20) as http:
                got = await http.get(kpis, headers={"Authorization": f"Bearer {key}"})
            return got.json()["n"] == 30 and got.headers["x-read-from"] == "replica"

        assert await wait_for(replica_has_all, 20)

    # 5. Each instance logs JSON lines; every request's line carries its request id.
    log = (tmp_path / "a" / "server.log").read_text().splitlines()
    entries = [json.loads(line) for line in log if line.startswith("{")]
    answered = [e for e in entries if e.get("route") == "/api/v1/surveys/{slug}/responses"]
    assert answered
    assert all(len(e["request_id"]) == 32 and e["status"] in (200, 201) for e in answered)


async def cli(dsn: str, *args: str) -> str:
    """Run ``survey-service <args>`` on ``dsn`` as an operator would; its standard output."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "survey_service", *args],
        env={**os.environ, "DATABASE_URL": dsn, "SURVEY_SECRET_KEY": "r" * 40},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def recipients(box: Path) -> list[str]:
    return [str(m["To"]) for m in mailbox.Maildir(box)] if box.exists() else []


async def folded_everything(connection: asyncpg.Connection) -> bool:
    unfolded = await connection.fetchval(
        "SELECT (SELECT count(*) FROM response_unfolded)"
        " + (SELECT count(*) FROM assignment_unfolded)"
    )
    return bool(unfolded == 0)


async def wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check() if callable(check) else check
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_serve_with_two_workers(own_database: str, tmp_path: Path) -> None:
    """``serve --workers 2``: two processes answer on one port, share the limits (in
    PostgreSQL by default), and each writes its buffered assignments on SIGTERM."""
    import psutil

    process, base = start_service(
        {
            "DATABASE_URL": own_database,
            "SURVEY_WORKERS": "2",
            "SURVEY_DATA_DIR": str(tmp_path),
            "SURVEY_SECRET_KEY": secrets.token_urlsafe(32),
            "SURVEY_SUBMIT_LIMIT_PER_IP": str(CLIENT_LIMIT),
            "SURVEY_ASSIGNMENT_FLUSH_SECONDS": "30",  # only shutdown writes them
        },
        tmp_path / "server.log",
    )
    try:
        children = psutil.Process(process.pid).children()
        # (multiprocessing's resource tracker is a child too)
        workers = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        assert len(workers) == 2
        async with httpx.AsyncClient(timeout=20) as http:
            await outside_a_window_edge()
            served = await asyncio.gather(
                *(http.get(f"{base}/api/v1/surveys/nps-empathy") for _ in range(2 * CLIENT_LIMIT))
            )
        assert sorted(r.status_code for r in served) == [200] * CLIENT_LIMIT + [429] * CLIENT_LIMIT
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    connection = await asyncpg.connect(own_database)
    try:
        assert await connection.fetchval("SELECT count(*) FROM assignment") == CLIENT_LIMIT
        assert await connection.fetchval("SELECT count(*) FROM rate_window") >= 1
    finally:
        await connection.close()
