"""All routers of the bot, gathered in the order they must match."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    admin,
    buttons,
    chat_settings,
    edits,
    fallback,
    imagine,
    inline,
    language,
    pictures,
    start,
    styles,
)


def build_router() -> Router:
    root = Router(name=__name__)
    # Prompts are the hot path, so their routers come first; none of their filters takes
    # another command. `pictures` before `imagine`, which would take its captions and
    # replies as text prompts; `fallback` goes last: it answers what no other router took.
    root.include_routers(
        pictures.router,
        imagine.router,
        edits.router,
        start.router,
        admin.router,
        language.router,
        chat_settings.router,
        styles.router,
        buttons.router,
        inline.router,
        fallback.router,
    )
    return root
