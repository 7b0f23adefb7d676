"""Whether the update being handled was taken from the inbox before.

An update handled again (a bot that died before acknowledging it, an acknowledgement Redis
lost, a sweep taking it over) may well have been answered already: its job queued, its photo
on the way. Meeting Redis failing then, the error route stays silent and leaves the update
for another try (`handlers/safety.py`), instead of telling that user "temporarily
unavailable" next to their picture.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

HANDLED_BEFORE: Final[ContextVar[bool]] = ContextVar("handled_before", default=False)
