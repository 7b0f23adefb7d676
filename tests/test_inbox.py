"""The inbox against a real Redis: an update that keeps failing is dropped after five tries,
and one handled before is never told "temporarily unavailable"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aredis
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.types import Message

from bot import texts
from bot.app import build_dispatcher, build_services
from bot.config import DeliverySettings, load_settings
from bot.intake.consumer import MAX_DELIVERIES, Intake, dispatcher_feed
from bot.intake.inbox import Inbox
from testing.jobs import KEYS
from testing.support import TOKEN, free_port

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from aiogram.methods import TelegramMethod


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


class Said(BaseSession):
    """Telegram answering every call at once; keeps the texts the bot sent."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        if method.__returning__ is bool:
            return True
        self.texts.append(str(getattr(method, "text", "")))
        chat = {"id": getattr(method, "chat_id", 1), "type": "private"}
        return Message.model_validate({"message_id": 1, "date": 0, "chat": chat})

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise RuntimeError("no files here")
        yield b""

    async def close(self) -> None:
        return None


def _prompt(update_id: int, user: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "text": "/imagine a fox",
        },
    }


async def test_redis_failing_under_an_update_handled_before_gets_no_apology(
    client: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handlers' Redis is away while the inbox's answers. Handled before (its picture
    may be on the way), a prompt is told nothing and stays for another try; handled for the
    first time, one is told "temporarily unavailable" and leaves the inbox."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody there
    session = Said()
    bot = Bot(TOKEN, session=session)
    services = build_services(load_settings(), bot)
    try:
        inbox = Inbox(client, KEYS, bot.id, "bot-1")
        feed = dispatcher_feed(build_dispatcher(services), bot)
        intake = Intake(inbox, feed, DeliverySettings())
        await inbox.ensure_group()
        await inbox.record(_prompt(77, 4242))
        await intake.dispatch(await inbox.read(">", 10, block_ms=None), again=True)
        await intake.drain(10)
        assert session.texts == []
        assert await inbox.pending() == 1
        await inbox.record(_prompt(78, 4343))
        await intake.dispatch(await inbox.read(">", 10, block_ms=None))
        await intake.drain(10)
        assert session.texts == [texts.UNAVAILABLE]
        assert await inbox.pending() == 1  # only the one handled before is left
    finally:
        await services.close()
