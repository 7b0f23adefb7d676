"""The media answer of a finished job: a photo with buttons, a PNG document, or an album."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.types import BufferedInputFile, InputMediaPhoto

from bot.services.captions import build_caption
from bot.services.images import image_keyboard

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiogram import Bot
    from aiogram.types import ReplyParameters

    from bot.services.jobs import JobContext
    from common.protocol import Result


async def send_media(
    bot: Bot,
    context: JobContext,
    result: Result,
    chat_id: int,
    reply: ReplyParameters | None,
    footer: str,
    translate: Callable[[str, str], str],
) -> None:
    """Send the job's images; Telegram errors propagate to the sender's retry policy."""
    if context.action == "file":
        await bot.send_document(
            chat_id,
            BufferedInputFile(result.image, filename=f"{context.seed}.png"),
            caption=build_caption(context.prompt, context.seed, footer),
            reply_parameters=reply,
            # Sent as a file so Telegram keeps the PNG byte for byte.
            disable_content_type_detection=True,
        )
    elif context.action == "album":
        seeds = context.seeds or (context.seed,)
        media = [
            InputMediaPhoto(
                media=BufferedInputFile(image, filename=f"{seed}.jpg"),
                caption=build_caption(context.prompt, seed, footer),
            )
            for image, seed in zip(result.images, seeds, strict=False)
        ]
        await bot.send_media_group(chat_id, media=media, reply_parameters=reply)  # type: ignore[arg-type]
    else:
        await bot.send_photo(
            chat_id,
            BufferedInputFile(result.image, filename=f"{context.seed}.jpg"),
            caption=build_caption(context.prompt, context.seed, footer),
            reply_parameters=reply,
            reply_markup=image_keyboard(
                context.job_id, lambda text: translate(text, context.locale)
            ),
        )
