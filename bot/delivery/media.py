"""The media answer of a finished job: a photo with buttons, a PNG document, or an album;
or, for an edited prompt, the new picture in place of the photo that answered it.

What is sent is what the chat's safety policy lets through (`screening.py`): flagged photos
may carry a spoiler, held-back pictures are left out, and when all are held the requester
gets one short notice instead (or nothing, if they heard one a moment ago).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.exceptions import AiogramError
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message

from bot import texts
from bot.outbound.pacing import PaceWait
from bot.play.buttons import image_keyboard

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import ReplyParameters

    from bot.delivery.captions import Wording
    from bot.delivery.screening import Screened
    from bot.play.edit_records import InPlace
    from bot.requests.jobs import JobContext
    from common.protocol import Result


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One try at sending a job's answer: where to, and as a reply to what."""

    context: JobContext
    result: Result
    # The request's chat, or the supergroup it became; the storage chat for inline answers.
    chat_id: int
    reply: ReplyParameters | None
    screened: Screened

    @property
    def thread_id(self) -> int | None:
        """The forum topic asked in: a send that is no reply (its message is gone) still
        lands there, not in General. None in another chat (the supergroup a group became)."""
        return self.context.origin.thread_id if self.chat_id == self.context.chat_id else None


async def send_media(bot: Bot, out: Outgoing, wording: Wording) -> Message | None:
    """Send the job's images; Telegram errors propagate to the sender's retry policy.

    Returns the message sent, except for an album or a notice that pictures were held."""
    sent = await _send_pictures(bot, out, wording)
    if out.screened.held and out.screened.pictures:
        # The pictures are out; a failed (or paced) notice must not send them again on a retry.
        with contextlib.suppress(AiogramError, PaceWait):
            await _held(bot, out, wording)
    return sent


async def _send_pictures(bot: Bot, out: Outgoing, wording: Wording) -> Message | None:
    context, pictures = out.context, out.screened.pictures
    if not pictures:
        await _held(bot, out, wording)
        return None
    first = pictures[0]
    caption = wording.caption(context, first.seed, out.screened.drawn)
    if context.action == "file":
        return await bot.send_document(
            out.chat_id,
            BufferedInputFile(first.data, filename=f"{first.seed}{_size(context)}.png"),
            caption=caption,
            reply_parameters=out.reply,
            message_thread_id=out.thread_id,
            # Sent as a file so Telegram keeps the PNG byte for byte.
            disable_content_type_detection=True,
        )
    if len(pictures) > 1:
        media = [
            InputMediaPhoto(
                media=BufferedInputFile(picture.data, filename=f"{picture.seed}.jpg"),
                caption=wording.caption(context, picture.seed, out.screened.drawn),
                has_spoiler=picture.spoiler or None,
            )
            for picture in pictures
        ]
        await bot.send_media_group(
            out.chat_id,
            media=media,  # type: ignore[arg-type]
            reply_parameters=out.reply,
            message_thread_id=out.thread_id,
        )
        return None
    # Only a photo job's own picture has the record its buttons need.
    translate = wording.translator(context.locale)
    keyboard = image_keyboard(context.job_id, translate, upscaled=context.upscaled)
    return await bot.send_photo(
        out.chat_id,
        BufferedInputFile(first.data, filename=f"{first.seed}{_size(context)}.jpg"),
        caption=caption,
        reply_parameters=out.reply,
        message_thread_id=out.thread_id,
        reply_markup=keyboard if context.action == "photo" else None,
        has_spoiler=first.spoiler or None,
    )


def _size(context: JobContext) -> str:
    """The file name's mark of a 2× picture, so a saved 2× and its 512 keep apart."""
    return "-2x" if context.upscaled else ""


async def _held(bot: Bot, out: Outgoing, wording: Wording) -> None:
    if out.screened.tell:
        text = wording.text(texts.SAFETY_HELD, out.context.locale)
        await bot.send_message(
            out.chat_id, text, reply_parameters=out.reply, message_thread_id=out.thread_id
        )


async def edit_media(bot: Bot, out: Outgoing, in_place: InPlace, wording: Wording) -> None:
    """Put an edited prompt's new picture in place of its photo: new image, new caption, the
    same buttons (their image id now names the new prompt). The reply it is stays as it was.
    The sender only edits in a picture the chat's policy lets through (`out.screened`)."""
    context, (picture, *_) = out.context, out.screened.pictures
    await bot.edit_message_media(
        InputMediaPhoto(
            media=BufferedInputFile(picture.data, filename=f"{picture.seed}.jpg"),
            caption=wording.caption(context, picture.seed, out.screened.drawn),
            has_spoiler=picture.spoiler or None,
        ),
        chat_id=out.chat_id,
        message_id=in_place.message_id,
        reply_markup=image_keyboard(in_place.image_id, wording.translator(context.locale)),
    )
