"""All routers of the bot, gathered in the order they must match."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import admin, fallback, imagine, language, start


def build_router() -> Router:
    root = Router(name=__name__)
    # `fallback` goes last: it answers what no other router took.
    root.include_routers(
        start.router, admin.router, language.router, imagine.router, fallback.router
    )
    return root
