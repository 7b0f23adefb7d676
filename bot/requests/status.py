"""What shows a waiting job's state: one "In queue: #N" message, edited sparingly, removed
with the photo; in groups also a reaction on the prompt, 👀 while queued, ⚡ once answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Final

from aiogram.exceptions import TelegramAPIError
from aiogram.types import ReactionTypeEmoji, ReplyParameters
from pydantic import BaseModel
from redis.exceptions import RedisError

from bot import texts
from bot.outbound.pacing import SendSkipped, manner

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import ReactionTypeUnion
    from aiogram.utils.i18n import I18n
    from redis.asyncio import Redis

    from bot.config import FeedbackSettings
    from bot.requests.jobs import JobContext
    from common.protocol import Keys, Result

log = logging.getLogger(__name__)
TICK_S: Final = 1.0
QUEUED: Final = "\N{EYES}"
DONE: Final = "\N{HIGH VOLTAGE SIGN}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StatusMessage(BaseModel):
    chat_id: int
    message_id: int
    position: int
    edited_at: float
    group: bool
    locale: str
    # The member who alone sees it (an ephemeral message, `message_id` its ephemeral id).
    receiver: int | None = None


class StatusBoard:
    """Bounded Bot API calls per job: one send, edits every few seconds at most, one delete.

    Status sends never wait for a chat's turn (`bot/outbound/pacing.py`): in a chat at its
    limit they are skipped, so photos and error answers always go first.
    """

    def __init__(
        self,
        bot: Bot,
        redis: Redis,
        i18n: I18n,
        feedback: FeedbackSettings,
        keys: Keys,
    ) -> None:
        self._bot = bot
        self._redis = redis
        self._i18n = i18n
        self._feedback = feedback
        self._keys = keys
        self._key = keys.status

    def _text(self, position: int, locale: str) -> str:
        return self._i18n.gettext(texts.IN_QUEUE, locale=locale).format(position=position)

    async def post(self, context: JobContext, position: int) -> None:
        """Best effort: the job is queued whatever Telegram says to its status message."""
        origin = context.origin
        try:
            with manner("status"):
                sent = await self._bot.send_message(
                    origin.chat_id,
                    self._text(position, origin.locale),
                    reply_parameters=ReplyParameters(
                        message_id=origin.message_id, allow_sending_without_reply=True
                    ),
                )
        except SendSkipped:
            log.info(
                "queue status for job %s skipped: chat %s at its limit",
                context.job_id,
                origin.chat_id,
            )
            return
        except (TelegramAPIError, RedisError) as exc:
            # Redis: the pacer could not give the message its turn. The job is queued either
            # way, and its picture needs no apology next to it.
            log.warning("queue status for job %s not sent: %s", context.job_id, exc)
            return
        message_id, receiver = sent.message_id, None
        if sent.ephemeral_message_id is not None and sent.receiver_user is not None:
            message_id, receiver = sent.ephemeral_message_id, sent.receiver_user.id
        status = StatusMessage(
            chat_id=origin.chat_id,
            message_id=message_id,
            receiver=receiver,
            position=position,
            edited_at=time.time(),
            group=origin.group,
            locale=origin.locale,
        )
        try:
            await self._redis.hset(self._key, context.job_id, status.model_dump_json())
        except RedisError as exc:
            # Unrecorded, nothing would ever edit or remove it: it goes at once.
            log.warning("queue status for job %s not kept (%s); removed", context.job_id, exc)
            await self._remove(status)

    async def react_queued(self, context: JobContext) -> None:
        """👀 on a group's prompt. A result delivered before Telegram took it (another bot
        process, a fast worker) has removed the job's record by now: then it is taken back,
        so a prompt never keeps 👀 after its answer."""
        if not self._reacts(context):
            return
        await self._react(context, QUEUED)
        try:
            answered = not await self._redis.exists(self._keys.job_context(context.job_id))
        except RedisError:
            return
        if answered:
            await self._react(context, None)

    async def answered(self, context: JobContext, result: Result) -> None:
        """The job's answer went out: its status message goes, the prompt's reaction turns ⚡
        for a picture (taken back for an error, which has its own answer)."""
        await self.clear(context.job_id)
        if self._reacts(context):
            await self._react(context, DONE if result.status == "ok" else None)

    def _reacts(self, context: JobContext) -> bool:
        origin = context.origin
        return self._feedback.reactions and origin.group and origin.editable

    async def _react(self, context: JobContext, emoji: str | None) -> None:
        """Best effort: reactions are no messages, and their errors (429, reactions off in
        the chat) never hold up a picture."""
        origin = context.origin
        reaction: list[ReactionTypeUnion] = [ReactionTypeEmoji(emoji=emoji)] if emoji else []
        try:
            await self._bot.set_message_reaction(origin.chat_id, origin.message_id, reaction)
        except TelegramAPIError as exc:
            log.info(
                "reaction on message %s of chat %s not set: %s",
                origin.message_id,
                origin.chat_id,
                exc,
            )

    async def clear(self, job_id: str) -> None:
        """Delete the job's status message, if it had one."""
        raw = await self._redis.hget(self._key, job_id)
        if raw is None:
            return
        await self._redis.hdel(self._key, job_id)
        await self._remove(StatusMessage.model_validate_json(raw))

    async def _remove(self, status: StatusMessage) -> None:
        with contextlib.suppress(TelegramAPIError):
            if status.receiver is not None:
                await self._bot.delete_ephemeral_message(
                    status.chat_id, status.receiver, status.message_id
                )
            else:
                await self._bot.delete_message(status.chat_id, status.message_id)

    async def _edit(self, status: StatusMessage, text: str) -> None:
        if status.receiver is not None:
            await self._bot.edit_ephemeral_message_text(
                chat_id=status.chat_id,
                receiver_user_id=status.receiver,
                ephemeral_message_id=status.message_id,
                text=text,
            )
        else:
            await self._bot.edit_message_text(
                text=text, chat_id=status.chat_id, message_id=status.message_id
            )

    async def run(self) -> None:
        """Refresh positions until cancelled."""
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.refresh()
            except (RedisError, TelegramAPIError) as exc:
                log.warning("status refresh skipped: %s", exc)

    async def refresh(self) -> None:
        entries = await self._redis.hgetall(self._key)
        if not entries:
            return
        job_ids = [_text(job_id) for job_id in entries]
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.lpos(self._keys.queue, job_id)
                pipe.exists(self._keys.job_context(job_id))
            replies = await pipe.execute()
        now = time.time()
        for job_id, index, alive in zip(job_ids, replies[::2], replies[1::2], strict=True):
            if not alive:
                # Answered (or expired) while this round ran: the entry is an orphan.
                await self.clear(job_id)
                continue
            status = StatusMessage.model_validate_json(entries[job_id.encode()])
            # A job no longer in the list is running: it is about to become a photo.
            position = 1 if index is None else index + 1
            interval = (
                self._feedback.status_edit_interval_group_s
                if status.group
                else self._feedback.status_edit_interval_s
            )
            if position == status.position or now - status.edited_at < interval:
                continue
            try:
                with manner("status"):
                    await self._edit(status, self._text(position, status.locale))
            except SendSkipped:
                continue  # the chat is at its limit: the next tick tries again
            except TelegramAPIError as exc:
                log.debug("queue status of job %s not edited: %s", job_id, exc)
            status = status.model_copy(update={"position": position, "edited_at": now})
            # Only if still there: the photo may have been sent (and the entry cleared) meanwhile.
            if await self._redis.hexists(self._key, job_id):
                await self._redis.hset(self._key, job_id, status.model_dump_json())
