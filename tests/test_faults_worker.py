"""Workers that die, hang or are stopped mid-job: every request still ends in one answer.

The slow worker (`testing/slow_worker.py`) is the real worker with a sleep before each
generation, which gives the tests a job that is certainly running when they strike.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest
import redis
from rq import Queue

from bot import texts
from testing.faults import LICENCE, is_notice, seen, wait_settled, wait_until
from tests.conftest import Stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from testing.support import Process

# Claims expire after 2 s and the bot sweeps twice a second: an abandoned job is seen in ~3 s.
FAST_RECOVERY = {"abandon_after_s": "2", "job_timeout_s": "10"}
SLOW = "testing.slow_worker"


class World(Stack):
    """A bot and Redis; each test starts the workers it needs."""

    def __init__(self, workdir: Path, model: Path) -> None:
        super().__init__(
            workdir,
            model,
            worker=False,
            sweep_interval_s="0.5",
            abandon_after_s=FAST_RECOVERY["abandon_after_s"],
            job_timeout_s=FAST_RECOVERY["job_timeout_s"],
        )

    def add_worker(self, slow_s: float | None = None) -> Process:
        if slow_s is None:
            return self.start_worker(**FAST_RECOVERY)
        return self.spawn.worker(
            self.redis.url,
            self.model,
            module=SLOW,
            slow_generation_s=str(slow_s),
            warmup="false",
            **FAST_RECOVERY,
        )

    def redis_queue_length(self) -> int:
        client = redis.Redis.from_url(self.redis.url)
        try:
            return int(client.llen(Queue("imagine", connection=client).key))
        finally:
            client.close()

    def stop_workers(self) -> None:
        for process in self.spawn.started:
            if process.module == SLOW and process.proc.poll() is None:
                process.proc.kill()  # it would finish its long sleep before stopping
            if process.module != "bot":
                process.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[World]:
    running = World(tmp_path_factory.mktemp("faults-worker"), tiny_model)
    yield running
    running.close()


@pytest.fixture(autouse=True)
def own_workers(world: World) -> Iterator[None]:
    """Each test starts the workers it needs; none may take another test's jobs."""
    yield
    world.stop_workers()


def _kill(process: Process) -> None:
    process.signal(signal.SIGKILL)
    process.proc.wait(10)


def test_worker_killed_mid_job_runs_it_again_and_one_photo_arrives(world: World) -> None:
    slow = world.add_worker(slow_s=60)
    world.botapi.push_message(2001, "/imagine a fox, killed halfway", user_id=2001)
    slow.wait_for_output("slow generation started", timeout=30)
    _kill(slow)
    world.add_worker()  # a healthy worker takes over the retried job
    world.botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 2001, timeout=60)
    wait_settled(world.redis.url)
    assert seen(world.botapi, 2001) == [LICENCE, "photo"]
    assert world.bot is not None
    assert "abandoned: 1 retry left" in world.bot.output()


def test_worker_killed_on_every_try_ends_in_one_error(world: World) -> None:
    first, second = world.add_worker(slow_s=60), world.add_worker(slow_s=60)
    world.botapi.push_message(2002, "/imagine a fox that kills workers", user_id=2002)
    wait_until(lambda: "slow generation started" in first.output() + second.output())
    victim, other = (first, second) if "started" in first.output() else (second, first)
    _kill(victim)
    # The retry lands on the other worker (the only one left), which dies as well.
    other.wait_for_output("slow generation started", timeout=30)
    _kill(other)
    world.botapi.wait_for(
        lambda c: c.chat_id == 2002 and c.method == "sendMessage" and not is_notice(c),
        timeout=60,
    )
    wait_settled(world.redis.url)
    assert seen(world.botapi, 2002) == [LICENCE, texts.GENERATION_FAILED]


def test_stuck_generation_hits_the_job_timeout_and_one_error_arrives(world: World) -> None:
    slow = world.add_worker(slow_s=60)
    world.botapi.push_message(2003, "/imagine a fox that never comes", user_id=2003)
    slow.wait_for_output("slow generation started", timeout=30)
    world.botapi.wait_for(
        lambda c: c.chat_id == 2003 and c.method == "sendMessage" and not is_notice(c),
        timeout=60,
    )
    wait_settled(world.redis.url)
    # A timeout is never retried: the same prompt would hang again.
    assert seen(world.botapi, 2003) == [LICENCE, texts.GENERATION_TIMEOUT]
    assert slow.output().count("slow generation started") == 1
    _kill(slow)


def test_sigterm_finishes_the_running_job_then_exits(world: World) -> None:
    slow = world.add_worker(slow_s=1.5)
    world.botapi.push_message(2004, "/imagine a fox before closing time", user_id=2004)
    slow.wait_for_output("slow generation started", timeout=30)
    world.botapi.push_message(2005, "/imagine a fox after closing time", user_id=2005)
    wait_until(lambda: world.redis_queue_length() == 1, what="the second job queued")
    slow.signal(signal.SIGTERM)
    assert slow.proc.wait(30) == 0
    assert "stopped" in slow.output()
    world.botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 2004, timeout=30)
    # The queued job was left for the next worker, not lost.
    assert world.redis_queue_length() == 1
    world.add_worker()
    world.botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 2005, timeout=60)
    wait_settled(world.redis.url)
    for chat in (2004, 2005):
        assert seen(world.botapi, chat) == [LICENCE, "photo"]


def test_a_second_sigterm_stops_at_once_and_the_job_is_drawn_by_the_next_worker(
    world: World,
) -> None:
    slow = world.add_worker(slow_s=60)
    world.botapi.push_message(2006, "/imagine a fox for an impatient operator", user_id=2006)
    slow.wait_for_output("slow generation started", timeout=30)
    slow.signal(signal.SIGTERM)
    slow.wait_for_output("stop requested", timeout=10)
    # The first only asks the job to finish (it would take a minute); the second is final.
    # RQ takes a second one within a second for the same signal sent twice (a supervisor
    # and the terminal both passing on one Ctrl+C): an operator's comes later than that.
    time.sleep(1.5)
    slow.signal(signal.SIGTERM)
    slow.proc.wait(5)  # not the minute the job would take, nor its 10 s timeout
    assert "cold shut down" in slow.output()
    assert seen(world.botapi, 2006) == [LICENCE]
    world.add_worker()
    world.botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 2006, timeout=60)
    wait_settled(world.redis.url)
    assert seen(world.botapi, 2006) == [LICENCE, "photo"]
