"""/start and /help: what the bot does, its commands and the licence notice."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot import texts

router = Router(name=__name__)


@router.message(CommandStart())
@router.message(Command("help"))
async def help_message(message: Message) -> None:
    """Explain the bot."""
    await message.answer(texts.HELP)
