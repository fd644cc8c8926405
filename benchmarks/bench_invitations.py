"""Invitation delivery: 10,000 queued invitations drained into a local SMTP server.

Usage:

    .venv/bin/python benchmarks/bench_invitations.py [--dsn postgresql://postgres@127.0.0.1/postgres] [--n 10000]

Starts aiosmtpd (Sink handler) on loopback, queues ``n`` invitations through the API's
service, then drains the outbox with ``send_due`` (claims with SKIP LOCKED, one reused
connection per batch, status writes) and prints messages per second and the time to
drain. Beside it, in the same run: bare aiosmtplib sending the same number of ready-made
messages over one connection (the ceiling the outbox bookkeeping is measured against).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time

import aiosmtplib
from _common import ROOT, throwaway_database

from survey_service.apikeys.service import ApiKeyInfo
from survey_service.app import create_app
from survey_service.invitations.email import compose
from survey_service.invitations.sender import send_due
from survey_service.settings import Settings, SmtpSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_sink() -> tuple[int, subprocess.Popen[bytes]]:
    """aiosmtpd discarding every message, on a free loopback port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        f"127.0.0.1:{port}",
        "-c",
        "aiosmtpd.handlers.Sink",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return port, process


async def main(port: int) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    async with throwaway_database(args.dsn) as dsn:
        settings = Settings(
            database_url=dsn,
            forms_dir=str(ROOT / "forms"),
            secret_key="m" * 40,
            data_dir=tempfile.mkdtemp(),
        )
        app = create_app(settings)
        async with app.lifespan():
            service = app.state.invitations
            admin = ApiKeyInfo(
                id=0,
                name="bench",
                prefix="b",
                scopes=["admin"],
                surveys=[],
                created_at=dt.datetime.now(dt.UTC),
                revoked_at=None,
                last_used_at=None,
            )
            rows = [
                {"survey": "nps-empathy", "email": f"user{i}@example.com", "name": f"User {i}"}
                for i in range(args.n)
            ]
            start = time.perf_counter()
            result = await service.create(admin, rows)
            queue_s = time.perf_counter() - start
            smtp = SmtpSettings(
                host="127.0.0.1", port=port, sender="bench@example.com", per_second=1e6
            )
            start = time.perf_counter()
            sent = 0
            while (report := await send_due(service, smtp, batch=500)).claimed:
                sent += report.sent
            drain_s = time.perf_counter() - start
            info = app.state.surveys.survey("nps-empathy")
            message = compose(
                definition=info.definition,
                language="en",
                email="x@example.com",
                name="X",
                link="http://127.0.0.1/s/x?t=y",
                unsubscribe="http://127.0.0.1/u/1.x",
                sender="bench@example.com",
            )
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
            await client.connect()
            start = time.perf_counter()
            for _ in range(args.n):
                await client.send_message(message)
            bare_s = time.perf_counter() - start
            await client.quit()
    print(f"queued {len(result.created):,} invitations in {queue_s:.1f} s")
    print(f"{'':<34} {'messages/s':>11} {'seconds':>8}")
    print(f"{'outbox drain (send_due)':<34} {sent / drain_s:>11.0f} {drain_s:>8.1f}")
    print(f"{'bare aiosmtplib, one connection':<34} {args.n / bare_s:>11.0f} {bare_s:>8.1f}")
    print(f"outbox / bare: {(sent / drain_s) / (args.n / bare_s):.2f}")


if __name__ == "__main__":
    sink_port, sink = start_sink()
    try:
        asyncio.run(main(sink_port))
    finally:
        sink.terminate()
        sink.wait(timeout=10)
