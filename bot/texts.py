"""Every text the bot shows a user, in one place."""

from __future__ import annotations

from typing import Final

LICENSE_NOTICE: Final = (
    "Images are made by Stability AI's SDXL Turbo, whose licence allows "
    "<b>non-commercial use only</b>."
)

HELP: Final = (
    "I draw a 512×512 picture from your words in about a second.\n\n"
    "<b>Commands</b>\n"
    "/imagine &lt;prompt&gt; — draw a picture (in a private chat plain text works too)\n"
    "/help — this message\n\n"
    "Example: <code>/imagine a fox in the snow, watercolor</code>\n\n" + LICENSE_NOTICE
)

USAGE: Final = "Usage: <code>/imagine a fox in the snow</code>"
TOO_LONG: Final = "That prompt is too long: please keep it under {limit} characters."
UNKNOWN_COMMAND: Final = "I don't know that command. /help lists what I can do."
GENERATION_FAILED: Final = "Sorry, I could not draw that one. Please try again."
GENERATION_TIMEOUT: Final = "Sorry, that took too long and was stopped. Please try again."
UNAVAILABLE: Final = "I'm temporarily unavailable. Please try again in a minute."
SOMETHING_WENT_WRONG: Final = "Sorry, something went wrong on my side. Please try again."
TEXT_ONLY: Final = "I draw from words: send me a text describing the picture you want."
STALE_BUTTON: Final = "This button no longer works."
