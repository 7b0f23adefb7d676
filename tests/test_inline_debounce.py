"""The inline debounce: the newest query by update id is drawn, whichever handler ran first."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from common.protocol import Keys

if TYPE_CHECKING:
    from testing.botapi import FakeBotAPI
    from tests.conftest import MakeApp

STORAGE = -100_7700


async def test_an_older_query_handled_after_a_newer_one_is_not_drawn(
    botapi: FakeBotAPI, make_app: MakeApp
) -> None:
    app = make_app(storage_chat_id=str(STORAGE), inline_debounce_s="0.5")
    try:
        older = botapi.push_inline_query("a red", user_id=7701)
        newer = botapi.push_inline_query("a red fox", user_id=7701)
        # Handlers run concurrently: the newer update's handler reaches Redis first.
        drawing = asyncio.create_task(app.feed({"update_id": 502, "inline_query": newer}))
        newest = Keys(app.settings.queue).inline_latest(7701)
        while app.redis.hget(newest, "revision") != b"502":  # noqa: ASYNC110 - Redis, not an event
            await asyncio.sleep(0.01)
        await app.feed({"update_id": 501, "inline_query": older})
        await drawing
        (job,) = app.jobs_for(STORAGE)
        assert (job.prompt, job.inline_query_id) == ("a red fox", newer["id"])
        # Neither got an answer at once: the drawn one's comes from delivery, the other none.
        assert [c for c in botapi.calls if c.method == "answerInlineQuery"] == []
    finally:
        await app.close()
