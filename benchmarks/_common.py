"""What every benchmark script needs: a throwaway database on a real PostgreSQL."""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@asynccontextmanager
async def throwaway_database(server: str | None) -> AsyncIterator[str]:
    """A fresh database on ``server`` (default: the embedded one), dropped afterwards."""
    if server is None:
        from survey_service.db.engine import embedded_dsn

        server = embedded_dsn(tempfile.mkdtemp(prefix="ssb", dir="/tmp"))
    name = "survey_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path="/" + name))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
