"""The service behind PgBouncer in transaction pooling mode, a real pgbouncer process:
forms, answers, the fold, KPIs, invitations and erasure all work when consecutive
transactions land on different server connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

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
from tests.servers import pgbouncer


@pytest.fixture(scope="module")
def pgbouncer_port(server_dsn: str) -> Iterator[int]:
    """pgbouncer in front of the test server."""
    with pgbouncer(server_dsn) as port:
        yield port


@pytest.fixture
async def pooled_app(
    pgbouncer_port: int, settings: Settings, database_url: str, db: asyncpg.Connection
) -> AsyncIterator[Litestar]:
    """The app with DATABASE_URL on pgbouncer, migrations on the direct connection."""
    port = pgbouncer_port
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
    async with running(app):
        yield app


async def test_everything_works_through_pgbouncer_in_transaction_mode(
    pooled_app: Litestar, db: asyncpg.Connection
) -> None:
    transport = httpx.ASGITransport(app=pooled_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answers = [answer_nps(client, i % 11) for i in range(40)]
        assert await asyncio.gather(*answers) == [201] * 40
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
