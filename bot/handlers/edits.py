"""Edited prompts: the same messages the prompt routers take, edited, are drawn again.

The filters mirror `pictures.py` and `imagine.py`, in the same order: `/imagine …` anywhere
(with the picture it carries or replies to), a captioned picture or plain text in private, and
in groups `@Bot …` or a reply to one of the bot's photos. An edit that no longer matches (the
command was removed in a group, a caption deleted) is not a prompt any more and is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.filters import MentionsMe, RepliesToMe
from bot.handlers.answers import answer
from bot.handlers.pictures import PICTURE, PLAIN_TEXT, PRIVATE
from bot.requests.imagine import Ask
from bot.requests.sources import picture_of
from bot.shared.origin import GROUPS

if TYPE_CHECKING:
    from bot.play.edits import EditService
    from bot.requests.sources import Picture
    from bot.shared.origin import Origin

router = Router(name=__name__)


def _picture(message: Message) -> Picture | None:
    """The picture to redraw: the message's own, or the one it replies to."""
    return picture_of(message) or picture_of(message.reply_to_message)


async def _redraw(message: Message, ask: Ask, edits: EditService) -> None:
    outcome = await edits.redraw(message, ask)
    if outcome is not None:
        await answer(message, outcome)


@router.edited_message(Command("imagine"))
async def imagine_command(
    message: Message, command: CommandObject, origin: Origin, edits: EditService
) -> None:
    """An edited `/imagine prompt`, also as a caption or a reply to a picture."""
    await _redraw(message, Ask(origin, command.args, picture=_picture(message)), edits)


@router.edited_message(PRIVATE, PICTURE, F.caption, ~F.caption.startswith("/"))
async def private_caption(message: Message, origin: Origin, edits: EditService) -> None:
    """The edited caption of a picture in a private chat."""
    await _redraw(message, Ask(origin, message.caption, picture=_picture(message)), edits)


@router.edited_message(PRIVATE, PLAIN_TEXT)
async def private_text(message: Message, origin: Origin, edits: EditService) -> None:
    """An edited plain message in a private chat, also a reply to a picture."""
    await _redraw(message, Ask(origin, message.text, picture=_picture(message)), edits)


@router.edited_message(F.chat.type.in_(GROUPS), PLAIN_TEXT, MentionsMe())
async def group_mention(message: Message, prompt: str, origin: Origin, edits: EditService) -> None:
    """An edited `@Bot prompt` in a group, also a reply to a picture."""
    await _redraw(message, Ask(origin, prompt, picture=_picture(message)), edits)


@router.edited_message(
    F.chat.type.in_(GROUPS), PLAIN_TEXT, F.reply_to_message.photo, RepliesToMe()
)
async def group_reply_to_bot(message: Message, origin: Origin, edits: EditService) -> None:
    """An edited reply to one of the bot's photos in a group."""
    await _redraw(message, Ask(origin, message.text, picture=_picture(message)), edits)
