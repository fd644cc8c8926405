"""Fixed windows on the wall clock, counted through the Counter interface."""

from __future__ import annotations

import pytest

from survey_service.lib import ratelimit
from survey_service.lib.ratelimit import Limits, MemoryCounter


class Recording(MemoryCounter):
    """A memory counter that remembers the names it was asked to count."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    async def incr(self, key: str, window: int, now: float | None = None) -> int:
        self.names.append(key)
        return await super().incr(key, window, now)


async def test_limit_per_key_and_scope_within_a_window() -> None:
    limits = Limits(Recording(), "k" * 32)
    at = 60 * 16_666 + 20.0  # 20 s into a minute
    assert [await limits.hit("client", "203.0.113.5", 3, now=at) for _ in range(3)] == [None] * 3
    assert await limits.hit("client", "203.0.113.5", 3, now=at + 10) == 30.0  # window ends
    assert await limits.hit("client", "203.0.113.6", 3, now=at) is None  # another client
    assert await limits.hit("survey", "203.0.113.5", 3, now=at) is None  # another scope
    assert await limits.hit("client", "203.0.113.5", 3, now=at + 40) is None  # next window


async def test_counter_names_never_hold_the_address() -> None:
    counter = Recording()
    await Limits(counter, "k" * 32).hit("client", "203.0.113.5", 3, now=0)
    await Limits(counter, "j" * 32).hit("client", "203.0.113.5", 3, now=0)
    first, second = counter.names
    assert "203.0.113" not in first
    assert first != second  # keyed: another secret, other names


async def test_a_failing_store_lets_the_hit_through() -> None:
    class Broken(MemoryCounter):
        async def incr(self, key: str, window: int) -> int:
            raise ConnectionError("store away")

    assert await Limits(Broken(), "k" * 32).hit("client", "x", 1) is None


async def test_memory_counter_is_bounded() -> None:
    counter = MemoryCounter(max_keys=10)
    for i in range(25):
        await counter.incr(f"k{i}", 60, now=0)
    assert len(counter._counts) <= 10


async def test_memory_counter_forgets_windows_that_ended() -> None:
    """Clients of past windows are swept out: memory follows the recent clients only."""
    counter = MemoryCounter()
    for i in range(500):
        await counter.incr(f"old{i}", 60, now=10.0)
    assert await counter.incr("old7", 60, now=11.0) == 2
    for i in range(3):
        await counter.incr(f"new{i}", 60, now=200.0)  # two windows later
    assert len(counter._counts) == 3
    assert await counter.incr("old7", 60, now=200.0) == 1


async def test_kept_digests_are_bounded_and_names_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each key's digest is kept (an HMAC per hit is avoidable work), at most
    ``_KEPT_DIGESTS`` of them; starting again changes no counter's name."""
    monkeypatch.setattr(ratelimit, "_KEPT_DIGESTS", 8)
    counter = Recording()
    limits = Limits(counter, "k" * 32)
    for i in range(20):
        await limits.hit("client", f"198.51.100.{i}", 3, now=0)
        assert len(limits._digests) <= 8
    await limits.hit("client", "198.51.100.0", 3, now=0)
    assert counter.names[-1] == counter.names[0]
    assert await counter.incr(counter.names[0], 60, now=0) == 3  # both hits on one name
