"""The rate-limit counter kept in PostgreSQL (see :mod:`survey_service.lib.ratelimit`)."""

from __future__ import annotations

import asyncio
import collections

from survey_service.db.engine import Executor

__all__ = ["PostgresCounter"]

_Waiting = tuple[str, int, "asyncio.Future[int]"]
"""A hit waiting for the next statement: its key, its window, its caller."""

_ADD = """
INSERT INTO rate_window AS w (key, hits, expires_at)
SELECT key, hits, now() + make_interval(secs => seconds)
FROM unnest($1::text[], $2::int[], $3::int[]) AS t(key, hits, seconds)
ORDER BY key
ON CONFLICT (key) DO UPDATE SET hits = w.hits + EXCLUDED.hits
RETURNING key, hits
"""


class PostgresCounter:
    """Counts in the UNLOGGED ``rate_window`` table (a crash forgets the windows, which is
    harmless for a minute-long limit and spares the WAL), exactly, across every process.

    Hits that arrive while a statement is under way go into the next one (the answers'
    group commit, applied to counting): one statement adds each key's hits at once, and
    every hit is told the count it would have seen one at a time (the total before the
    statement plus its place among the statement's hits on that key). A submission's two
    hits (its client, its survey) no longer cost two round trips each on a pooled
    connection with every other submission queued on the survey's row. Keys are added in
    order, so two processes' statements never wait on each other in a cycle.
    """

    def __init__(self, db: Executor, *, max_statements: int = 2) -> None:
        self.db = db
        self.max_statements = max_statements
        self.statements = 0
        """How many statements counted hits so far (each holds one or more)."""
        self._waiting: list[_Waiting] = []
        self._draining = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def incr(self, key: str, window: int) -> int:
        """See :meth:`Counter.incr`."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, window, future))
        if self._draining < self.max_statements:
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._add(batch)
                except Exception as exc:  # each caller decides (Limits lets the hit through)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
        finally:
            self._draining -= 1  # no await since the queue was seen empty

    async def _add(self, batch: list[_Waiting]) -> None:
        self.statements += 1
        hits = collections.Counter(key for key, _, _ in batch)
        windows = {key: window for key, window, _ in batch}
        keys = sorted(hits)
        rows = await self.db.fetch(
            _ADD, keys, [hits[k] for k in keys], [2 * windows[k] for k in keys]
        )
        totals = {row["key"]: int(row["hits"]) for row in rows}
        place: collections.Counter[str] = collections.Counter()
        for key, _, future in batch:
            place[key] += 1
            if not future.done():  # the caller went away; its hit counts all the same
                future.set_result(totals[key] - hits[key] + place[key])

    async def ping(self) -> bool:
        """Whether the database answers (it is the service's own)."""
        return True

    async def prune(self) -> int:
        """Delete windows that ended long enough ago; return how many."""
        done = await self.db.execute("DELETE FROM rate_window WHERE expires_at < now()")
        return int(done.split()[-1])
