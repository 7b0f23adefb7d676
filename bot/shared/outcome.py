"""What came of sending one result: the delivery loop acknowledges by it, metrics count it."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    SENT = "sent"
    DROPPED = "dropped"  # Telegram will never take it (blocked, chat gone); acknowledged
    LATER = "later"  # attempts ran out; left pending for a later round
