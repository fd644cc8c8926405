"""The PostgreSQL rate-limit counter: exact across processes, many hits a statement."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from litestar import Litestar

from survey_service.db.counters import PostgresCounter


async def test_concurrent_hits_count_exactly_across_processes(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """Two counters (two processes' worth) hit two keys 120 times at once: each key's
    callers are told 1..n, each number once, the table holds n, and far fewer statements
    than hits ran."""
    first, second = PostgresCounter(app.state.db), PostgresCounter(app.state.db)
    hot, cold = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    keys = [hot if i % 4 else cold for i in range(120)]
    counts = await asyncio.gather(
        *((first if i % 2 else second).incr(key, 60) for i, key in enumerate(keys))
    )
    for key in (hot, cold):
        told = sorted(c for c, k in zip(counts, keys, strict=True) if k == key)
        assert told == list(range(1, keys.count(key) + 1))
        assert await db.fetchval("SELECT hits FROM rate_window WHERE key = $1", key) == len(told)
    assert first.statements + second.statements < 20


async def test_a_failed_statement_fails_its_callers_only(app: Litestar) -> None:
    """A statement that fails hands its error to the hits it held; the next hits count."""

    class Failing(PostgresCounter):
        async def _add(self, batch: list[tuple[str, int, asyncio.Future[int]]]) -> None:
            if self.statements == 0:
                self.statements += 1
                raise ConnectionError("the database went away")
            await super()._add(batch)

    counter = Failing(app.state.db, max_statements=1)
    key = f"test:{uuid.uuid4()}"
    failed = await asyncio.gather(counter.incr(key, 60), return_exceptions=True)
    assert isinstance(failed[0], ConnectionError)
    assert await counter.incr(key, 60) == 1
