"""Background work on stream entries: one task per entry, a bounded number at once."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine


def honour_cancellation() -> None:
    """Raise if this task was cancelled: redis-py can swallow a cancellation that lands
    while it opens a connection, which would leave a loop running after shutdown."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Slot:
    """The slot of one running task, and whether the task holds it now (see `slot_lent`)."""

    def __init__(self, owner: Running) -> None:
        self.owner = owner
        self.held = True


_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("running_slot", default=None)


@contextlib.asynccontextmanager
async def slot_lent() -> AsyncIterator[None]:
    """While inside, the current `Running` task gives its slot to others: for a wait that
    does no work (a debounce), so waiting users never keep other chats' updates out. The
    entry stays held (and kept alive) meanwhile; on leaving, the task waits for a slot
    again. Outside a `Running` task it does nothing."""
    slot = _SLOT.get()
    if slot is None or not slot.held:
        yield
        return
    slot.owner._lend(slot)
    yield  # on an exception (cancellation included) the slot stays given back
    await slot.owner._take_back(slot)


class Running:
    """Tasks keyed by stream entry id, at most `limit` at once; a slow chat (or handler)
    slows reading instead of growing memory.

    An entry is *held* from the moment `start` is called until its task is done, waiting for
    a slot included: the check and the hold are one step (no await between them), so an entry
    offered twice (by the read loop and by a sweep that found it idle) runs once. The slot and
    the hold are given back by the task's done-callback, whatever the work raised and also
    when the task was cancelled before it ran.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: set[bytes] = set()
        self._tasks: dict[bytes, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._lent = 0  # tasks running without their slot (`slot_lent`)

    def __contains__(self, entry_id: bytes) -> bool:
        return entry_id in self._held

    def __len__(self) -> int:
        """Entries held: running, or waiting for a slot."""
        return len(self._held)

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def busy(self) -> int:
        """Slots held by tasks doing work (or waited for): what the `slots_busy` gauge shows,
        back to 0 whenever the bot is idle."""
        return self.limit - self.free

    @property
    def free(self) -> int:
        """Slots nobody holds or waits for: how many more entries to take on now."""
        return max(0, self.limit - len(self._held) + self._lent)

    async def start(self, entry_id: bytes, work: Coroutine[object, object, None]) -> bool:
        """Run `work` for the entry once a slot is free; False (and `work` closed unrun)
        when the entry is already held here."""
        if entry_id in self._held:
            work.close()
            return False
        self._held.add(entry_id)
        try:
            await self._slots.acquire()
        except BaseException:
            self._held.discard(entry_id)
            work.close()
            raise
        slot = _Slot(self)
        context = contextvars.copy_context()
        context.run(_SLOT.set, slot)
        task = asyncio.create_task(work, context=context)
        self._tasks[entry_id] = task
        task.add_done_callback(lambda _: self._finished(entry_id, slot))
        return True

    def _finished(self, entry_id: bytes, slot: _Slot) -> None:
        self._tasks.pop(entry_id, None)
        self._held.discard(entry_id)
        if slot.held:
            slot.held = False
            self._slots.release()
        else:
            self._lent -= 1

    def _lend(self, slot: _Slot) -> None:
        slot.held = False
        self._lent += 1
        self._slots.release()

    async def _take_back(self, slot: _Slot) -> None:
        await self._slots.acquire()  # cancelled here: no slot taken, `_finished` counts it lent
        self._lent -= 1
        slot.held = True

    @contextlib.asynccontextmanager
    async def kept_alive(
        self, keep: Callable[[list[bytes]], Awaitable[None]], every_s: float
    ) -> AsyncIterator[None]:
        """While inside: `keep` is handed every held entry every `every_s` (on a stream:
        their idle time reset, so no sweep takes what is held here). `keep` must not raise."""

        async def keeper() -> None:
            while True:
                await asyncio.sleep(every_s)
                if self._held:
                    await keep(list(self._held))

        task = asyncio.create_task(keeper())
        try:
            yield
        finally:
            task.cancel()

    async def wait(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Until the tasks running now are done (or `timeout` passed)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout)
