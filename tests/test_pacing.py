"""Outbound pacing against the test Bot API's flood control, with a real Redis."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import BufferedInputFile, InputMediaPhoto
from aiogram.types.media_union import MediaUnion
from PIL import Image
from prometheus_client import REGISTRY

from bot.config import PacingSettings
from bot.outbound.pacing import Pacer, SendSkipped, manner
from bot.outbound.send_budget import SendBudget
from testing.botapi import Flood
from testing.jobs import KEYS
from testing.support import TOKEN

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from testing.botapi import FakeBotAPI


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


_PNG = _png()


class Sender:
    """A real aiogram Bot talking HTTP to the fake Bot API, paced or not."""

    def __init__(self, botapi: FakeBotAPI, redis_url: str) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(botapi.base_url))
        self.bot = Bot(TOKEN, session=session)
        self.redis = aredis.Redis.from_url(redis_url)

    def pace(self, **settings: float) -> SendBudget:
        pacing = PacingSettings.model_validate(settings)
        budget = SendBudget(self.redis, KEYS, pacing)
        self.bot.session.middleware(Pacer(budget, pacing.pace_answer_wait_s))
        return budget

    async def burst(self, chat_id: int, count: int) -> list[object]:
        sends = (self.bot.send_message(chat_id, f"message {n}") for n in range(count))
        return await asyncio.gather(*sends, return_exceptions=True)

    async def close(self) -> None:
        await self.bot.session.close()
        await self.redis.aclose()


@pytest.fixture
async def sender(botapi: FakeBotAPI, redis_url: str) -> AsyncIterator[Sender]:
    botapi.flood_mode(Flood())
    running = Sender(botapi, redis_url)
    yield running
    await running.close()


async def test_flood_mode_refuses_an_unpaced_burst_like_telegram(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    outcomes = await sender.burst(7001, 5)
    refused = [o for o in outcomes if isinstance(o, TelegramRetryAfter)]
    # Three pass at once in one chat; the rest are told to wait about the rest of the window.
    assert len(refused) == 2
    assert all(1 <= o.retry_after <= 3 for o in refused)
    assert len(botapi.throttled) == 2


async def test_paced_sends_in_one_chat_all_arrive_without_a_429(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    waits = _pace_waits()
    sender.pace()
    outcomes = await sender.burst(7002, 5)
    assert [o.text for o in outcomes] == [f"message {n}" for n in range(5)]  # type: ignore[attr-defined]
    assert botapi.throttled == []
    # Every send is in the pacing histogram; the two past the burst of three waited.
    count, total = _pace_waits()
    assert count - waits[0] == 5
    assert total - waits[1] >= 1.0


def _pace_waits() -> tuple[float, float]:
    """(sends observed, seconds waited) of `imagine_bot_send_pace_wait_seconds` so far."""
    count = REGISTRY.get_sample_value("imagine_bot_send_pace_wait_seconds_count") or 0.0
    total = REGISTRY.get_sample_value("imagine_bot_send_pace_wait_seconds_sum") or 0.0
    return count, total


async def test_the_budget_is_shared_by_every_bot_process(
    botapi: FakeBotAPI, redis_url: str
) -> None:
    botapi.flood_mode(Flood(total_per_s=4))
    first, second = Sender(botapi, redis_url), Sender(botapi, redis_url)
    try:
        first.pace(pace_total_per_s=4)
        second.pace(pace_total_per_s=4)
        # Two processes, eight chats: twice what the whole bot may send in a second.
        outcomes = await asyncio.gather(
            *(s.bot.send_message(7100 + n, "hello") for n, s in enumerate([first, second] * 4))
        )
        assert len(outcomes) == 8
        assert botapi.throttled == []
    finally:
        await first.close()
        await second.close()


async def test_a_group_at_its_limit_skips_status_and_waits_answers(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    budget = sender.pace(pace_group_per_min=2)
    group = -100_7003
    await sender.burst(group, 2)
    with manner("status"), pytest.raises(SendSkipped):
        await sender.bot.send_message(group, "In queue: #3")
    assert len(botapi.sent(chat_id=group)) == 2
    # An answer is not skipped: it waits for the minute's window to move on.
    wait_s = await budget.reserve(group, 1)
    assert 55 < wait_s <= 61


async def test_a_429_that_still_comes_is_waited_out_and_holds_the_chat(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    sender.pace(pace_chat_burst=5)
    chat = 7004
    botapi.fail_next("sendMessage", status=429, retry_after=2)
    sent = await sender.bot.send_message(chat, "a refusal, say")
    assert sent.text == "a refusal, say"
    first, second = botapi.sent(chat_id=chat, method="sendMessage")
    assert first.status == 429
    assert second.ok
    assert second.time - first.time >= 2.0
    # Telegram's wait is remembered for the chat: a status meanwhile is skipped.
    botapi.fail_next("sendMessage", status=429, retry_after=5)
    with pytest.raises(TelegramRetryAfter), manner("status"):
        await sender.bot.send_message(chat, "In queue: #2")
    with manner("status"), pytest.raises(SendSkipped):
        await sender.bot.send_message(chat, "In queue: #2")


async def test_chat_actions_and_callback_answers_are_not_paced(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    sender.pace(pace_chat_burst=1)
    before = _pace_waits()
    sent = await sender.bot.send_message(7005, "a photo with buttons")
    queries = [
        botapi.push_callback_query(7005, sent.message_id, f"press {n}")["id"] for n in range(4)
    ]
    for query_id in queries:
        await sender.bot.send_chat_action(7005, "upload_photo")
        await sender.bot.answer_callback_query(query_id)
    assert len(botapi.sent(chat_id=7005, method="sendChatAction")) == 4
    assert len(botapi.sent(method="answerCallbackQuery")) == 4
    assert botapi.throttled == []
    # Only the message waited its turn (and found it at once): the other eight calls never
    # asked the budget, so the chat's one-message burst is still spent by that one alone.
    count, total = _pace_waits()
    assert (count - before[0], total - before[1]) == (1, 0)


async def test_a_reply_that_would_wait_past_its_bound_is_dropped_not_held(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    # One a second after a burst of three: the sixth reply would wait about 3 s.
    sender.pace(pace_answer_wait_s=1.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await sender.burst(7050, 6)
    dropped = [o for o in outcomes if isinstance(o, SendSkipped)]
    assert len(dropped) >= 1
    assert loop.time() - started < 3
    assert len(botapi.sent(chat_id=7050)) == 6 - len(dropped)
    assert botapi.throttled == []


async def test_an_album_bigger_than_a_chats_burst_keeps_the_chat_for_all_its_pictures(
    sender: Sender, botapi: FakeBotAPI
) -> None:
    # One a second after a burst of three: four pictures at once owe the chat a second more,
    # so the next album waits four seconds (plus the margin), not the three of a full burst.
    budget = sender.pace()
    chat = 7060
    assert await budget.reserve(chat, 4) == 0
    wait_s = await budget.reserve(chat, 4)
    assert 4.0 < wait_s <= 4.0 + 4 * 0.25 / 3 + 0.1
    # Against Telegram's rules (the test server's bucket) two albums so paced both go.
    photos: list[MediaUnion] = [
        InputMediaPhoto(media=BufferedInputFile(_PNG, f"p{n}.png")) for n in range(4)
    ]
    await sender.bot.send_media_group(chat + 1, photos)
    await sender.bot.send_media_group(chat + 1, photos)
    assert len(botapi.sent(chat_id=chat + 1, method="sendMediaGroup")) == 2
    assert botapi.throttled == []
