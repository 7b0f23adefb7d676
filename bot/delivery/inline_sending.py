"""Answering an inline query with a finished job: upload once, answer with the file ids.

Telegram lets a bot post about 20 messages a minute in one group or channel, and an album
costs one per picture: one storage chat serves five 4-picture answers a minute. With several
(`STORAGE_CHAT_ID=id1,id2,...`) each upload goes to the first of them, starting from a
different one per job, that has room right now (pacing manner "try"); only when none has
does it wait for the soonest turn and try them all again. Each storage chat adds five answers a
minute, up to the bot's total send pace.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineQueryResultCachedPhoto, InputMediaPhoto

from bot import texts
from bot.outbound.pacing import RESULT_WAIT_S, PaceWait, SendSkipped, manner
from bot.play.inline import article

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import InlineQueryResultUnion

    from bot.delivery.captions import Wording
    from bot.delivery.media import Outgoing
    from bot.delivery.screening import Picture

log = logging.getLogger(__name__)


async def send_inline(bot: Bot, out: Outgoing, wording: Wording, storage: tuple[int, ...]) -> None:
    """Upload the images to a storage chat and answer the query with them.

    A refused upload or an expired query (the user typed on, or took too long) is logged and
    dropped: there is no chat to apologise in. 5xx, 429 and network errors propagate, so the
    sender retries them like any other answer.
    """
    context, pictures = out.context, out.screened.pictures
    job = context.job_id
    answer: list[InlineQueryResultUnion] = []
    if pictures:
        try:
            file_ids = await _upload_somewhere(
                bot, _order(storage or (out.chat_id,), job), pictures
            )
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            log.error("job %s: no storage chat took the upload (%s); dropped", job, exc)
            file_ids = []
        answer = [
            InlineQueryResultCachedPhoto(
                id=f"{job[:20]}-{index}",
                photo_file_id=file_id,
                caption=wording.caption(context, picture.seed, out.screened.drawn),
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


def _order(storage: tuple[int, ...], job: str) -> tuple[int, ...]:
    """The storage chats, starting from one of them picked by the job id: spread evenly."""
    start = zlib.crc32(job.encode()) % len(storage)
    return storage[start:] + storage[:start]


async def _upload_somewhere(
    bot: Bot, chats: tuple[int, ...], pictures: tuple[Picture, ...]
) -> list[str]:
    """Upload to the first chat with room now. When none has, wait for the turn that comes
    soonest (at most `RESULT_WAIT_S`, else `PaceWait` hands the wait to the sender) and try
    them all again: deliveries run side by side, and another may take that very turn. A chat
    that refuses the bot (removed from it, a wrong id) is logged and passed over, so one bad
    id does not stop the rest."""
    while True:
        refusal: TelegramBadRequest | TelegramForbiddenError | None = None
        waits: list[float] = []
        for chat in chats:
            try:
                with manner("try"):
                    return await _upload(bot, chat, pictures)
            except SendSkipped as exc:
                waits.append(exc.wait_s)
            except TelegramRetryAfter as exc:
                waits.append(float(exc.retry_after))
            except (TelegramBadRequest, TelegramForbiddenError) as exc:
                log.error("storage chat %s refused an upload: %s", chat, exc)
                refusal = exc
        if not waits:
            assert refusal is not None  # chats is never empty
            raise refusal
        soonest = max(0.05, min(waits))
        if soonest > RESULT_WAIT_S:
            raise PaceWait(soonest)
        await asyncio.sleep(soonest)


async def _upload(bot: Bot, chat_id: int, pictures: tuple[Picture, ...]) -> list[str]:
    files = [BufferedInputFile(p.data, filename=f"{p.seed}.jpg") for p in pictures]
    if len(files) == 1:
        sent = [await bot.send_photo(chat_id, files[0])]
    else:
        media = [InputMediaPhoto(media=file) for file in files]
        sent = await bot.send_media_group(chat_id, media=media)  # type: ignore[arg-type]
    return [message.photo[-1].file_id for message in sent if message.photo]
