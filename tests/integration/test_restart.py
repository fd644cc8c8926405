"""The service recovers when PostgreSQL restarts under it."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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


def test_service_recovers_after_a_postgres_restart(tmp_path: Path) -> None:
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs from atexit otherwise
    # A PostgreSQL of this test's own, which it may stop and start.
    folder = tempfile.mkdtemp(prefix="ssr", dir="/tmp")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": server.get_uri(),
        "SURVEY_PORT": str(port),
        "SURVEY_DATA_DIR": str(tmp_path),
        "SURVEY_SECRET_KEY": "r" * 40,
    }
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "survey_service", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 60)
        server.cleanup()  # stop PostgreSQL (this test holds its only handle)
        assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 503, 20)
        server = pgserver.get_server(folder, cleanup_mode="stop")  # and start it again

        def answers() -> bool:
            served = httpx.get(f"{base}/api/v1/surveys/nps-empathy")
            if served.status_code != 200:
                return False
            posted = httpx.post(
                f"{base}/api/v1/surveys/nps-empathy/responses",
                json={"token": served.json()["token"], "answers": {"recommend": 9}},
            )
            return posted.status_code == 201

        assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 30)
        assert wait_until(answers, 10)
    finally:
        process.terminate()
        process.wait(timeout=20)
        server.cleanup()
