"""A Bot API that answers in-process: for code that drives the real dispatcher without
Telegram or HTTP (`bench.ingest`, `testing.rehandling`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.types import Message, User

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from aiogram import Bot
    from aiogram.methods import TelegramMethod


class LocalSession(BaseSession):
    """Answers every Bot API call at once: True, or a minimal sent message; counts the calls
    and keeps the texts of the messages sent."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.texts: list[str] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        self.calls += 1
        if method.__returning__ is bool:
            return True
        if method.__returning__ is User:
            return User(id=1, is_bot=True, first_name="Local", username="LocalBot")
        if isinstance(text := getattr(method, "text", None), str):
            self.texts.append(text)
        chat_id = getattr(method, "chat_id", 1)
        return Message.model_validate(
            {"message_id": 1, "date": 0, "chat": {"id": chat_id, "type": "private"}}
        )

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise RuntimeError("the local session serves no files")
        yield b""

    async def close(self) -> None:
        return None


def private_message(update_id: int, user: int, text: str) -> dict[str, Any]:
    """A raw update: `text` from `user` in their private chat."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "text": text,
        },
    }
