"""Background work on stream entries: one task per entry, a bounded number at once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Coroutine


def honour_cancellation() -> None:
    """Raise if this task was cancelled: redis-py can swallow a cancellation that lands
    while it opens a connection, which would leave a loop running after shutdown."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Running:
    """Tasks keyed by stream entry id; `start` waits while `limit` are running, so a slow
    chat (or handler) slows reading instead of growing memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._tasks: dict[bytes, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(limit)

    def __contains__(self, entry_id: bytes) -> bool:
        return entry_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    async def start(self, entry_id: bytes, work: Coroutine[object, object, None]) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(work)
        self._tasks[entry_id] = task
        task.add_done_callback(lambda _: self._finished(entry_id))

    def _finished(self, entry_id: bytes) -> None:
        del self._tasks[entry_id]
        self._slots.release()

    async def wait(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Until the tasks running now are done (or `timeout` passed)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout)
