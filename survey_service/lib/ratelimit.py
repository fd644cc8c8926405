"""Fixed-window counters shared by every service instance: how the abuse limits are kept.

Three stores behind one interface (:class:`Limits`), chosen by ``SURVEY_LIMIT_STORE``:

- ``memory``: a dict in this process. Right for one process; N processes allow N times
  the limit.
- ``redis``: Redis or Valkey (``SURVEY_REDIS_URL``): one ``INCR`` and ``EXPIRE`` per hit,
  atomic, about 0.1 ms; the choice for several instances.
- ``postgres``: an UNLOGGED table in the service's own database, one upsert per hit
  (:mod:`survey_service.db.counters`): exact across instances with nothing else to run,
  at the cost of a write per counted request.

Only counted requests touch the store (form submissions, new short links, JSON form
serving), never page views. Windows are aligned to the wall clock (``floor(now /
window)``), so every instance agrees on which window a hit falls in. Keys are keyed
hashes: client addresses are never stored, not even in a counter's name.

Litestar's ``Store`` interface has get and set but no atomic increment, so two instances
counting the same client at once would lose hits; hence this small interface.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from survey_service.lib.keys import derive_key, mac

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Counter", "Limits", "MemoryCounter", "RedisCounter"]

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


class RedisCounter:
    """Counts in Redis/Valkey: INCR then EXPIRE in one round trip (a transaction)."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    async def incr(self, key: str, window: int) -> int:
        """See :meth:`Counter.incr`."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * window)
            count, _ = await pipe.execute()
        return int(count)

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.client.ping())
        except Exception:  # any failure means not ready; the reason is in the logs
            return False

    async def close(self) -> None:
        """Close the connections."""
        await self.client.aclose()


class Limits:
    """At most ``limit`` hits per key in each window, counted in a :class:`Counter`."""

    def __init__(self, counter: Counter, secret: str) -> None:
        self.counter = counter
        self._key = derive_key(secret, "rate-limit")

    async def hit(
        self, scope: str, key: str, limit: int, window: int = 60, now: float | None = None
    ) -> float | None:
        """Count one hit on ``key`` within ``scope`` (e.g. ``client``, ``survey``); None when
        it is within the limit, else the seconds until the window ends.

        A store that fails lets the hit through (logged; readiness reports it): these are
        abuse limits, and refusing every customer while Redis restarts would be worse."""
        moment = time.time() if now is None else now
        number = int(moment // window)
        name = f"ss:rl:{scope}:{mac(self._key, key).hex()[:32]}:{number}"
        try:
            count = await self.counter.incr(name, window)
        except Exception as exc:  # the store's own error types vary (redis, asyncpg, OS)
            log.warning("rate-limit store failed, hit allowed: %s", exc)
            return None
        if count <= limit:
            return None
        return (number + 1) * window - moment
