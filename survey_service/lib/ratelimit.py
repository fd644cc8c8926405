"""A fixed-window counter per key: how the per-survey submission limit is kept.

In process memory, like Litestar's own rate limiting here; several service processes each
keep their own windows (a shared store comes with scale-out).
"""

from __future__ import annotations

import time

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """At most ``limit`` hits per key in each ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count one hit; None when it is within the limit, else the seconds until the window
        resets (the hit is not counted)."""
        moment = time.monotonic() if now is None else now
        start, count = self._counts.get(key, (moment, 0))
        if moment - start >= self.window:
            start, count = moment, 0
        if count >= self.limit:
            return max(0.0, self.window - (moment - start))
        if len(self._counts) >= self._max_keys and key not in self._counts:
            self._counts.clear()  # a flood of keys: forget old windows rather than grow
        self._counts[key] = (start, count + 1)
        return None
