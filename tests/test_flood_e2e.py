"""Crowds against a Bot API that enforces Telegram's flood limits: everyone served, no 429."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import pytest

from bot import texts
from testing.faults import LICENCE, answers, photos, seen, wait_settled
from tests.conftest import BOT_USERNAME, Stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


GROUP_RATE = 4


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    running = Stack(
        tmp_path_factory.mktemp("crowd"), tiny_model, group_rate=f"{GROUP_RATE}/minute"
    )
    running.botapi.flood_mode()
    yield running
    running.close()


def test_forty_new_users_at_once_are_all_served_without_a_429(crowd: Stack) -> None:
    botapi = crowd.botapi
    users = range(8001, 8041)
    asked = {user: botapi.push_message(user, f"/imagine a kite, number {user}") for user in users}
    for user in users:
        botapi.wait_for(
            partial(lambda user, c: c.chat_id == user and c.method == "sendPhoto" and c.ok, user),
            timeout=240,
        )
    wait_settled(crowd.redis.url)
    assert botapi.throttled == []
    for user, message in asked.items():
        (photo,) = photos(botapi, user)
        assert photo.result["reply_to_message"]["message_id"] == message["message_id"]
        assert seen(botapi, user) == [LICENCE, "photo"]


def test_a_group_of_twenty_five_at_once_gets_fair_answers_without_a_429(crowd: Stack) -> None:
    botapi = crowd.botapi
    group = -100_8100
    asked = {
        member: botapi.push_message(
            group, f"@{BOT_USERNAME} a castle for {member}", user_id=member, chat_type="supergroup"
        )["message_id"]
        for member in range(8101, 8126)
    }
    botapi.wait_until(lambda: len(photos(botapi, group)) >= GROUP_RATE, timeout=120)
    wait_settled(crowd.redis.url)
    assert botapi.throttled == []
    # The group's images for this minute, one per member who got in, each to its asker.
    replied_to = [p.result["reply_to_message"]["message_id"] for p in photos(botapi, group)]
    assert len(replied_to) == GROUP_RATE
    assert len(set(replied_to)) == GROUP_RATE
    assert set(replied_to) <= set(asked.values())
    # Everyone else was refused together: one "busy" message in the chat, not 21.
    (refusal,) = [c for c in answers(botapi, group) if c.method == "sendMessage"]
    assert refusal.result["text"].startswith(texts.GROUP_BUSY.split("{")[0])
    assert refusal.result["reply_to_message"]["message_id"] not in replied_to


def test_a_flood_of_commands_in_one_group_leaves_another_chat_served_at_once(
    crowd: Stack,
) -> None:
    botapi = crowd.botapi
    group = -100_8300
    for member in range(8300, 8420):  # 120 members ask for /help at once
        botapi.push_message(group, f"/help@{BOT_USERNAME}", user_id=member, chat_type="supergroup")
    started = time.monotonic()
    botapi.push_message(8500, "/imagine a lighthouse in the calm", user_id=8500)
    botapi.wait_for(lambda c: c.chat_id == 8500 and c.method == "sendPhoto" and c.ok, timeout=60)
    # Handled behind 120 updates, not behind a minute of the group's send window.
    assert time.monotonic() - started < 15
    helps = [c for c in botapi.sent(group, "sendMessage") if c.ok]
    assert len(helps) == 1
    assert botapi.throttled == []
