"""Image-to-image: a picture with a caption, or a text reply to a picture.

- private chats: a photo (or image file) with a caption; any text reply to a picture;
- groups: a picture whose caption is `/imagine …`; `/imagine …` or `@Bot …` replying to a
  picture; plain text replying to one of the bot's own photos. Plain replies to other people's
  pictures stay chatter: a group must not trigger the bot by talking about a photo.

This router goes before the text prompts, which would otherwise take these messages.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.filters import MentionsMe, RepliesToMe
from bot.handlers.answers import answer
from bot.requests.imagine import Ask
from bot.requests.sources import picture_of
from bot.shared.origin import GROUPS

if TYPE_CHECKING:
    from bot.outbound.replies import Replies
    from bot.requests.imagine import ImagineService
    from bot.shared.origin import Origin

router = Router(name=__name__)
PRIVATE = F.chat.type == ChatType.PRIVATE
PICTURE = F.photo | F.document
REPLY_TO_PICTURE = F.reply_to_message.photo | F.reply_to_message.document
PLAIN_TEXT = F.text & ~F.text.startswith("/")


@router.message(Command("imagine"), PICTURE)
async def command_caption(
    message: Message, command: CommandObject, origin: Origin, imagine: ImagineService
) -> None:
    """`/imagine prompt` as the caption of a picture, in any chat."""
    await transform(message, message, Ask(origin, command.args), imagine)


@router.message(Command("imagine"), REPLY_TO_PICTURE)
async def command_reply(
    message: Message, command: CommandObject, origin: Origin, imagine: ImagineService
) -> None:
    """`/imagine prompt` replying to a picture, in any chat."""
    await transform(message, message.reply_to_message, Ask(origin, command.args), imagine)


@router.message(PRIVATE, PICTURE, F.caption, ~F.caption.startswith("/"))
async def private_caption(message: Message, origin: Origin, imagine: ImagineService) -> None:
    """A captioned picture in a private chat."""
    await transform(message, message, Ask(origin, message.caption), imagine)


@router.message(PRIVATE, F.photo | F.document.mime_type.startswith("image/"), ~F.caption)
async def no_caption(message: Message, replies: Replies) -> None:
    """A picture alone: say how to use it."""
    if not await replies.first(message.chat.id, "caption"):
        return
    await message.reply(_(texts.PHOTO_NEEDS_CAPTION))


@router.message(PRIVATE, PLAIN_TEXT, REPLY_TO_PICTURE)
async def private_reply(message: Message, origin: Origin, imagine: ImagineService) -> None:
    """Text replying to a picture in a private chat."""
    await transform(message, message.reply_to_message, Ask(origin, message.text), imagine)


@router.message(F.chat.type.in_(GROUPS), PLAIN_TEXT, REPLY_TO_PICTURE, MentionsMe())
async def group_mention_reply(
    message: Message, prompt: str, origin: Origin, imagine: ImagineService
) -> None:
    """`@Bot prompt` replying to a picture in a group."""
    await transform(message, message.reply_to_message, Ask(origin, prompt), imagine)


@router.message(F.chat.type.in_(GROUPS), PLAIN_TEXT, F.reply_to_message.photo, RepliesToMe())
async def group_reply_to_bot(message: Message, origin: Origin, imagine: ImagineService) -> None:
    """Text replying to one of the bot's own photos in a group."""
    await transform(message, message.reply_to_message, Ask(origin, message.text), imagine)


async def transform(
    message: Message, carrier: Message | None, ask: Ask, imagine: ImagineService
) -> None:
    """Image-to-image from the picture `carrier` holds."""
    picture = picture_of(carrier)
    if picture is None:
        return
    ask = dataclasses.replace(ask, picture=picture)
    await answer(message, await imagine.request(ask))
