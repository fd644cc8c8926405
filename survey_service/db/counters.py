"""The rate-limit counter kept in PostgreSQL (see :mod:`survey_service.lib.ratelimit`)."""

from __future__ import annotations

from survey_service.db.engine import Executor
from survey_service.lib.ratelimit import BatchedCounter

__all__ = ["PostgresCounter"]

# Keys in order: two processes' statements never wait on each other's rows in a cycle.
_ADD = """
INSERT INTO rate_window AS w (key, hits, expires_at)
SELECT key, hits, now() + make_interval(secs => seconds)
FROM unnest($1::text[], $2::int[], $3::int[]) AS t(key, hits, seconds)
ORDER BY key
ON CONFLICT (key) DO UPDATE SET hits = w.hits + EXCLUDED.hits
RETURNING key, hits
"""


class PostgresCounter(BatchedCounter):
    """Counts in the UNLOGGED ``rate_window`` table (a crash forgets the windows, which is
    harmless for a minute-long limit and spares the WAL): one upsert per statement of
    hits (:class:`~survey_service.lib.ratelimit.BatchedCounter`)."""

    def __init__(self, db: Executor) -> None:
        super().__init__()
        self.db = db

    async def add(self, hits: dict[str, int], windows: dict[str, int]) -> dict[str, int]:
        """See :meth:`BatchedCounter.add`."""
        keys = sorted(hits)
        rows = await self.db.fetch(
            _ADD, keys, [hits[k] for k in keys], [2 * windows[k] for k in keys]
        )
        return {row["key"]: int(row["hits"]) for row in rows}

    async def ping(self) -> bool:
        """Whether the database answers (it is the service's own)."""
        return True

    async def prune(self) -> int:
        """Delete windows that ended long enough ago; return how many."""
        done = await self.db.execute("DELETE FROM rate_window WHERE expires_at < now()")
        return int(done.split()[-1])
