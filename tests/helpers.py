"""Small helpers shared by the HTTP-level tests."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from litestar import Litestar

ROOT = Path(__file__).resolve().parents[1]
FORMS = ROOT / "forms"
TEST_KEY = "test-signing-key-" + "x" * 32


def free_port() -> int:
    """A TCP port on loopback that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_service(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``survey-service serve`` as a real process with ``env`` on top of this one's (on a
    free port unless ``SURVEY_PORT`` is given; one process unless ``SURVEY_WORKERS`` is
    given), ready to answer: (process, base URL)."""
    env = {**os.environ, "SURVEY_PORT": str(free_port()), "SURVEY_WORKERS": "1", **env}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "survey_service", "serve"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{env['SURVEY_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the service did not become ready:\n" + log.read_text()[-3000:])


def start_smtp(*handler: str) -> tuple[int, subprocess.Popen[bytes]]:
    """aiosmtpd on a free loopback port with the given ``-c`` handler arguments."""
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", *handler]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    listening(port)
    return port, process


def listening(port: int, seconds: float = 10) -> None:
    """Wait until something accepts connections on loopback ``port`` (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


@contextlib.asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[Litestar]:
    """``app`` with its lifespan running. The lifespan is entered and left in one task of
    its own: anyio's cancel scopes inside it must be left by the task that entered them,
    and fixture set-up and tear-down run in different ones."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()  # start-up failed: raise its error here
    try:
        yield app
    finally:
        stop.set()
        await task


async def outside_a_window_edge(margin: float = 10.0) -> None:
    """Limits count in wall-clock minutes: wait for the next minute when a burst starting
    now could straddle two of them."""
    if time.time() % 60 > 60 - margin:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)


async def answer_nps(client: httpx.AsyncClient, score: int) -> int:
    """Serve nps-empathy over the JSON API and answer it with ``score``: the answer's status."""
    served = await client.get("/api/v1/surveys/nps-empathy")
    posted = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": served.json()["token"], "answers": {"recommend": score}},
    )
    return posted.status_code


def hidden(page: str, name: str) -> str:
    """The value of the hidden input ``name`` in an HTML page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


SPLIT_FORM = """\
slug = "{slug}"
languages = ["en"]
reminder_days = 3
title.en = "Split"

[[questions]]
id = "score"
type = "nps"
role = "nps"
text.en = "Recommend?"

[experiment]
key = "{slug}"
control = "a"
primary_metric = "nps"
{variants}
"""


def split_form(slug: str, weights: dict[str, int]) -> str:
    """A one-question survey whose experiment has the given variant weights."""
    variants = "".join(
        f'\n[[experiment.variants]]\nname = "{name}"\nweight = {weight}\n'
        for name, weight in weights.items()
    )
    return SPLIT_FORM.format(slug=slug, variants=variants)


SPLITS = {"split-50-50": {"a": 50, "b": 50}, "split-20-30-50": {"a": 20, "b": 30, "c": 50}}
