"""The bot's Redis client under a burst: as many commands in flight as the bot can have."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot

from bot.app import REDIS_POOL_SIZE, build_services
from bot.config import load_settings
from bot.delivery.results import MAX_IN_FLIGHT
from bot.intake.consumer import MAX_HANDLING
from testing.support import TOKEN


async def test_every_handler_and_delivery_at_once_gets_its_connections(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crowd: every handler the intake runs at once with two reads in flight, and every
    delivery with two, on the bot's one client: each command gets a connection."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", redis_url)
    bot = Bot(TOKEN)
    services = build_services(load_settings(), bot)
    try:
        burst = 2 * MAX_HANDLING + 2 * MAX_IN_FLIGHT
        assert burst <= REDIS_POOL_SIZE
        replies = await asyncio.gather(*(services.redis.ping() for _ in range(burst)))
        assert replies == [True] * burst
    finally:
        await services.close()
        await bot.session.close()
