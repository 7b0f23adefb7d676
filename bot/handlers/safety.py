"""The last router: what no other router took, and whatever any handler raised.

- a private message that is not text (sticker, voice, photo, document…) gets a hint;
- a button press nobody handles (forged, or from an old message) is answered, so the user's
  button stops spinning;
- Redis being unreachable, wherever a handler met it, is answered "temporarily unavailable":
  a reply to a message, an alert on a button, a one-line inline result; unless the update
  was handled before (`bot/shared/attempt.py`): then it is left in the inbox, unanswered;
- a reply dropped because its chat is at Telegram's limit (`SendSkipped`) is only logged;
- any other exception from a handler is logged (through the token-redacting log handlers) and
  the user gets an apology instead of silence. Nothing escapes to aiogram.

Edits that are no prompts, channel posts and group chatter are deliberately left unanswered:
the bot subscribes only to the update types it handles.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import AiogramError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message, Update, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.community.chat_rules import AdminsUnknown
from bot.i18n import locale_for
from bot.outbound.aside import aside, receiver
from bot.outbound.pacing import SendSkipped
from bot.play.inline import article
from bot.shared.attempt import HANDLED_BEFORE
from bot.shared.origin import Origin

if TYPE_CHECKING:
    from bot.outbound.replies import Replies

router = Router(name=__name__)
log = logging.getLogger(__name__)


@router.message(F.chat.type == ChatType.PRIVATE)
async def not_text(message: Message, replies: Replies) -> None:
    """Point to text prompts."""
    if not await replies.first(message.chat.id, "text_only"):
        return
    await message.answer(_(texts.TEXT_ONLY))


@router.callback_query()
async def stale_button(query: CallbackQuery) -> None:
    """Stop the spinner; never act on data nobody claimed."""
    await query.answer(_(texts.STALE_BUTTON))


def _locale(user: User | None, i18n: I18n) -> str:
    # The locale middleware's context is gone by the time an error is handled, and a chosen
    # language may live in the Redis that just failed: Telegram's language it is.
    return locale_for(user.language_code if user else None, i18n.default_locale)


# The one answer a failed update gets: a Telegram hiccup on it is worth one more try.
APOLOGY_ATTEMPTS = 2


async def _apologise(update: Update, i18n: I18n, text_id: str) -> None:
    """Answer each kind of update in its way: a reply, a button alert, an inline result."""
    for attempt in range(1, APOLOGY_ATTEMPTS + 1):
        try:
            # An edited prompt is answered like the prompt it was.
            if (message := update.message or update.edited_message) is not None:
                locale = _locale(message.from_user, i18n)
                text = i18n.gettext(text_id, locale=locale)
                # The handler's context is gone: in a group, to the member alone again.
                with aside(receiver(Origin.of_message(message, locale))):
                    await message.reply(text)
            elif update.callback_query is not None:
                query = update.callback_query
                text = i18n.gettext(text_id, locale=_locale(query.from_user, i18n))
                await query.answer(text, show_alert=True)
            elif update.inline_query is not None:
                inline = update.inline_query
                text = i18n.gettext(text_id, locale=_locale(inline.from_user, i18n))
                await inline.answer([article("failed", text)], cache_time=0, is_personal=True)
            return
        except (TimeoutError, AiogramError) as exc:
            log.warning(
                "update %d: apology not sent (%s), attempt %d", update.update_id, exc, attempt
            )


@router.errors(ExceptionTypeFilter(SendSkipped))
async def not_sent(event: ErrorEvent) -> bool:
    """A reply that would have waited past PACE_ANSWER_WAIT_S for its turn was dropped: the
    chat is at Telegram's limit, and one more message (an apology) would not help."""
    log.info("update %d: a reply was dropped: %s", event.update.update_id, event.exception)
    return True


@router.errors(ExceptionTypeFilter(RedisError, AdminsUnknown))
async def redis_unavailable(event: ErrorEvent, i18n: I18n) -> bool:
    """Redis is down, or Telegram cannot say who a group's admins are just now: "temporarily
    unavailable", wherever a handler met it."""
    update = event.update
    what = "Redis" if isinstance(event.exception, RedisError) else "Telegram"
    if HANDLED_BEFORE.get() and isinstance(event.exception, RedisError):
        # Perhaps answered already: no apology; the inbox keeps it for another try.
        log.warning("update %d, handled before, met Redis failing again", update.update_id)
        raise event.exception
    log.error("update %d: %s unavailable", update.update_id, what, exc_info=event.exception)
    await _apologise(update, i18n, texts.UNAVAILABLE)
    return True


@router.errors()
async def on_error(event: ErrorEvent, i18n: I18n) -> bool:
    """Log the failure and apologise where there is someone to apologise to."""
    update = event.update
    log.error(
        "update %d failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    await _apologise(update, i18n, texts.SOMETHING_WENT_WRONG)
    return True
