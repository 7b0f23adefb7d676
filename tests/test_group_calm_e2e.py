"""Calm groups end to end: what concerns one member reaches that member alone.

A real bot process against the test Bot API (ephemeral messages, reactions); the worker is
started only once the queue holds what a test needs waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

from bot import texts
from bot.community.settings_panel import CHOSEN
from common.config import QueueSettings
from common.protocol import Keys
from tests.conftest import Stack

if TYPE_CHECKING:
    from testing.botapi import FakeBotAPI

EYES, BOLT = "\N{EYES}", "\N{HIGH VOLTAGE SIGN}"
ADMIN, ANNA, BORIS, VERA = 9001, 9002, 9003, 9004


def _prompt(botapi: FakeBotAPI, chat: int, user: int, text: str) -> int:
    return int(botapi.push_message(chat, text, user_id=user, chat_type="supergroup")["message_id"])


def _bot_messages(botapi: FakeBotAPI, chat: int) -> list[dict[str, Any]]:
    """What every member sees the bot post in the group's history."""
    return [m for m in botapi.messages(chat) if m.get("from", {}).get("is_bot")]


def _seen(botapi: FakeBotAPI, chat: int, user: int) -> list[str]:
    return [m["text"] for m in botapi.ephemeral_for(chat, user)]


@pytest.fixture
def waiting(tmp_path: Path, tiny_model: Path) -> Iterator[Stack]:
    """A group whose prompts wait in the queue until the test starts the worker."""
    stack = Stack(tmp_path, tiny_model, worker=False, user_inflight="1")
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    """No worker ever: prompts wait. Tests share it, each in a group of its own."""
    stack = Stack(tmp_path_factory.mktemp("quiet"), tiny_model, worker=False, user_inflight="1")
    yield stack
    stack.close()


def test_a_members_notice_queue_place_and_refusal_reach_only_them_and_reactions_follow(
    waiting: Stack,
) -> None:
    botapi, group = waiting.botapi, -100_9100
    anna = _prompt(botapi, group, ANNA, "/imagine a red fox")
    # Anna's first picture: the licence notice, for her alone.
    botapi.wait_until(lambda: any("non-commercial" in t for t in _seen(botapi, group, ANNA)))
    botapi.wait_until(lambda: botapi.reaction(group, anna) == [EYES])
    boris = _prompt(botapi, group, BORIS, "/imagine a lighthouse")
    botapi.wait_until(lambda: "In queue: #2" in _seen(botapi, group, BORIS), timeout=20)
    assert not any(t.startswith("In queue") for t in _seen(botapi, group, ANNA))
    # Anna asks again while her first picture waits: refused, and only she is told.
    _prompt(botapi, group, ANNA, "/imagine another fox")
    botapi.wait_until(
        lambda: any(
            t.startswith("Please wait for your pictures") for t in _seen(botapi, group, ANNA)
        )
    )
    assert not any(t.startswith("Please wait") for t in _seen(botapi, group, BORIS))
    assert _bot_messages(botapi, group) == []  # the group saw nothing of all that
    assert botapi.ephemeral_for(group, VERA) == []

    waiting.start_worker()
    botapi.wait_until(lambda: len(_bot_messages(botapi, group)) == 2, timeout=60)
    photos = _bot_messages(botapi, group)
    assert sorted(m["reply_to_message"]["message_id"] for m in photos) == [anna, boris]
    assert all("photo" in m for m in photos)  # the pictures themselves are public
    # Boris's queue place is gone with his photo; both prompts now show ⚡.
    botapi.wait_until(
        lambda: not any(t.startswith("In queue") for t in _seen(botapi, group, BORIS)),
        timeout=20,
    )
    # Each ⚡ follows its own photo's delivery: the two are sent side by side.
    botapi.wait_until(lambda: botapi.reaction(group, boris) == [BOLT], timeout=20)
    botapi.wait_until(lambda: botapi.reaction(group, anna) == [BOLT], timeout=20)
    # Ephemeral sends were tried once each and all were taken: nothing fell back.
    sends = [c for c in botapi.sent(chat_id=group, method="sendMessage")]
    assert sends and all(c.params.get("ephemeral_message_parameters") for c in sends)
    # Telegram refusing reactions (a 429) never holds up a picture.
    botapi.fail_next("setMessageReaction", status=429, count=10)
    vera = _prompt(botapi, group, VERA, "/imagine an owl")
    photo = botapi.wait_for_reply(group, vera, "sendPhoto")
    assert photo.result["photo"]
    assert botapi.reaction(group, vera) == []


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message["reply_markup"]["inline_keyboard"]
    return {b["text"].removeprefix(CHOSEN): b["callback_data"] for row in rows for b in row}


def test_the_admins_panel_is_theirs_alone_and_presses_edit_it_in_place(quiet: Stack) -> None:
    botapi, group = quiet.botapi, -100_9200
    botapi.set_role(group, ADMIN, "creator")
    _prompt(botapi, group, VERA, "/settings")
    botapi.wait_until(lambda: _seen(botapi, group, VERA) == [texts.SETTINGS_ADMINS_ONLY])
    _prompt(botapi, group, ADMIN, "/settings")
    botapi.wait_until(lambda: len(botapi.ephemeral_for(group, ADMIN)) == 1)
    (panel,) = botapi.ephemeral_for(group, ADMIN)
    assert "Safety: block\n" in panel["text"]
    botapi.push_ephemeral_callback(
        group, panel["ephemeral_message_id"], _buttons(panel)["🌫 blur"], user_id=ADMIN
    )
    botapi.wait_until(lambda: "Safety: blur\n" in botapi.ephemeral_for(group, ADMIN)[0]["text"])
    (edited,) = botapi.ephemeral_for(group, ADMIN)
    assert edited["ephemeral_message_id"] == panel["ephemeral_message_id"]  # in place
    assert _buttons(edited)  # still a panel
    assert _bot_messages(botapi, group) == []
    assert _seen(botapi, group, VERA) == [texts.SETTINGS_ADMINS_ONLY]


def test_an_older_server_gets_ordinary_messages_and_the_chat_is_remembered(
    quiet: Stack,
) -> None:
    botapi, group = quiet.botapi, -100_9300
    botapi.refuse_ephemeral()
    try:
        _older_server(quiet, botapi, group)
    finally:
        botapi.refuse_ephemeral(False)


def _older_server(stack: Stack, botapi: FakeBotAPI, group: int) -> None:
    _prompt(botapi, group, ANNA, "/imagine a red fox")
    # The licence notice, in the open as before.
    botapi.wait_until(
        lambda: any("non-commercial" in m.get("text", "") for m in _bot_messages(botapi, group))
    )
    _prompt(botapi, group, ANNA, "/imagine another fox")
    botapi.wait_until(
        lambda: any(
            m.get("text", "").startswith("Please wait") for m in _bot_messages(botapi, group)
        )
    )
    client = redis.Redis.from_url(stack.redis.url)
    assert client.ttl(Keys(QueueSettings()).no_ephemeral(group)) > 0
    # One refused try, then the chat's answers go straight to ordinary messages.
    tried = [
        c
        for c in botapi.calls
        if c.method == "sendMessage"
        and c.chat_id == group
        and c.params.get("ephemeral_message_parameters")
    ]
    assert len(tried) == 1
    client.close()


def test_a_held_back_picture_is_told_to_the_requester_alone(
    tmp_path: Path, tiny_model: Path, flag_all: Path
) -> None:
    stack = Stack(tmp_path, tiny_model, worker_env={"safety_model_id": str(flag_all)})
    try:
        botapi, group = stack.botapi, -100_9500
        prompt = _prompt(botapi, group, ANNA, "/imagine a red fox")
        botapi.wait_until(lambda: texts.SAFETY_HELD in _seen(botapi, group, ANNA), timeout=60)
        assert _bot_messages(botapi, group) == []  # no photo, and no notice for everyone
        assert botapi.ephemeral_for(group, BORIS) == []
        botapi.wait_until(lambda: botapi.reaction(group, prompt) == [BOLT], timeout=20)
    finally:
        stack.close()
