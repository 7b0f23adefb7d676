"""Sending one result to Telegram, and what to do when Telegram says no.

| Telegram answers                   | What happens                                          |
| ---------------------------------- | ----------------------------------------------------- |
| (not asked: send budget spent)     | wait for a turn (`bot/outbound/`); not a failure      |
| 429 Too Many Requests              | wait `retry_after`, try again                         |
| 5xx, timeout, network error        | try again after 1, 2, 4… s (at most `send_attempts`)  |
| 400 message to be replied not found | send the same without the reply                      |
| 400 on replacing an edited prompt's photo (deleted, too old) | send it as a new reply   |
| other 400 on a photo               | tell the user generation failed instead               |
| other 400 on a text                | drop it, logged                                       |
| 403 (bot blocked, kicked)          | drop it, logged once                                  |
| group upgraded to a supergroup     | send to the new chat id                               |

When the attempts run out the result is neither sent nor dropped: it stays pending on the
stream and the bot tries again later (see `recovery.py`), so a long Telegram outage delays
results but loses none. Each wait is at least a second: there is no hot retry loop.

A result for an edited prompt replaces the photo that answered it (`bot/play/edit_records.py`); one
drawn for an older edit than the newest seen is dropped, never overwriting a newer picture.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import ReplyParameters

from bot import metrics, texts
from bot.delivery.inline_sending import send_inline
from bot.delivery.media import Outgoing, edit_media, send_media
from bot.delivery.screening import screen
from bot.outbound.aside import aside, receiver
from bot.outbound.pacing import PaceWait, manner
from bot.shared.outcome import Outcome
from common.protocol import NO_WORKER

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot

    from bot.delivery.captions import Wording
    from bot.delivery.screening import Screened, Screening
    from bot.play.edit_records import EditRecords, InPlace
    from bot.requests.jobs import JobContext
    from common.protocol import Result

log = logging.getLogger(__name__)

MAX_BACKOFF_S: Final = 30.0
# While waiting, the bot tells Redis it still owns the entry this often, so no other bot
# consumer takes it over in the meantime.
KEEP_ALIVE_S: Final = 10.0
_REPLY_MISSING: Final = ("message to be replied not found", "message to reply not found")
_NOT_MODIFIED: Final = "message is not modified"


def error_text(code: str) -> str:
    if code == NO_WORKER:
        return texts.NO_WORKER
    return texts.GENERATION_TIMEOUT if code == "timeout" else texts.GENERATION_FAILED


class ResultSender:
    def __init__(
        self,
        bot: Bot,
        wording: Wording,
        attempts: int,
        records: EditRecords,
        screening: Screening | None = None,
        storage: tuple[int, ...] = (),
    ) -> None:
        self._bot = bot
        self._wording = wording
        self._attempts = attempts
        self._records = records
        # The storage chats inline answers are uploaded to (`inline_sending.py`).
        self._storage = storage
        # Without one, pictures go out as they are (no chat policy to apply).
        self._screening = screening

    async def _screen(self, context: JobContext, result: Result) -> Screened:
        if self._screening is None:
            return screen(context, result, "off")
        return await self._screening.screen(context, result)

    async def send(
        self, context: JobContext, result: Result, keep_alive: Callable[[], Awaitable[None]]
    ) -> Outcome:
        """Send the photo (or the error) as a reply to the request; never raises AiogramError."""
        job = context.job_id
        chat_id, as_reply, as_photo = context.chat_id, True, result.status == "ok"
        failures, replace = 0, context.editable
        # Once per result, before any try: the chat's policy as it stands now.
        screened = await self._screen(context, result)
        while True:
            in_place: InPlace | None = None
            if context.editable:
                # Read before every try: a newer edit may have come while this one waited.
                record = await self._records.load(context.origin)
                if context.origin.revision < record.revision:
                    log.info("job %s: drawn for an older edit of its prompt; dropped", job)
                    return Outcome.DROPPED
                in_place = record.in_place if replace and as_photo else None
            try:
                reply = (
                    ReplyParameters(
                        message_id=context.origin.message_id, allow_sending_without_reply=True
                    )
                    if as_reply
                    else None
                )
                out = Outgoing(context, result, chat_id, reply, screened)
                # Pictures are public; a held-back notice or an error concerns the requester
                # alone, and in a group goes to them alone (`bot/outbound/aside.py`).
                with manner("result"), aside(receiver(context.origin)):
                    sent = await self._send_once(out, as_photo, in_place)
                if sent and context.editable:
                    await self._records.placed(context, sent, in_place)
                return Outcome.SENT
            except PaceWait as exc:
                # Not a failure: the chat's (or the bot's) budget is spent for a while.
                delay = exc.seconds
            except TelegramRetryAfter as exc:
                failures += 1
                delay = float(max(1, exc.retry_after))
                log.warning("job %s: Telegram asks to wait %.0f s", job, delay)
            except TelegramMigrateToChat as exc:
                if chat_id == context.chat_id:
                    # Message ids start over in the new supergroup: the reply target is gone.
                    chat_id, as_reply, replace = exc.migrate_to_chat_id, False, False
                    continue
                failures, delay = failures + 1, 1.0
            except TelegramForbiddenError as exc:
                log.warning("job %s: chat %s refuses the bot (%s); dropped", job, chat_id, exc)
                return Outcome.DROPPED
            except TelegramBadRequest as exc:
                if in_place is not None:
                    if _NOT_MODIFIED in exc.message:
                        return Outcome.SENT  # the same picture again: nothing to change
                    log.info("job %s: photo not replaced (%s); sending a new one", job, exc)
                    replace = False
                    continue
                if as_reply and any(text in exc.message for text in _REPLY_MISSING):
                    log.info("job %s: the request message is gone; sending without reply", job)
                    as_reply = False
                    continue
                if as_photo:
                    log.warning("job %s: photo refused (%s); sending the error", job, exc)
                    as_photo = False
                    continue
                log.error("job %s: Telegram refused the answer (%s); dropped", job, exc)
                return Outcome.DROPPED
            except AiogramError as exc:
                # 5xx, timeouts, network errors, and anything Telegram may fix by itself.
                failures += 1
                delay = min(MAX_BACKOFF_S, 2.0 ** (failures - 1))
                log.warning("job %s: send failed (%s), attempt %d", job, exc, failures)
            if failures >= self._attempts:
                log.error("job %s: not sent after %d attempts; will retry later", job, failures)
                return Outcome.LATER
            await _pause(delay, keep_alive)

    async def _send_once(self, out: Outgoing, as_photo: bool, in_place: InPlace | None) -> int:
        """Send (or edit in) the answer; returns the id of the photo now showing it, or 0."""
        context, result = out.context, out.result
        if context.action == "inline":  # no chat to reply in: the answer is the inline query's
            await send_inline(self._bot, out, self._wording, self._storage)
        elif as_photo and in_place is not None and out.screened.pictures:
            # A held-back picture never replaces the photo: the requester hears why instead.
            await edit_media(self._bot, out, in_place, self._wording)
            return in_place.message_id
        elif as_photo:
            started = time.perf_counter()
            sent = await send_media(self._bot, out, self._wording)
            metrics.STAGE_SEND.observe(time.perf_counter() - started)
            return sent.message_id if sent is not None else 0
        else:
            code = result.error if result.status == "error" else "failed"
            text = self._wording.text(error_text(code), context.locale)
            await self._bot.send_message(
                out.chat_id, text, reply_parameters=out.reply, message_thread_id=out.thread_id
            )
        return 0


async def _pause(delay: float, keep_alive: Callable[[], Awaitable[None]]) -> None:
    while delay > 0:
        await keep_alive()
        step = min(delay, KEEP_ALIVE_S)
        await asyncio.sleep(step)
        delay -= step
