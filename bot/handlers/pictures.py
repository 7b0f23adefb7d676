"""Image-to-image: a picture with a caption, or a text reply to a picture.

- private chats: a photo (or image file) with a caption; any text reply to a picture;
- groups: a picture whose caption is `/imagine …`; `/imagine …` or `@Bot …` replying to a
  picture; plain text replying to one of the bot's own photos. Plain replies to other people's
  pictures stay chatter: a group must not trigger the bot by talking about a photo.

This router goes before the text prompts, which would otherwise take these messages.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.filters import MentionsMe, RepliesToMe
from bot.handlers.answers import GROUPS, notice_first_use, sender_id, tell
from bot.services.chat_actions import show_upload
from bot.services.imagine import Refused
from bot.services.play import Where
from bot.services.sources import picture_of

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.utils.i18n import I18n

    from bot.services.play import PlayService
    from bot.services.status import StatusBoard

router = Router(name=__name__)
log = logging.getLogger(__name__)
PRIVATE = F.chat.type == ChatType.PRIVATE
PICTURE = F.photo | F.document
REPLY_TO_PICTURE = F.reply_to_message.photo | F.reply_to_message.document
PLAIN_TEXT = F.text & ~F.text.startswith("/")


@router.message(Command("imagine"), PICTURE)
async def command_caption(
    message: Message,
    command: CommandObject,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """`/imagine prompt` as the caption of a picture, in any chat."""
    await transform(message, message, command.args, bot, play, status, i18n)


@router.message(Command("imagine"), REPLY_TO_PICTURE)
async def command_reply(
    message: Message,
    command: CommandObject,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """`/imagine prompt` replying to a picture, in any chat."""
    replied = message.reply_to_message
    await transform(message, replied, command.args, bot, play, status, i18n)


@router.message(PRIVATE, PICTURE, F.caption, ~F.caption.startswith("/"))
async def private_caption(
    message: Message, bot: Bot, play: PlayService, status: StatusBoard, i18n: I18n
) -> None:
    """A captioned picture in a private chat."""
    await transform(message, message, message.caption, bot, play, status, i18n)


@router.message(PRIVATE, F.photo | F.document.mime_type.startswith("image/"), ~F.caption)
async def no_caption(message: Message) -> None:
    """A picture alone: say how to use it."""
    await message.reply(_(texts.PHOTO_NEEDS_CAPTION))


@router.message(PRIVATE, PLAIN_TEXT, REPLY_TO_PICTURE)
async def private_reply(
    message: Message, bot: Bot, play: PlayService, status: StatusBoard, i18n: I18n
) -> None:
    """Text replying to a picture in a private chat."""
    replied = message.reply_to_message
    await transform(message, replied, message.text, bot, play, status, i18n)


@router.message(F.chat.type.in_(GROUPS), PLAIN_TEXT, REPLY_TO_PICTURE, MentionsMe())
async def group_mention_reply(
    message: Message,
    prompt: str,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """`@Bot prompt` replying to a picture in a group."""
    replied = message.reply_to_message
    await transform(message, replied, prompt, bot, play, status, i18n)


@router.message(F.chat.type.in_(GROUPS), PLAIN_TEXT, F.reply_to_message.photo, RepliesToMe())
async def group_reply_to_bot(
    message: Message,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """Text replying to one of the bot's own photos in a group."""
    replied = message.reply_to_message
    await transform(message, replied, message.text, bot, play, status, i18n)


async def transform(
    message: Message,
    carrier: Message | None,
    prompt: str | None,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    picture = picture_of(carrier)
    if picture is None:
        return
    group = message.chat.type in GROUPS
    where = Where(
        sender_id(message), message.chat.id, message.message_id, group, i18n.current_locale
    )
    try:
        outcome = await play.transform(bot, picture, prompt, where)
    except RedisError:
        log.exception("Redis unavailable while taking a picture")
        await message.reply(_(texts.UNAVAILABLE))
        return
    if isinstance(outcome, Refused):
        await tell(message, outcome)
        return
    await notice_first_use(message, outcome.first_use)
    await show_upload(bot, message)
    if outcome.position:
        await status.post(outcome.context, outcome.position, group)
