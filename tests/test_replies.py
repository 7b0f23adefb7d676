"""Commands and hints: one answer of a kind per chat per interval; a migrated group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import texts
from tests.conftest import BOT_USERNAME

if TYPE_CHECKING:
    from testing.harness import BotUnderTest

GROUP = -100_9300


async def _say(app: BotUnderTest, chat: int, text: str, user: int | None = None) -> None:
    chat_type = "supergroup" if chat < 0 else "private"
    await app.message(app.botapi.push_message(chat, text, user_id=user, chat_type=chat_type))


async def test_help_repeated_in_a_group_is_answered_once_per_interval(app: BotUnderTest) -> None:
    for member in range(5):
        await _say(app, GROUP, f"/help@{BOT_USERNAME}", user=9300 + member)
    assert len(app.answers(GROUP)) == 1
    # Another kind of answer in the same chat is not held back by it.
    await _say(app, GROUP, f"/license@{BOT_USERNAME}", user=9310)
    assert app.answers(GROUP)[1:] == [texts.LICENSE.replace("<b>", "").replace("</b>", "")]


async def test_each_chat_has_its_own_interval(app: BotUnderTest) -> None:
    for chat in (9401, 9402, 9403):
        await _say(app, chat, "/help")
        await _say(app, chat, "/help")
        assert len(app.answers(chat)) == 1


async def test_hints_and_refusals_to_strangers_are_throttled_too(app: BotUnderTest) -> None:
    for _ in range(3):
        await _say(app, 9501, "/nosuchcommand")
        await _say(app, 9501, "/ban 1")  # not an admin
    assert app.answers(9501) == [texts.UNKNOWN_COMMAND, texts.ADMIN_ONLY]


async def test_a_group_that_becomes_a_supergroup_keeps_its_settings(app: BotUnderTest) -> None:
    old, new = -9600, -100_9600
    store = app.services.chat_settings
    await store.change(old, "safety", "block")
    await store.change(old, "who", "admins")
    # Telegram's service message in the old group names the new chat.
    migrated = app.botapi.push_message(old, chat_type="group", extra={"migrate_to_chat_id": new})
    await app.message(migrated)
    settings = await store.get(new)
    assert settings.safety == "block" and settings.admins_only
    assert app.botapi.sent(chat_id=old) == []  # nothing said about it
