"""Prompts: /imagine anywhere, plain text in private, `@Bot prompt` in groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.filters import MentionsMe
from bot.handlers.answers import answer
from bot.requests.imagine import Ask
from bot.shared.origin import GROUPS

if TYPE_CHECKING:
    from bot.requests.imagine import ImagineService
    from bot.shared.origin import Origin

router = Router(name=__name__)


@router.message(Command("imagine"))
async def imagine_command(
    message: Message, command: CommandObject, origin: Origin, imagine: ImagineService
) -> None:
    """Draw the prompt given after the command."""
    await answer(message, await imagine.request(Ask(origin, command.args)))


@router.message(F.chat.type == ChatType.PRIVATE, F.text, ~F.text.startswith("/"))
async def imagine_text(message: Message, origin: Origin, imagine: ImagineService) -> None:
    """Draw a plain private message."""
    await answer(message, await imagine.request(Ask(origin, message.text)))


@router.message(F.chat.type.in_(GROUPS), F.text, ~F.text.startswith("/"), MentionsMe())
async def imagine_mention(
    message: Message, prompt: str, origin: Origin, imagine: ImagineService
) -> None:
    """Draw `@Bot prompt` in a group."""
    await answer(message, await imagine.request(Ask(origin, prompt)))
