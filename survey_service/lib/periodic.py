"""A background job run every few seconds inside the service process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``job`` every ``interval`` seconds from start() to stop(); a failing run is
    logged and retried at the next tick (e.g. while the database restarts)."""

    def __init__(self, job: Callable[[], Awaitable[object]], interval: float, name: str) -> None:
        self._job = job
        self._interval = interval
        self._name = name
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._job()
            except Exception:
                log.exception("%s failed; retrying in %.1f s", self._name, self._interval)
