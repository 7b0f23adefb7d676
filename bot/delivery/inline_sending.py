"""Answering an inline query with a finished job: upload once, answer with the file ids."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineQueryResultCachedPhoto, InputMediaPhoto

from bot import texts
from bot.play.inline import article

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import InlineQueryResultUnion

    from bot.delivery.captions import Wording
    from bot.delivery.media import Outgoing
    from bot.delivery.screening import Picture

log = logging.getLogger(__name__)


async def send_inline(bot: Bot, out: Outgoing, wording: Wording) -> None:
    """Upload the images to the storage chat and answer the query with them.

    A refused upload or an expired query (the user typed on, or took too long) is logged and
    dropped: there is no chat to apologise in. 5xx, 429 and network errors propagate, so the
    sender retries them like any other answer.
    """
    context, pictures = out.context, out.screened.pictures
    job = context.job_id
    answer: list[InlineQueryResultUnion] = []
    if pictures:
        try:
            file_ids = await _upload(bot, out.chat_id, pictures)
        except TelegramBadRequest as exc:
            log.error("job %s: storage chat refused the upload (%s); dropped", job, exc)
            file_ids = []
        answer = [
            InlineQueryResultCachedPhoto(
                id=f"{job[:20]}-{index}",
                photo_file_id=file_id,
                caption=wording.caption(context.prompt, picture.seed),
            )
            for index, (file_id, picture) in enumerate(zip(file_ids, pictures, strict=False))
        ]
    if not answer:
        # Flagged pictures are never offered inline: say so rather than "could not draw".
        text = texts.SAFETY_HELD_INLINE if out.screened.held else texts.GENERATION_FAILED
        answer = [article("failed", wording.text(text, context.locale))]
    try:
        await bot.answer_inline_query(
            context.inline_query_id, answer, cache_time=0, is_personal=True
        )
    except TelegramBadRequest as exc:
        log.info("job %s: inline query no longer answerable (%s)", job, exc)


async def _upload(bot: Bot, chat_id: int, pictures: tuple[Picture, ...]) -> list[str]:
    files = [BufferedInputFile(p.data, filename=f"{p.seed}.jpg") for p in pictures]
    if len(files) == 1:
        sent = [await bot.send_photo(chat_id, files[0])]
    else:
        media = [InputMediaPhoto(media=file) for file in files]
        sent = await bot.send_media_group(chat_id, media=media)  # type: ignore[arg-type]
    return [message.photo[-1].file_id for message in sent if message.photo]
