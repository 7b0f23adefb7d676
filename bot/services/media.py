"""The media answer of a finished job: a photo with buttons, a PNG document, or an album;
or, for an edited prompt, the new picture in place of the photo that answered it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.types import BufferedInputFile, InputMediaPhoto, Message

from bot.services.images import image_keyboard

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import ReplyParameters

    from bot.services.captions import Wording
    from bot.services.edit_records import InPlace
    from bot.services.jobs import JobContext
    from common.protocol import Result


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One try at sending a job's answer: where to, and as a reply to what."""

    context: JobContext
    result: Result
    # The request's chat, or the supergroup it became; the storage chat for inline answers.
    chat_id: int
    reply: ReplyParameters | None


async def send_media(bot: Bot, out: Outgoing, wording: Wording) -> Message | None:
    """Send the job's images; Telegram errors propagate to the sender's retry policy.

    Returns the message sent, except for an album."""
    context, result = out.context, out.result
    if context.action == "file":
        return await bot.send_document(
            out.chat_id,
            BufferedInputFile(result.image, filename=f"{context.seed}.png"),
            caption=wording.caption(context.prompt, context.seed),
            reply_parameters=out.reply,
            # Sent as a file so Telegram keeps the PNG byte for byte.
            disable_content_type_detection=True,
        )
    if context.action == "album":
        media = [
            InputMediaPhoto(
                media=BufferedInputFile(image, filename=f"{seed}.jpg"),
                caption=wording.caption(context.prompt, seed),
            )
            for image, seed in zip(result.images, context.seeds, strict=False)
        ]
        await bot.send_media_group(out.chat_id, media=media, reply_parameters=out.reply)  # type: ignore[arg-type]
        return None
    return await bot.send_photo(
        out.chat_id,
        BufferedInputFile(result.image, filename=f"{context.seed}.jpg"),
        caption=wording.caption(context.prompt, context.seed),
        reply_parameters=out.reply,
        reply_markup=image_keyboard(context.job_id, wording.translator(context.locale)),
    )


async def edit_media(bot: Bot, out: Outgoing, in_place: InPlace, wording: Wording) -> None:
    """Put an edited prompt's new picture in place of its photo: new image, new caption, the
    same buttons (their image id now names the new prompt). The reply it is stays as it was."""
    context, result = out.context, out.result
    await bot.edit_message_media(
        InputMediaPhoto(
            media=BufferedInputFile(result.image, filename=f"{context.seed}.jpg"),
            caption=wording.caption(context.prompt, context.seed),
        ),
        chat_id=out.chat_id,
        message_id=in_place.message_id,
        reply_markup=image_keyboard(in_place.image_id, wording.translator(context.locale)),
    )
