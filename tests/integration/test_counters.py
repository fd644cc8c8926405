"""The shared rate-limit counters (PostgreSQL, Redis): exact across processes, many hits
a round trip."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from survey_service.db.counters import PostgresCounter
from survey_service.lib.ratelimit import BatchedCounter, RedisCounter
from tests.integration.test_instances import REDIS_URL, redis_answers

Make = Callable[[], BatchedCounter]


@pytest.fixture(params=["postgres", "redis"])
async def make(request: pytest.FixtureRequest, app: Litestar) -> AsyncIterator[Make]:
    """Counters of one store, as many as a test asks (each a process's own)."""
    if request.param == "postgres":
        yield lambda: PostgresCounter(app.state.db)
        return
    if not redis_answers():
        if os.environ.get("CI"):
            pytest.fail(f"no Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    made: list[RedisCounter] = []

    def redis() -> RedisCounter:
        made.append(RedisCounter(Redis.from_url(REDIS_URL)))
        return made[-1]

    yield redis
    for counter in made:
        await counter.close()


async def test_concurrent_hits_count_exactly_across_processes(make: Make) -> None:
    """Two counters (two processes' worth) hit two keys 120 times at once: each key's
    callers are told 1..n, each number once, and far fewer statements than hits ran."""
    first, second = make(), make()
    hot, cold = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    keys = [hot if i % 4 else cold for i in range(120)]
    counts = await asyncio.gather(
        *((first if i % 2 else second).incr(key, 60) for i, key in enumerate(keys))
    )
    for key in (hot, cold):
        told = sorted(c for c, k in zip(counts, keys, strict=True) if k == key)
        assert told == list(range(1, keys.count(key) + 1))
        assert await first.incr(key, 60) == len(told) + 1  # the store holds the total
    assert first.statements + second.statements < 24


async def test_postgres_keeps_the_total_in_its_table(app: Litestar, db: asyncpg.Connection) -> None:
    counter = PostgresCounter(app.state.db)
    key = f"test:{uuid.uuid4()}"
    await asyncio.gather(*(counter.incr(key, 60) for _ in range(30)))
    assert await db.fetchval("SELECT hits FROM rate_window WHERE key = $1", key) == 30


async def test_a_failed_statement_fails_its_callers_only(app: Litestar) -> None:
    """A statement that fails hands its error to the hits it held; the next hits count."""

    class Failing(PostgresCounter):
        async def add(self, hits: dict[str, int], windows: dict[str, int]) -> dict[str, int]:
            if self.statements == 1:
                raise ConnectionError("the database went away")
            return await super().add(hits, windows)

    counter = Failing(app.state.db)
    key = f"test:{uuid.uuid4()}"
    failed = await asyncio.gather(counter.incr(key, 60), return_exceptions=True)
    assert isinstance(failed[0], ConnectionError)
    assert await counter.incr(key, 60) == 1
