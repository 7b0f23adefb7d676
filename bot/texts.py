"""Every text the bot shows a user. English is the message id; other languages live in
`bot/locales/<lang>/LC_MESSAGES/messages.po` and are looked up with gettext at send time.
"""

from __future__ import annotations

from typing import Final

LICENSE_NOTICE: Final = (
    "Images are made by Stability AI's SDXL Turbo, whose licence allows "
    "<b>non-commercial use only</b>."
)
FIRST_USE: Final = (
    "Before your first picture: images are made by SDXL Turbo, whose licence allows "
    "<b>non-commercial use only</b>. See /license."
)
HELP: Final = (
    "I draw a 512×512 picture from your words in about a second.\n\n"
    "<b>Commands</b>\n"
    "/imagine &lt;prompt&gt; — draw a picture (in a private chat plain text works too; "
    "in groups you can also write @{bot} &lt;prompt&gt;)\n"
    "/language — English or Russian\n"
    "/license — licence of the images\n"
    "/help — this message\n\n"
    "Example: <code>/imagine a fox in the snow, watercolor</code>\n\n"
    "<b>Play</b>\n"
    "🔁 🎲 📄 under a photo: a new seed, four variations, or a lossless PNG file.\n"
    "<code>/imagine --seed 42 a red fox</code> makes the same picture every time.\n"
    "Send a photo with a caption, or reply to a photo with text, to redraw it.\n"
    "In any chat, type @{bot} and a prompt to pick a fresh picture.\n\n"
    "Images are made by Stability AI's SDXL Turbo, whose licence allows "
    "<b>non-commercial use only</b>."
)
LICENSE: Final = (
    "Images are made by Stability AI's SDXL Turbo, whose licence allows "
    "<b>non-commercial use only</b>: you may not sell them or use them in a commercial "
    "product. Licence: https://huggingface.co/stabilityai/sdxl-turbo/blob/main/LICENSE.md"
)

USAGE: Final = "Usage: <code>/imagine a fox in the snow</code>"
TOO_LONG: Final = "That prompt is too long: please keep it under {limit} characters."
BLOCKED: Final = "Sorry, I can't draw that. Please try a different prompt."
UNKNOWN_COMMAND: Final = "I don't know that command. /help lists what I can do."
IN_QUEUE: Final = "In queue: #{position}"

GENERATION_FAILED: Final = "Sorry, I could not draw that one. Please try again."
GENERATION_TIMEOUT: Final = "Sorry, that took too long and was stopped. Please try again."
UNAVAILABLE: Final = "I'm temporarily unavailable. Please try again in a minute."

SLOW_DOWN: Final = "You're going fast! Please try again in {seconds} s."
WAIT_FOR_RUNNING: Final = "Please wait for your pictures in progress to finish, then try again."
GROUP_BUSY: Final = "This chat has had a lot of pictures. Please try again in {seconds} s."
QUEUE_FULL: Final = "I'm very busy right now. Please try again in a minute."
PAUSED: Final = "Drawing is paused by the admins. Please try again later."
NOT_ALLOWED: Final = "Sorry, this bot is private and not available in this chat."

ADMIN_ONLY: Final = "This command is for the bot's admins only."
BAN_USAGE: Final = "Usage: <code>/ban 123456789</code> (a numeric user id)"
UNBAN_USAGE: Final = "Usage: <code>/unban 123456789</code> (a numeric user id)"
BANNED: Final = "User {user_id} is banned."
UNBANNED: Final = "User {user_id} is unbanned."
NOT_BANNED: Final = "User {user_id} was not banned."
PAUSED_NOW: Final = "Paused: new prompts are refused until /resume."
RESUMED_NOW: Final = "Resumed: new prompts are accepted again."
STATS: Final = (
    "<b>Stats</b>\n"
    "Queue depth: {depth}\n"
    "Images in the last minute: {per_minute}\n"
    "Failures in the last minute: {failures}\n"
    "Live workers: {workers}\n"
    "Paused: {paused}"
)
YES: Final = "yes"
NO: Final = "no"

LANGUAGE_PROMPT: Final = "Choose your language:"
LANGUAGE_SET: Final = "Language: English"
LANGUAGE_UNKNOWN: Final = "Unknown language. Choose one below."

SOMETHING_WENT_WRONG: Final = "Sorry, something went wrong on my side. Please try again."
TEXT_ONLY: Final = "I draw from words: send me a text describing the picture you want."
STALE_BUTTON: Final = "This button no longer works."

BAD_SEED: Final = "A seed is a whole number from 0 to {max_seed}, e.g. <code>--seed 42</code>."
BUTTON_REGENERATE: Final = "🔁 Regenerate"
BUTTON_VARIATIONS: Final = "🎲 Variations"
BUTTON_FILE: Final = "📄 File"
DRAWING: Final = "Drawing…"
INPUT_TOO_LARGE: Final = "That picture is too large: please send one under {megabytes} MB."
INPUT_NOT_IMAGE: Final = (
    "That file is not a picture I can read. Please send a photo, or a JPEG, PNG or WebP file."
)
INPUT_BROKEN: Final = "I couldn't read that picture: the file seems damaged. Please try another."
PHOTO_NEEDS_CAPTION: Final = (
    "Add a caption saying what to make of this picture, e.g. <code>as a watercolor</code>."
)
INLINE_OFF: Final = "Inline mode is off on this bot. Send /imagine in a chat with it instead."
INLINE_HINT: Final = "Type a prompt after the bot's name to draw it, e.g. a fox in the snow."
