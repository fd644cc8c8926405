"""The rate-limit counter kept in PostgreSQL (see :mod:`survey_service.lib.ratelimit`)."""

from __future__ import annotations

from survey_service.db.engine import Executor

__all__ = ["PostgresCounter"]


class PostgresCounter:
    """Counts in the UNLOGGED ``rate_window`` table (a crash forgets the windows, which is
    harmless for a minute-long limit and spares the WAL)."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def incr(self, key: str, window: int) -> int:
        """See :meth:`Counter.incr`."""
        count = await self.db.fetchval(
            """
            INSERT INTO rate_window AS w (key, hits, expires_at)
            VALUES ($1, 1, now() + make_interval(secs => $2))
            ON CONFLICT (key) DO UPDATE SET hits = w.hits + 1
            RETURNING hits
            """,
            key,
            2 * window,
        )
        return int(count)

    async def ping(self) -> bool:
        """Whether the database answers (it is the service's own)."""
        return True

    async def prune(self) -> int:
        """Delete windows that ended long enough ago; return how many."""
        done = await self.db.execute("DELETE FROM rate_window WHERE expires_at < now()")
        return int(done.split()[-1])
