"""Tasks per stream entry: never one entry twice, never a slot lost, whatever interleaves."""

from __future__ import annotations

import asyncio

import pytest

from bot.shared.running import Running, honour_cancellation, slot_lent


async def _until(event: asyncio.Event) -> None:
    await event.wait()


async def test_an_entry_offered_while_it_waits_for_a_slot_starts_once() -> None:
    running = Running(1)
    gate = asyncio.Event()
    runs: list[bytes] = []

    async def work(name: bytes) -> None:
        runs.append(name)
        await gate.wait()

    await running.start(b"busy", work(b"busy"))
    # The read loop waits for a slot with b"x"; the sweep offers b"x" meanwhile.
    reader = asyncio.create_task(running.start(b"x", work(b"x")))
    await asyncio.sleep(0)
    assert b"x" in running
    assert await running.start(b"x", work(b"x")) is False
    gate.set()
    assert await reader is True
    await running.wait()
    assert runs == [b"busy", b"x"]
    assert len(running) == 0


async def test_two_offers_racing_for_the_last_slot_start_it_once() -> None:
    running = Running(2)
    gate = asyncio.Event()
    runs: list[bytes] = []

    async def work() -> None:
        runs.append(b"x")
        await gate.wait()

    await running.start(b"busy", _until(gate))
    both = await asyncio.gather(running.start(b"x", work()), running.start(b"x", work()))
    assert sorted(both) == [False, True]
    gate.set()
    await running.wait()
    assert runs == [b"x"]


@pytest.mark.parametrize(
    "failure", [RuntimeError("boom"), KeyError("gone"), asyncio.CancelledError()]
)
async def test_a_task_that_raises_gives_its_slot_back(failure: BaseException) -> None:
    running = Running(1)

    async def work() -> None:
        raise failure

    for _ in range(3):
        assert await asyncio.wait_for(running.start(b"x", work()), 1) is True
        await running.wait()
    assert len(running) == 0
    assert running.running == 0


async def test_a_task_cancelled_before_it_ran_gives_its_slot_back() -> None:
    running = Running(1)
    await running.start(b"x", _until(asyncio.Event()))
    task = running._tasks[b"x"]
    task.cancel()  # before its first step: the coroutine never runs
    await asyncio.gather(task, return_exceptions=True)
    assert len(running) == 0
    assert await asyncio.wait_for(running.start(b"y", asyncio.sleep(0)), 1) is True


async def test_a_waiter_cancelled_while_it_waits_holds_nothing() -> None:
    running = Running(1)
    gate = asyncio.Event()
    await running.start(b"busy", _until(gate))
    waiter = asyncio.create_task(running.start(b"x", asyncio.sleep(0)))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert b"x" not in running
    gate.set()
    await running.wait()
    assert await asyncio.wait_for(running.start(b"x", asyncio.sleep(0)), 1) is True
    await running.wait()
    assert len(running) == 0


async def test_entries_offered_twice_each_never_run_twice_at_once_and_free_every_slot() -> None:
    running = Running(8)
    active: set[bytes] = set()
    doubled: list[bytes] = []

    async def work(name: bytes) -> None:
        if name in active:
            doubled.append(name)
        active.add(name)
        await asyncio.sleep(0.001)
        active.discard(name)

    names = [str(i).encode() for i in range(200)]

    async def offer() -> None:
        for name in names:
            await running.start(name, work(name))

    await asyncio.gather(offer(), offer())
    await running.wait()
    assert doubled == []
    assert len(running) == 0
    # All eight slots are free again: eight slow tasks start without waiting.
    gate = asyncio.Event()
    for i in range(8):
        await asyncio.wait_for(running.start(f"slow{i}".encode(), _until(gate)), 1)
    assert running.running == 8
    gate.set()
    await running.wait()


async def test_held_entries_are_kept_alive_waiting_ones_included() -> None:
    running = Running(1)
    gate, twice = asyncio.Event(), asyncio.Event()
    kept: list[list[bytes]] = []

    async def keep(held: list[bytes]) -> None:
        kept.append(sorted(held))
        if len(kept) >= 2:
            twice.set()

    await running.start(b"busy", _until(gate))
    waiter = asyncio.create_task(running.start(b"waiting", asyncio.sleep(0)))
    async with running.kept_alive(keep, 0.01):
        await asyncio.wait_for(twice.wait(), 5)
    # Both the running entry and the one waiting for its slot were kept, every time.
    assert kept[:2] == [[b"busy", b"waiting"]] * 2
    gate.set()
    await waiter
    await running.wait()


async def test_a_task_waiting_with_its_slot_lent_lets_others_run_then_takes_a_slot_back() -> None:
    running = Running(1)
    waited = asyncio.Event()
    resume = asyncio.Event()
    order: list[str] = []

    async def debounce() -> None:
        async with slot_lent():
            waited.set()
            await resume.wait()
        order.append("debounce done")

    async def other() -> None:
        order.append("other ran")
        await resume.wait()

    await running.start(b"typing", debounce())
    await waited.wait()
    assert running.free == 1  # the one slot is lent while the debounce waits
    assert await asyncio.wait_for(running.start(b"chat", other()), 1) is True
    assert running.free == 0
    resume.set()
    await running.wait()
    # The debounce took a slot back only once the other task gave its up.
    assert order == ["other ran", "debounce done"]
    assert (len(running), running.free) == (0, 1)
    assert await asyncio.wait_for(running.start(b"next", asyncio.sleep(0)), 1) is True


@pytest.mark.parametrize("where", ["while lent", "while taking the slot back"])
async def test_a_task_cancelled_around_a_lent_slot_leaves_every_slot_usable(where: str) -> None:
    running = Running(1)
    lent = asyncio.Event()
    leave = asyncio.Event()

    async def debounce() -> None:
        async with slot_lent():
            lent.set()
            if where == "while lent":
                await asyncio.Event().wait()
            await leave.wait()

    await running.start(b"typing", debounce())
    await lent.wait()
    await running.start(b"busy", _until(asyncio.Event()))  # takes the lent slot
    leave.set()
    await asyncio.sleep(0)  # the debounce now waits for a slot (or still sleeps)
    running._tasks[b"typing"].cancel()
    running._tasks[b"busy"].cancel()
    await running.wait()
    assert (len(running), running.free) == (0, 1)
    # Exactly one slot, neither lost nor doubled: with one task running, none is left.
    gate = asyncio.Event()
    await running.start(b"a", _until(gate))
    assert running._slots.locked()
    gate.set()
    await running.wait()
    assert not running._slots.locked()


async def test_slot_lent_outside_a_running_task_does_nothing() -> None:
    async with slot_lent():
        pass


async def test_slots_busy_counts_tasks_at_work_and_falls_back_to_zero() -> None:
    running = Running(2)
    assert (running.busy, running.free) == (0, 2)
    lent = [asyncio.Event(), asyncio.Event()]
    resume = asyncio.Event()

    async def debounce(index: int) -> None:
        async with slot_lent():
            lent[index].set()
            await resume.wait()

    await running.start(b"a", debounce(0))
    await running.start(b"b", debounce(1))
    await asyncio.wait_for(asyncio.gather(lent[0].wait(), lent[1].wait()), 1)
    # Two debounces wait with their slots lent: nobody is at work, two more may start.
    assert (running.busy, running.free) == (0, 2)
    gate = asyncio.Event()
    await running.start(b"work", _until(gate))
    assert (running.busy, running.free) == (1, 1)
    gate.set()
    resume.set()
    await running.wait()
    assert (len(running), running.busy, running.free) == (0, 0, 2)


async def test_a_cancellation_swallowed_below_is_raised_again_and_only_then() -> None:
    # redis-py can swallow a cancellation that lands while it connects: the loop stops anyway.
    reached: list[str] = []
    waiting = asyncio.Event()

    async def loop() -> None:
        try:
            waiting.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # what such a library does
        honour_cancellation()
        reached.append("a cancelled loop went on")

    task = asyncio.create_task(loop())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    honour_cancellation()  # this task was never cancelled: it goes on
    reached.append("went on")
    assert reached == ["went on"]
