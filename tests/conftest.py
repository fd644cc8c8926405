"""Shared fixtures: a real PostgreSQL database for the whole run, dropped afterwards.

``TEST_DATABASE_URL`` (or ``DATABASE_URL``) names a server on which a fresh database is
created; without either, the embedded server (pgserver) is started in a short temp path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.app import create_app
from survey_service.db.schema import DATA_TABLES
from survey_service.settings import Settings
from tests.helpers import FORMS, SPLITS, TEST_KEY, running, split_form

FIGURES = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the figures tests measured (page weight, accessibility, assignment split)."""
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("survey_service figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def figures(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Record a line for the end-of-run figures section."""
    return pytestconfig.stash.setdefault(FIGURES, []).append


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """DSN of a server we may create databases on (its maintenance database)."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    from survey_service.db.engine import start_embedded, stop_embedded

    # A short, private path: the server's socket lives in it (sun_path limit).
    folder = tempfile.mkdtemp(prefix="sspg", dir="/tmp")
    dsn, server = start_embedded(folder)
    yield dsn
    stop_embedded(server)
    shutil.rmtree(folder, ignore_errors=True)  # about 50 MB: leave nothing behind


@pytest.fixture(scope="session")
async def database_url(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test run; dropped at the end."""
    name = "survey_test_" + secrets.token_hex(4)
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(server_dsn, name)
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the in-process app: the shipped forms plus two split-test surveys."""
    forms = tmp_path_factory.mktemp("forms")
    for path in FORMS.glob("*.toml"):
        (forms / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for slug, weights in SPLITS.items():
        (forms / f"{slug}.toml").write_text(split_form(slug, weights), encoding="utf-8")
    return Settings(
        database_url=database_url,
        data_dir=str(tmp_path_factory.mktemp("data")),
        forms_dir=str(forms),
        secret_key=TEST_KEY,
        assignment_flush_seconds=0.05,
        # Tests fold explicitly; a background fold would race them (it is tested on its own).
        rollup_interval_seconds=3600,
        # Likewise the alert job and the webhook sender: tests run them explicitly.
        alert_interval_seconds=3600,
        # Likewise the catalog refresh: tests sync other versions of the same slugs.
        catalog_refresh_seconds=3600,
        # Every test posts from the same address; the limit itself is tested on its own app.
        submit_limit_per_ip=1_000_000,
        submit_limit_per_survey=1_000_000,
        sign_in_limit=1_000_000,
        # The webhook receivers run on loopback (tests/servers.py); nothing else is allowed.
        webhook_allowed_networks="127.0.0.0/8",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app with its lifespan running (migrated database, synced forms)."""
    application = create_app(settings)
    async with running(application):
        yield application


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client driving the app in this event loop (asyncpg pools belong to the loop that made them)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def db(app: Litestar, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for checking what was stored; collected data is emptied first."""
    await app.state.surveys.recorder.flush()  # earlier tests' assignments land before the wipe
    connection = await asyncpg.connect(database_url)
    # Every table of collected data (the schema's own list), but the rollups' zone.
    tables = [t for t in DATA_TABLES if t != "rollup_state"]
    await connection.execute(f"TRUNCATE {', '.join(tables)}")
    app.state.links.forget()
    yield connection
    await connection.close()
