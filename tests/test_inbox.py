"""The inbox against a real Redis: an update that keeps failing is dropped after five tries,
and one handled before is never told "temporarily unavailable"."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aredis

from bot import texts
from bot.config import DeliverySettings
from bot.intake.consumer import MAX_DELIVERIES, Intake
from bot.intake.inbox import Inbox
from testing.jobs import KEYS
from testing.support import ROOT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    connection = aredis.Redis.from_url(redis_url)
    await connection.flushdb()
    yield connection
    await connection.aclose()


async def test_an_update_failing_every_time_is_handled_at_most_five_times(
    client: aredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises (a bug) leaves its update pending for another try; the sweep
    offers it again and again, and after MAX_DELIVERIES tries it is dropped, so one poisoned
    update cannot be retried forever."""
    tries: list[dict[str, Any]] = []

    async def broken(update: dict[str, Any]) -> None:
        tries.append(update)
        raise RuntimeError("a bug in a handler")

    inbox = Inbox(client, KEYS, 1, "bot-1")
    intake = Intake(inbox, broken, DeliverySettings())
    await inbox.ensure_group()
    await inbox.record({"update_id": 41, "message": {"text": "/imagine"}})
    await intake.dispatch(await inbox.read(">", 10, block_ms=None))
    await intake.drain(5)
    for _ in range(MAX_DELIVERIES + 2):
        # As the sweep does once the entry has been idle long enough.
        await intake.dispatch(await inbox.claim(0), again=True)
        await intake.drain(5)
    assert len(tries) == MAX_DELIVERIES
    assert await inbox.pending() == 0
    assert f"failed {MAX_DELIVERIES} times; dropped" in caplog.text


def test_redis_failing_under_an_update_handled_before_gets_no_apology(
    redis_url: str,
) -> None:
    """The handlers' Redis is away while the inbox's answers. Handled before (its picture
    may be on the way), a prompt is told nothing and stays for another try; handled for the
    first time, one is told "temporarily unavailable" and leaves the inbox."""
    done = subprocess.run(
        [sys.executable, "-m", "testing.rehandling", redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["again"] == {"said": [], "pending": 1}
    assert seen["first"] == {"said": [texts.UNAVAILABLE], "pending": 1}
