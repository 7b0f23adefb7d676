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
    "/settings — this chat's settings (in groups, for its admins)\n"
    "/style — the style your prompts are drawn in (in groups, for its admins)\n"
    "/upscale — as a reply to one of my photos: the same picture at 1024×1024\n"
    "/safety off|blur|block — what happens to pictures the safety check flags\n"
    "/license — licence of the images\n"
    "/help — this message\n\n"
    "Example: <code>/imagine a fox in the snow, watercolor</code>\n\n"
    "<b>Play</b>\n"
    "🔁 🎲 📄 under a photo: a new seed, four variations, or a lossless PNG file.\n"
    "🔍 under a photo: the same picture at 1024×1024, with finer detail.\n"
    "<code>/imagine --seed 42 a red fox</code> makes the same picture every time.\n"
    "<code>--style anime</code> in a prompt draws it in a style: photo, anime, watercolor, "
    "oil, pixel, 3d, comic, neon.\n"
    "Send a photo with a caption, or reply to a photo with text, to redraw it.\n"
    "In any chat, type @{bot} and a prompt to pick a fresh picture.\n\n"
    "<b>Safety</b>\n"
    "Every picture is checked by an image classifier before it is sent. Each chat chooses "
    "what happens to a flagged one: <b>block</b> — not sent; <b>blur</b> — sent under a "
    "spoiler, tap to see; <b>off</b> — sent as is. By default: {group_default} in groups, "
    "{private_default} in private chats. Flagged pictures are never offered inline.\n\n"
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
USER_DAILY_REACHED: Final = (
    "That's {limit} pictures for you in the last 24 hours, the daily limit. "
    "You can draw again in {hours} h {minutes} min."
)
GROUP_DAILY_REACHED: Final = (
    "This chat has had its {limit} pictures of the last 24 hours, the daily limit. "
    "You can draw again in {hours} h {minutes} min."
)
STYLE_UNKNOWN: Final = (
    "I don't know the style “{name}”. Styles: {styles}. Write one as <code>--style anime</code>."
)
QUEUE_FULL: Final = "I'm very busy right now. Please try again in a minute."
NO_WORKER: Final = "No GPU worker is available right now. Please try again later."
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
BUTTON_UPSCALE: Final = "🔍 Upscale"
UPSCALE_HOW: Final = (
    "Reply /upscale to one of my photos (one with buttons under it) to get it at 1024×1024."
)
ALREADY_UPSCALED: Final = "This picture is already the 1024×1024 version."
DRAWING: Final = "Drawing…"
INPUT_TOO_LARGE: Final = "That picture is too large: please send one under {megabytes} MB."
INPUT_TOO_MANY_PIXELS: Final = (
    "That picture is too large: please send one under {megapixels} megapixels."
)
INPUT_NOT_IMAGE: Final = (
    "That file is not a picture I can read. Please send a photo, or a JPEG, PNG or WebP file."
)
INPUT_BROKEN: Final = "I couldn't read that picture: the file seems damaged. Please try another."
PHOTO_NEEDS_CAPTION: Final = (
    "Add a caption saying what to make of this picture, e.g. <code>as a watercolor</code>."
)
INLINE_OFF: Final = "Inline mode is off on this bot. Send /imagine in a chat with it instead."
INLINE_HINT: Final = "Type a prompt after the bot's name to draw it, e.g. a fox in the snow."

DRAWING_OFF: Final = "Drawing is turned off in this group by its admins."
ADMINS_ONLY_DRAWING: Final = "In this group only its admins can ask for pictures."
SAFETY_HELD: Final = "This chat's safety setting held back a picture the safety check flagged."
SAFETY_HELD_INLINE: Final = "The safety check held these pictures back. Try another prompt."

SETTINGS_ADMINS_ONLY: Final = "Only this group's admins can change its settings."
SETTINGS_NOT_ALLOWED: Final = "The bot's operator does not allow that setting."
SETTINGS_SAVED: Final = "Saved."
SAFETY_USAGE: Final = (
    "This chat's safety policy: <b>{policy}</b>.\n"
    "Change it with <code>/safety block</code>, <code>/safety blur</code> or "
    "<code>/safety off</code> ({choices})."
)
SAFETY_SET: Final = "This chat's safety policy is now <b>{policy}</b>."
SETTINGS_PANEL: Final = (
    "<b>Settings of this chat</b>\n"
    "Every picture is checked by an image classifier before it is sent. "
    "The safety policy decides what happens to a flagged one:\n"
    "• block — not sent\n"
    "• blur — sent under a spoiler, tap to see\n"
    "• off — sent as is\n\n"
    "Safety: <b>{policy}</b>"
)
SETTINGS_GROUP: Final = (
    "Who may draw: <b>{who}</b>\n"
    "Pictures in this group: at most <b>{rate}</b> per {seconds} s\n"
    "Drawing: <b>{drawing}</b>\n"
    "Language: <b>{language}</b>"
)
SETTINGS_DAILY: Final = "Pictures in this group per 24 h: <b>{daily}</b>"
DAILY_NONE: Final = "no limit"
BUTTON_DAILY: Final = "{daily} a day"
BUTTON_DAILY_NONE: Final = "No daily limit"
STYLE_PANEL_PRIVATE: Final = (
    "<b>Your style</b>: <b>{style}</b>\n"
    "Your prompts are drawn in it (here, and in groups without a style of their own) unless "
    "they name another: <code>--style anime</code>, or <code>--style none</code>."
)
STYLE_PANEL_GROUP: Final = (
    "<b>This group's style</b>: <b>{style}</b>\n"
    "Everyone's prompts here are drawn in it unless they name another: "
    "<code>--style anime</code>, or <code>--style none</code>."
)
STYLE_NONE: Final = "none"
BUTTON_STYLE_NONE: Final = "🚫 No style"
SETTINGS_TRANSLATE: Final = "Russian prompts translated to English before drawing: <b>{state}</b>"
# Policy names and on/off states as the panel shows them; the commands keep English words.
STATE_OFF: Final = "off"
STATE_ON: Final = "on"
POLICY_BLUR: Final = "blur"
POLICY_BLOCK: Final = "block"
WHO_ALL: Final = "everyone"
WHO_ADMINS: Final = "admins only"
LANGUAGE_EACH: Final = "each member's own"
BUTTON_WHO_ALL: Final = "👥 Everyone"
BUTTON_WHO_ADMINS: Final = "🛡 Admins only"
BUTTON_DRAWING_ON: Final = "▶️ Drawing on"
BUTTON_DRAWING_OFF: Final = "⏸ Drawing off"
BUTTON_LANGUAGE_EACH: Final = "🌐 Each member's own"
BUTTON_TRANSLATE_ON: Final = "🔤 Translate prompts"
BUTTON_TRANSLATE_OFF: Final = "✍️ Draw as typed"
BUTTON_RATE: Final = "{rate} per {seconds} s"
