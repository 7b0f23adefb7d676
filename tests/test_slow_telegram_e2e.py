"""A Bot API slower than `CLAIM_IDLE_S`, and more results than delivery slots at once.

The real bot process delivers results written straight onto the stream (no worker: what is
measured is delivery). Telegram takes 1.5 s per photo while a result counts as abandoned
after 1 s, so the sweep keeps finding entries that the read loop holds or waits to start.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import redis
from PIL import Image

from bot.delivery.results import MAX_IN_FLIGHT
from bot.intake.consumer import MAX_HANDLING
from common.failures import publish
from common.protocol import Result
from testing.faults import photos, wait_until
from testing.jobs import KEYS, job_context
from tests.conftest import Stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SEND_S = 1.5


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 90, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    running = Stack(
        tmp_path_factory.mktemp("slow-telegram"),
        tiny_model,
        worker=False,
        claim_idle_s="1",
        sweep_interval_s="0.3",
        # A local Bot API server's limits: pacing is not what this measures.
        pace_total_per_s="1000",
    )
    yield running
    running.close()


def _results_for(stack: Stack, chats: range) -> None:
    """One finished photo job per chat, as a worker would leave it."""
    client = redis.Redis.from_url(stack.redis.url)
    image = _jpeg()
    try:
        for chat_id in chats:
            context = job_context(f"a fox for chat {chat_id}", chat_id=chat_id)
            client.set(KEYS.job_context(context.job_id), context.model_dump_json(), ex=600)
            publish(client, Result(job_id=context.job_id, status="ok", image=image))
    finally:
        client.close()


def _delivered(stack: Stack) -> bool:
    client = redis.Redis.from_url(stack.redis.url)
    try:
        return client.xlen(KEYS.results) == 0
    finally:
        client.close()


def test_results_beyond_the_slots_behind_a_slow_api_arrive_once_each(slow: Stack) -> None:
    slow.botapi.fail_next("sendPhoto", status=None, delay=SEND_S, count=10_000)
    chats = range(7000, 7000 + MAX_IN_FLIGHT + 100)
    _results_for(slow, chats)
    wait_until(lambda: _delivered(slow), timeout=90, what="every result delivered")
    counts = {chat_id: len(photos(slow.botapi, chat_id)) for chat_id in chats}
    assert {n for n in counts.values()} == {1}, {c: n for c, n in counts.items() if n != 1}


def test_after_a_slow_spell_every_delivery_slot_is_free_again(slow: Stack) -> None:
    slow.botapi.fail_next("sendPhoto", status=None, delay=SEND_S, count=10_000)
    first = range(7500, 7500 + MAX_IN_FLIGHT + 100)
    _results_for(slow, first)
    wait_until(lambda: _delivered(slow), timeout=90, what="the first wave delivered")
    # A second wave of exactly as many results as there are slots: with every slot free,
    # all of them are at Telegram at once, within one slow send of the first.
    before = len(slow.botapi.calls)
    wave = range(8000, 8000 + MAX_IN_FLIGHT)
    _results_for(slow, wave)
    wait_until(lambda: _delivered(slow), timeout=90, what="the second wave delivered")
    sends = [c for c in slow.botapi.calls[before:] if c.method == "sendPhoto"]
    started = sorted(c.time for c in sends)
    together = sum(1 for t in started if t - started[0] < SEND_S)
    assert together == MAX_IN_FLIGHT
    assert all(len(photos(slow.botapi, chat_id)) == 1 for chat_id in wave)


def test_updates_beyond_the_slots_behind_a_slow_api_are_answered_once_each(
    slow: Stack,
) -> None:
    # Each /help reply takes longer than CLAIM_IDLE_S, and more updates arrive than can be
    # handled at once: the ones waiting for a slot sit idle in the inbox meanwhile.
    slow.botapi.fail_next("sendMessage", status=None, delay=SEND_S, count=MAX_HANDLING + 60)
    chats = range(9000, 9000 + MAX_HANDLING + 60)
    for chat_id in chats:
        slow.botapi.push_message(chat_id, "/help", user_id=chat_id)

    def answered() -> bool:
        return all(slow.botapi.sent(chat_id=chat_id) for chat_id in chats)

    wait_until(answered, timeout=90, what="every /help answered")
    # Anything handled twice would be answered twice by now: the second handling starts
    # before the first one's reply is back.
    wait_until(lambda: _inbox_empty(slow), timeout=30, what="the inbox drained")
    counts = {c: len(slow.botapi.sent(chat_id=c)) for c in chats}
    assert {n for n in counts.values()} == {1}, {c: n for c, n in counts.items() if n != 1}


def _inbox_empty(stack: Stack) -> bool:
    client = redis.Redis.from_url(stack.redis.url)
    try:
        return client.xlen(KEYS.inbox) == 0
    finally:
        client.close()
