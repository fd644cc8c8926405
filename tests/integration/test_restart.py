"""Failures under load: PostgreSQL stopped and started under the running service, and the
service itself killed with SIGKILL. Real processes, real servers."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from tests.helpers import free_port, start_service

ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def serve(dsn: str, folder: Path, **settings: str) -> tuple[subprocess.Popen[bytes], str]:
    """``survey-service serve`` on ``dsn``, ready to answer."""
    env = {
        "DATABASE_URL": dsn,
        "SURVEY_DATA_DIR": str(folder),
        "SURVEY_SECRET_KEY": "r" * 40,
        "SURVEY_SUBMIT_LIMIT_PER_IP": "100000",
        "SURVEY_SUBMIT_LIMIT_PER_SURVEY": "100000",
        **settings,
    }
    return start_service(env, folder / "server.log")


def answer_once(client: httpx.Client, base: str) -> tuple[int, str | None]:
    """Serve a form and answer it: (status of the answer, the token)."""
    served = client.get(f"{base}/api/v1/surveys/nps-empathy")
    if served.status_code != 200:
        return served.status_code, None
    token = served.json()["token"]
    posted = client.post(
        f"{base}/api/v1/surveys/nps-empathy/responses",
        json={"token": token, "answers": {"recommend": 9}},
    )
    return posted.status_code, token


class Load:
    """A customer answering continuously from a thread until stopped (bounded in time). Like
    a well-behaved client it sends an answer again, with the same token, after a 503 (so
    every answer it started is acknowledged in the end: 201, or 200 for a replay)."""

    def __init__(self, base: str, seconds: float = 60) -> None:
        self.statuses: collections.Counter[int] = collections.Counter()
        self.retry_after: set[str] = set()
        self.acknowledged = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base, seconds), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self, base: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    served = client.get(f"{base}/api/v1/surveys/nps-empathy")
                    token = served.json()["token"]
                except (httpx.HTTPError, ValueError, KeyError):
                    self.statuses[0] += 1  # the service itself is gone
                    time.sleep(0.05)
                    continue
                self._answer(client, base, token, deadline + 20)

    def _answer(self, client: httpx.Client, base: str, token: str, give_up: float) -> None:
        while time.monotonic() < give_up:
            try:
                posted = client.post(
                    f"{base}/api/v1/surveys/nps-empathy/responses",
                    json={"token": token, "answers": {"recommend": 7}},
                )
            except httpx.HTTPError:
                self.statuses[0] += 1
                return  # the service died with the answer in flight
            self.statuses[posted.status_code] += 1
            if posted.status_code in (200, 201):
                self.acknowledged += 1
                return
            if posted.status_code != 503:
                return
            self.retry_after.add(posted.headers.get("retry-after", ""))
            time.sleep(0.2)  # Retry-After says 5 s; a test has less patience


def count(dsn: str, sql: str) -> int:
    async def run() -> int:
        connection = await asyncpg.connect(dsn)
        try:
            value: int = await connection.fetchval(sql)
            return value
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.fixture
def own_postgres() -> Iterator[tuple[Any, str]]:
    """A PostgreSQL of the test's own, which it may stop and start."""
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs from atexit otherwise
    folder = tempfile.mkdtemp(prefix="ssr", dir="/tmp")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    yield server, folder
    server.cleanup()


def test_a_postgres_outage_is_503_and_heals_without_losing_an_answer(tmp_path: Path) -> None:
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs from atexit otherwise
    folder = tempfile.mkdtemp(prefix="ssr", dir="/tmp")
    server = pgserver.get_server(folder, cleanup_mode="stop")  # this test's only handle
    dsn = server.get_uri()
    process, base = serve(dsn, tmp_path)
    try:
        with Load(base) as load:
            assert wait_until(lambda: load.statuses[201] >= 20, 20)
            server.cleanup()  # stop PostgreSQL under the load
            assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 503, 20)
            assert wait_until(lambda: load.statuses[503] >= 3, 20)
            server = pgserver.get_server(folder, cleanup_mode="stop")  # and start it again
            assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 30)
            healed = load.statuses[201]
            assert wait_until(lambda: load.statuses[201] > healed + 20, 20)  # no restart
        log = (tmp_path / "server.log").read_text()
        unexpected = [line for line in log.splitlines() if "Error" in line or "error" in line]
        assert set(load.statuses) <= {200, 201, 503}, (load.statuses, unexpected[-20:])
        assert load.retry_after == {"5"}
        # Every answer was acknowledged in the end and is stored once; nothing else is.
        assert count(server.get_uri(), "SELECT count(*) FROM response") == load.acknowledged
        server.cleanup()  # away again: SIGTERM must still end the service promptly
        assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 503, 20)
        process.terminate()
        assert process.wait(timeout=30) is not None
    finally:
        if process.poll() is None:
            process.kill()
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_stops_the_embedded_database_even_after_a_crash(tmp_path: Path) -> None:
    """docker, systemd and kill send SIGTERM; the embedded PostgreSQL must stop with the
    service, also when an earlier service process was killed and left its entry behind."""
    folder = Path(tempfile.mkdtemp(prefix="sse", dir="/tmp"))
    pgdata = folder / "pgdata"
    env = {"SURVEY_DATA_DIR": str(folder), "DATABASE_URL": "", "TEST_DATABASE_URL": ""}
    for attempt in range(2):
        port = free_port()
        log = (tmp_path / f"serve{attempt}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "survey_service", "serve"],
            env={**os.environ, **env, "SURVEY_PORT": str(port)},
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        try:
            ready = f"http://127.0.0.1:{port}/health/ready"
            assert wait_until(lambda: httpx.get(ready).status_code == 200, 60)  # noqa: B023
            assert (pgdata / "postmaster.pid").exists()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) is not None
        finally:
            if process.poll() is None:
                process.kill()
        assert wait_until(lambda: not (pgdata / "postmaster.pid").exists(), 10)
        # A process that was SIGKILLed leaves its entry in pgserver's list of users.
        (pgdata / ".handle_pids.json").write_text("[2147483646]")
    shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_service_leaves_no_response_without_its_assignment(
    own_postgres: tuple[Any, str], tmp_path: Path
) -> None:
    server, _ = own_postgres
    dsn = server.get_uri()
    # Assignments would be written only every minute: all of them are still buffered.
    process, base = serve(dsn, tmp_path, SURVEY_ASSIGNMENT_FLUSH_SECONDS="60")
    with Load(base) as load:
        assert wait_until(lambda: load.statuses[201] >= 50, 30)
        # The worker holds the buffers: kill it and its supervisor, as a crash would.
        workers = psutil.Process(process.pid).children()
        process.send_signal(signal.SIGKILL)
        for worker in workers:
            worker.kill()
        process.wait(timeout=10)
    assert load.acknowledged >= 50
    orphans = count(
        dsn,
        "SELECT count(*) FROM response r WHERE NOT EXISTS (SELECT 1 FROM assignment a"
        " WHERE a.survey_id = r.survey_id AND a.token_nonce = r.token_nonce)",
    )
    assert orphans == 0
    # At most the one answer in flight when the service died is stored unacknowledged.
    stored = count(dsn, "SELECT count(*) FROM response")
    assert load.acknowledged <= stored <= load.acknowledged + 1


def test_a_worker_whose_supervisor_died_shuts_down(
    own_postgres: tuple[Any, str], tmp_path: Path
) -> None:
    """SIGKILL of ``serve`` alone (an OOM kill): its worker notices and stops by itself,
    writing what it buffered, instead of serving on unsupervised."""
    server, _ = own_postgres
    dsn = server.get_uri()
    process, base = serve(dsn, tmp_path, SURVEY_ASSIGNMENT_FLUSH_SECONDS="60")
    assert httpx.get(f"{base}/api/v1/surveys/nps-empathy").status_code == 200
    [worker] = [
        c
        for c in psutil.Process(process.pid).children()
        if "resource_tracker" not in " ".join(c.cmdline())
    ]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    worker.wait(timeout=15)
    log = (tmp_path / "server.log").read_text()
    assert "is gone; shutting down" in log
    assert count(dsn, "SELECT count(*) FROM assignment") == 1  # its buffer was written
