"""/settings end to end: the panel, each of its buttons, and what the settings do to requests.

The worker's classifier here flags nothing, so every picture goes out plain whatever the
policy; refusals and limits come from the chat's own settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot import texts
from bot.community.settings_panel import CHOSEN
from tests.conftest import BOT_USERNAME, Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

ADMIN = 8001
PANEL, ADMINS_ONLY, RATE, OFF = -100801, -100802, -100803, -100804


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, flag_none: Path
) -> Iterator[Stack]:
    running = Stack(
        tmp_path_factory.mktemp("chat-settings"),
        tiny_model,
        worker_env={"safety_model_id": str(flag_none)},
    )
    for group in (PANEL, ADMINS_ONLY, RATE, OFF):
        running.botapi.set_role(group, ADMIN, "creator")
    yield running
    running.close()


def _say(botapi: FakeBotAPI, chat_id: int, text: str, user_id: int, method: str = "") -> Call:
    """Send `text` and return the bot's reply to it (of kind `method`, if given)."""
    kind = "supergroup" if chat_id < 0 else "private"
    sent = botapi.push_message(chat_id, text, chat_type=kind, user_id=user_id)
    return botapi.wait_for_reply(chat_id, sent["message_id"], method or None)


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message["reply_markup"]["inline_keyboard"]
    return {b["text"].removeprefix(CHOSEN): b["callback_data"] for row in rows for b in row}


def _press(botapi: FakeBotAPI, panel: dict[str, Any], label: str, user_id: int = ADMIN) -> Call:
    """Press a panel button; returns the answer to the press (alert or not). A group's panel
    is the admin's alone (an ephemeral message): only they can press it."""
    chat_id, data = panel["chat"]["id"], _buttons(panel)[label]
    if panel.get("ephemeral_message_id"):
        query = botapi.push_ephemeral_callback(
            chat_id, panel["ephemeral_message_id"], data, user_id=user_id
        )
    else:
        query = botapi.push_callback_query(chat_id, panel["message_id"], data, user_id=user_id)
    return botapi.wait_for(
        lambda c: (
            c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query["id"]
        ),
        timeout=30,
    )


def _panel(botapi: FakeBotAPI, chat_id: int) -> dict[str, Any]:
    """The panel as it stands now (Telegram's copy, edits included)."""
    return _current(botapi, _say(botapi, chat_id, "/settings", ADMIN).result)


def _current(botapi: FakeBotAPI, panel: dict[str, Any]) -> dict[str, Any]:
    chat_id = panel["chat"]["id"]
    if panel.get("ephemeral_message_id"):
        seen = botapi.ephemeral_for(chat_id, panel["receiver_user"]["id"])
        message = next(
            (m for m in seen if m["ephemeral_message_id"] == panel["ephemeral_message_id"]), None
        )
    else:
        message = botapi.message(chat_id, panel["message_id"])
    assert message is not None
    return message


def test_with_a_classifier_that_flags_nothing_photos_are_plain(plain: Stack) -> None:
    for chat in (-100805, 8101):  # a group (default block) and a private chat (default blur)
        photo = _say(plain.botapi, chat, "/imagine a red fox", 8102, "sendPhoto")
        assert "has_media_spoiler" not in photo.result


def test_the_panel_is_for_admins_and_each_button_changes_it_in_place(plain: Stack) -> None:
    botapi = plain.botapi
    refused = _say(botapi, PANEL, "/settings", 8201)
    assert refused.result["text"] == texts.SETTINGS_ADMINS_ONLY
    assert "reply_markup" not in refused.result
    panel = _panel(botapi, PANEL)
    assert "Safety: block\n" in panel["text"] and "Who may draw: everyone" in panel["text"]
    assert "at most 12 per 60 s" in panel["text"] and "Drawing: on" in panel["text"]
    # The panel is the admin's alone: nobody else sees it, so nobody else can press it.
    assert panel.get("ephemeral_message_id") and panel["receiver_user"]["id"] == ADMIN
    assert botapi.ephemeral_for(PANEL, 8201) == [refused.result]
    presses = [
        ("🌫 blur", "Safety: blur\n"),
        ("🔓 off", "Safety: off\n"),
        ("🛡 Admins only", "Who may draw: admins only"),
        ("👥 Everyone", "Who may draw: everyone"),
        ("6 per 60 s", "at most 6 per 60 s"),
        ("⏸ Drawing off", "Drawing: off"),
        ("▶️ Drawing on", "Drawing: on"),
        ("✍️ Draw as typed", "translated to English before drawing: off"),
        ("🔤 Translate prompts", "translated to English before drawing: on"),
        ("English", "Language: English"),
        ("Русский", "Язык: Русский"),
    ]
    for label, shown in presses:
        answer = _press(botapi, panel, label)
        assert not answer.params.get("show_alert")
        botapi.wait_until(
            partial(lambda shown, old: shown in _current(botapi, old)["text"], shown, panel)
        )
        panel = _current(botapi, panel)
        assert _buttons(panel)[label]  # the same panel, redrawn
    # In a private chat the user runs their own chat: the panel holds the safety policy and
    # the translation switch only.
    private = _say(botapi, 8203, f"/settings@{BOT_USERNAME}", 8203).result
    assert private["text"].endswith(
        "Safety: blur\nRussian prompts translated to English before drawing: on"
    )
    assert list(_buttons(private)) == [
        "⛔ block",
        "🌫 blur",
        "🔓 off",
        "🔤 Translate prompts",
        "✍️ Draw as typed",
    ]
    # The group's language now speaks to everyone in it, whatever their own.
    start = len(botapi.calls)
    botapi.push_message(PANEL, "/help", chat_type="supergroup", user_id=8202)
    help_text = botapi.wait_for(lambda c: c.method == "sendMessage" and c.ok, start=start)
    assert help_text.result["text"].startswith("Я рисую картинку")


def test_admins_only_mode_refuses_members_politely(plain: Stack) -> None:
    botapi = plain.botapi
    _press(botapi, _panel(botapi, ADMINS_ONLY), "🛡 Admins only")
    refused = _say(botapi, ADMINS_ONLY, "/imagine a fox", 8301)
    assert refused.result["text"] == texts.ADMINS_ONLY_DRAWING
    _say(botapi, ADMINS_ONLY, "/imagine a fox", ADMIN, "sendPhoto")


def test_telegram_unable_to_name_the_admins_is_unavailable_not_a_failure(plain: Stack) -> None:
    botapi = plain.botapi
    chat = -100_8600
    botapi.set_role(chat, ADMIN, "creator")
    _press(botapi, _panel(botapi, chat), "🛡 Admins only")
    botapi.fail_next("getChatMember", status=429, retry_after=1)
    answer = _say(botapi, chat, "/imagine a fox", 8601)
    assert answer.result["text"] == texts.UNAVAILABLE
    botapi.fail_next("getChatMember", status=502)
    answer = _say(botapi, chat, "/imagine a fox", 8602)
    assert answer.result["text"] == texts.UNAVAILABLE


def test_a_group_rate_chosen_by_its_admins_holds(plain: Stack) -> None:
    botapi = plain.botapi
    _press(botapi, _panel(botapi, RATE), "3 per 60 s")
    for user in (8401, 8402, 8403):  # one each, so no personal limit is in the way
        _say(botapi, RATE, "/imagine a fox", user, "sendPhoto")
    busy = _say(botapi, RATE, "/imagine a fox", 8404)
    assert busy.result["text"].startswith("This chat has had a lot of pictures.")


def test_drawing_off_stops_everyone_in_the_group(plain: Stack) -> None:
    botapi = plain.botapi
    _press(botapi, _panel(botapi, OFF), "⏸ Drawing off")
    refused = _say(botapi, OFF, "/imagine a fox", 8501)
    assert refused.result["text"] == texts.DRAWING_OFF
