"""Fixed-window counters shared by every service instance: how the abuse limits are kept.

Three stores behind one interface (:class:`Limits`), chosen by ``SURVEY_LIMIT_STORE``:

- ``memory``: a dict in this process. Right for one process; N processes allow N times
  the limit.
- ``redis``: Redis or Valkey (``SURVEY_REDIS_URL``): ``INCRBY`` and ``EXPIRE``, atomic;
  the choice for several instances.
- ``postgres``: an UNLOGGED table in the service's own database, upserted
  (:mod:`survey_service.db.counters`): exact across instances with nothing else to run.

Both shared stores count the hits that arrive together in one round trip
(:class:`BatchedCounter`), exactly.

Only counted requests touch the store (form submissions, new short links, JSON form
serving), never page views. Windows are aligned to the wall clock (``floor(now /
window)``), so every instance agrees on which window a hit falls in. Keys are keyed
hashes: client addresses are never stored, not even in a counter's name.

Litestar's ``Store`` interface has get and set but no atomic increment, so two instances
counting the same client at once would lose hits; hence this small interface.
"""

from __future__ import annotations

import collections
import logging
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

from survey_service.lib.grouping import GroupCommit, Pending
from survey_service.lib.keys import derive_key, mac

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BatchedCounter", "Counter", "Limits", "MemoryCounter", "RedisCounter"]

log = logging.getLogger(__name__)


class Counter(Protocol):
    """Counts hits on a key within one window."""

    async def incr(self, key: str, window: int) -> int:
        """Add one hit to ``key`` (already window-qualified); return the window's count.
        The count may be forgotten ``window`` seconds after its window ends."""

    async def ping(self) -> bool:
        """Whether the store answers (readiness)."""


class MemoryCounter:
    """Counts in this process. Windows that ended are swept out once a window, so memory
    follows the clients of the last two windows, never more than ``max_keys`` of them."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, float]] = {}  # key: (hits, forget after)
        self._next_sweep = 0.0

    async def incr(self, key: str, window: int, now: float | None = None) -> int:
        """See :meth:`Counter.incr`."""
        moment = time.monotonic() if now is None else now
        if moment >= self._next_sweep:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > moment}
            self._next_sweep = moment + window
        if len(self._counts) >= self._max_keys and key not in self._counts:
            self._counts.clear()  # a flood of keys within one window: forget rather than grow
        hits, forget = self._counts.get(key, (0, moment + 2 * window))
        self._counts[key] = (hits + 1, forget)
        return hits + 1

    async def ping(self) -> bool:
        """Always: it is this process."""
        return True


class BatchedCounter(ABC):
    """A shared store's counting, a statement at a time: hits that arrive while one is
    under way go into the next (the answers' group commit, applied to counting). Each
    statement adds every key's hits at once (:meth:`add`), and each hit is told the count
    it would have seen alone: the key's total before the statement plus its place among
    the statement's hits on that key. Exact across processes, since every statement adds
    atomically; a submission's two hits (its client, its survey) no longer cost a round
    trip each, with every other submission queued behind them on the survey's key."""

    def __init__(self, *, max_statements: int = 2) -> None:
        self._group: GroupCommit[tuple[str, int], int] = GroupCommit(
            self._count, max_running=max_statements
        )

    @property
    def statements(self) -> int:
        """How many statements counted hits so far (each holds one or more)."""
        return self._group.writes

    @abstractmethod
    async def add(self, hits: dict[str, int], windows: dict[str, int]) -> dict[str, int]:
        """Add ``hits`` by key (each key kept ``2 * windows[key]`` seconds); the totals."""

    async def incr(self, key: str, window: int) -> int:
        """See :meth:`Counter.incr`. A failed statement fails its hits (Limits lets them
        through)."""
        return await self._group.submit((key, window))

    async def _count(self, batch: list[Pending[tuple[str, int], int]]) -> None:
        hits = collections.Counter(key for (key, _), _ in batch)
        totals = await self.add(dict(hits), {key: window for (key, window), _ in batch})
        place: collections.Counter[str] = collections.Counter()
        for (key, _), future in batch:
            place[key] += 1
            if not future.done():  # the caller went away; its hit counts all the same
                future.set_result(totals[key] - hits[key] + place[key])


class RedisCounter(BatchedCounter):
    """Counts in Redis/Valkey: per key INCRBY then EXPIRE, every key in one pipelined round
    trip (each command atomic)."""

    def __init__(self, client: Redis) -> None:
        super().__init__()
        self.client = client

    async def add(self, hits: dict[str, int], windows: dict[str, int]) -> dict[str, int]:
        """See :meth:`BatchedCounter.add`."""
        async with self.client.pipeline(transaction=False) as pipe:
            for key, count in hits.items():
                pipe.incrby(key, count)
                pipe.expire(key, 2 * windows[key])
            results = await pipe.execute()
        return {key: int(total) for key, total in zip(hits, results[::2], strict=True)}

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.client.ping())
        except Exception:  # any failure means not ready; the reason is in the logs
            return False

    async def close(self) -> None:
        """Close the connections."""
        await self.client.aclose()


_KEPT_DIGESTS = 4096
"""Keys whose digests a :class:`Limits` keeps (then it starts again): a busy minute's
clients and surveys, and a bound on memory whatever the traffic."""


class Limits:
    """At most ``limit`` hits per key in each window, counted in a :class:`Counter`."""

    def __init__(self, counter: Counter, secret: str) -> None:
        self.counter = counter
        self._key = derive_key(secret, "rate-limit")
        self._digests: dict[tuple[str, str], str] = {}  # at most _KEPT_DIGESTS

    async def hit(
        self, scope: str, key: str, limit: int, window: int = 60, now: float | None = None
    ) -> float | None:
        """Count one hit on ``key`` within ``scope`` (e.g. ``client``, ``survey``); None when
        it is within the limit, else the seconds until the window ends.

        A store that fails lets the hit through (logged; readiness reports it): these are
        abuse limits, and refusing every customer while Redis restarts would be worse."""
        moment = time.time() if now is None else now
        number = int(moment // window)
        digest = self._digests.get((scope, key))
        if digest is None:  # an HMAC per hit was a tenth of the limit's cost
            if len(self._digests) >= _KEPT_DIGESTS:
                self._digests.clear()
            digest = self._digests[scope, key] = mac(self._key, key).hex()[:32]
        name = f"ss:rl:{scope}:{digest}:{number}"
        try:
            count = await self.counter.incr(name, window)
        except Exception as exc:  # the store's own error types vary (redis, asyncpg, OS)
            log.warning("rate-limit store failed, hit allowed: %s", exc)
            return None
        if count <= limit:
            return None
        return (number + 1) * window - moment
