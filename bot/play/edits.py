"""Edited prompts: the user edits their message and the picture answering it is redrawn.

An edit is a request like any other (`ImagineService.request`: limits, blocklist, footer),
drawn with the seed of the photo it replaces. Quick edits in a row are drawn once: each edit
is noted as a revision of the message (`edit_records.py`) and waits `EDIT_DEBOUNCE_S`; only
one still the newest after the wait is drawn. Delivery puts the result in place of the photo
(`bot/delivery/sending.py`), or sends a new photo when the message had none (it was refused,
or got the usage hint) or the photo cannot be edited any more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from bot.shared.running import slot_lent

if TYPE_CHECKING:
    from aiogram.types import Message

    from bot.config import EditSettings
    from bot.play.edit_records import EditRecords
    from bot.requests.admission import Refused
    from bot.requests.imagine import Ask, ImagineService, Queued

log = logging.getLogger(__name__)


class EditService:
    def __init__(
        self, records: EditRecords, imagine: ImagineService, settings: EditSettings
    ) -> None:
        self._records = records
        self._imagine = imagine
        self._settings = settings

    def _too_old(self, message: Message) -> bool:
        # `edit_date` is a Unix time; `date`, when the message was first sent, a datetime.
        edited = message.edit_date or time.time()
        return edited - message.date.timestamp() > self._settings.edit_window_s

    async def redraw(self, message: Message, ask: Ask) -> Queued | Refused | None:
        """Draw the edited prompt `ask` again; None when the edit is ignored: the message is
        older than the edit window, or a newer edit came while waiting for the user to pause."""
        if self._too_old(message):
            log.info("edit of message %d ignored: older than the edit window", message.message_id)
            return None
        if await self._records.note_edit(ask.origin) > ask.origin.revision:
            return None  # a newer edit came first
        async with slot_lent():  # a user pausing between edits holds no intake slot
            await asyncio.sleep(self._settings.edit_debounce_s)
        record = await self._records.load(ask.origin)
        if record.revision != ask.origin.revision:
            return None
        # No seed without a photo: a message that got no picture gets a new one.
        ask = dataclasses.replace(ask, seed=record.seed)
        return await self._imagine.request(ask)
