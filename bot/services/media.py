"""The media answer of a finished job: a photo with buttons, a PNG document, or an album."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram.types import BufferedInputFile, InputMediaPhoto

from bot.services.images import image_keyboard

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import ReplyParameters

    from bot.services.captions import Wording
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


async def send_media(bot: Bot, out: Outgoing, wording: Wording) -> None:
    """Send the job's images; Telegram errors propagate to the sender's retry policy."""
    context, result = out.context, out.result
    if context.action == "file":
        await bot.send_document(
            out.chat_id,
            BufferedInputFile(result.image, filename=f"{context.seed}.png"),
            caption=wording.caption(context.prompt, context.seed),
            reply_parameters=out.reply,
            # Sent as a file so Telegram keeps the PNG byte for byte.
            disable_content_type_detection=True,
        )
    elif context.action == "album":
        media = [
            InputMediaPhoto(
                media=BufferedInputFile(image, filename=f"{seed}.jpg"),
                caption=wording.caption(context.prompt, seed),
            )
            for image, seed in zip(result.images, context.seeds, strict=False)
        ]
        await bot.send_media_group(out.chat_id, media=media, reply_parameters=out.reply)  # type: ignore[arg-type]
    else:
        await bot.send_photo(
            out.chat_id,
            BufferedInputFile(result.image, filename=f"{context.seed}.jpg"),
            caption=wording.caption(context.prompt, context.seed),
            reply_parameters=out.reply,
            reply_markup=image_keyboard(context.job_id, wording.translator(context.locale)),
        )
