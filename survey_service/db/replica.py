"""Reads on a streaming replica when one is configured, on the primary otherwise.

KPI, experiment and export reads go through :class:`ReadRouter`. It measures the
replica's replay lag at most once a second and sends reads to the primary while the
replica lags more than the allowed seconds or does not answer (a read that fails on the
replica is run again on the primary). Each report is one statement, rollups and unfolded
tail together, so on a replica it is exact as of the moment the replica has replayed to:
the fold moves rows from tail to rollups in one transaction, which a replica replays
atomically too. Where a read ran and how stale it may be is put in :data:`READ_SOURCE`
for the answer's headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from survey_service.db.engine import Database, pooled
from survey_service.errors import database_unavailable
from survey_service.lib.freshness import READ_SOURCE, ReadSource

__all__ = ["ReadRouter", "open_replica"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_SECONDS = 1.0
"""How often the replica's lag is measured (reads in between use the last figure)."""

LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0.0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0.0)
END
"""
"""Replay lag in seconds: 0 when everything received is replayed; else how long ago the
last replayed transaction committed on the primary."""


async def open_replica(dsn: str, *, pool_max: int, transaction_pooler: bool) -> Database:
    """A pool on the replica that connects on first use (a replica that is down at start
    must not stop the service: reads go to the primary meanwhile)."""
    return await pooled(
        dsn,
        pool_max=pool_max,
        transaction_pooler=transaction_pooler,
        min_size=0,
        connect_timeout=2.0,  # the lag check waits for it before falling back
    )


class ReadRouter:
    """Where reads go: the replica while it is near enough, else the primary."""

    def __init__(self, primary: Database, replica: Database | None, max_lag: float) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self.lag: float | None = None  # None: the replica does not answer
        self._checked = -CHECK_SECONDS

    async def check(self) -> float | None:
        """Measure the replica's lag now; None when it does not answer."""
        if self.replica is None:
            return None
        self._checked = time.monotonic()
        try:
            self.lag = float(await self.replica.fetchval(LAG_SQL))
        except Exception as exc:
            if not database_unavailable(exc) and not isinstance(exc, TimeoutError):
                raise
            if self.lag is not None:
                log.warning("replica unreachable, reads go to the primary: %s", exc)
            self.lag = None
        return self.lag

    async def pick(self) -> Database:
        """The pool to read from now (and note it in :data:`READ_SOURCE`)."""
        if self.replica is None:
            return self.primary
        if time.monotonic() - self._checked >= CHECK_SECONDS:
            await self.check()
        if self.lag is not None and self.lag <= self.max_lag:
            READ_SOURCE.set(ReadSource(source="replica", lag_seconds=self.lag))
            return self.replica
        READ_SOURCE.set(ReadSource(source="primary", lag_seconds=0.0))
        return self.primary

    async def read(self, run: Callable[[Database], Awaitable[T]]) -> T:
        """``run`` on the replica if it may serve, else (or if it fails) on the primary."""
        db = await self.pick()
        if db is self.primary:
            return await run(db)
        try:
            return await run(db)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("read failed on the replica, running it on the primary: %s", exc)
            self.lag = None
            READ_SOURCE.set(ReadSource(source="primary", lag_seconds=0.0))
            return await run(self.primary)

    async def close(self) -> None:
        """Close the replica's pool (the primary's belongs to its owner)."""
        if self.replica is not None:
            await self.replica.close()
