"""Group commit: calls that arrive while a write is under way go into the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["GroupCommit", "Pending"]

T = TypeVar("T")
R = TypeVar("R")

Pending = tuple[T, asyncio.Future[R]]
"""An item waiting for the next write, and its caller's future."""


class GroupCommit(Generic[T, R]):
    """Many calls, one write: :meth:`submit` queues an item and waits for its result;
    items that arrive while up to ``max_running`` writes are under way go into the next
    write (at most ``max_batch`` items each; None: all that wait). No timer: a lone item
    is written at once; only items that would have waited anyway are gathered.

    ``write`` settles each item's future; if it raises, the futures it left unsettled get
    its exception. A caller that went away leaves its future done: ``write`` skips those.
    """

    def __init__(
        self,
        write: Callable[[list[Pending[T, R]]], Awaitable[None]],
        *,
        max_batch: int | None = None,
        max_running: int = 2,
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.max_running = max_running
        self.writes = 0
        """How many writes ran so far (each holds one or more items)."""
        self._waiting: list[Pending[T, R]] = []
        self._running = 0  # counted in the drain itself: a done callback would come late
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next write; its result once that write settled it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self.max_running:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                size = self.max_batch or len(self._waiting)
                batch = self._waiting[:size]
                del self._waiting[:size]
                self.writes += 1
                try:
                    await self._write(batch)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
        finally:
            # No await between the empty queue seen above and this: an item arriving
            # meanwhile sees the count already lowered and starts a drain of its own.
            self._running -= 1
