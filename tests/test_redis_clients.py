"""The bot's Redis client under a burst: commands wait for a connection, none fails."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot

from bot.app import REDIS_POOL_SIZE, build_services
from bot.config import load_settings
from testing.support import TOKEN


async def test_a_burst_past_the_pool_waits_for_connections(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More commands in flight at once than the pool has connections (a crowd's handlers
    and deliveries together): each waits its turn and all succeed."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", redis_url)
    bot = Bot(TOKEN)
    services = build_services(load_settings(), bot)
    try:
        burst = 3 * REDIS_POOL_SIZE
        replies = await asyncio.gather(*(services.redis.ping() for _ in range(burst)))
        assert replies == [True] * burst
    finally:
        await services.close()
        await bot.session.close()
