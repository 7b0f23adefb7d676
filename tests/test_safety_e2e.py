"""Safety policies end to end, with a worker whose classifier flags every picture.

Real bot and worker processes, real Redis, the test Bot API server: what each chat's policy
makes of a flagged picture, and who may change the policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot import texts
from testing.faults import messages, photos, wait_handled
from tests.conftest import BOT_USERNAME, Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

GROUP, OTHER_GROUP = -100700, -100701
ADMIN, OPERATOR = 7001, 900
STORAGE = -100707
# Telegram's stand-in sender for an admin posting anonymously as the group.
ANONYMOUS = 1087968824
# The user Telegram names as the sender of a message posted as a channel.
CHANNEL_BOT = 136817688


@pytest.fixture(scope="module")
def flagged(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, flag_all: Path
) -> Iterator[Stack]:
    running = Stack(
        tmp_path_factory.mktemp("safety"),
        tiny_model,
        worker_env={"safety_model_id": str(flag_all)},
        admin_ids=str(OPERATOR),
        storage_chat_id=str(STORAGE),
        inline_debounce_s="0",
        edit_debounce_s="0.2",
    )
    running.botapi.set_role(GROUP, ADMIN, "administrator")
    yield running
    running.close()


def _say(
    botapi: FakeBotAPI, chat_id: int, text: str, method: str = "sendMessage", **kw: Any
) -> Call:
    sent = botapi.push_message(
        chat_id, text, chat_type="supergroup" if chat_id < 0 else "private", **kw
    )
    return botapi.wait_for_reply(chat_id, sent["message_id"], method)


def test_group_default_withholds_a_flagged_picture_with_one_message(flagged: Stack) -> None:
    botapi = flagged.botapi
    held = _say(botapi, OTHER_GROUP, "/imagine a red fox", user_id=7201)
    assert held.result["text"] == texts.SAFETY_HELD
    # A second one at once: held back too, and the requester is not told twice.
    botapi.push_message(OTHER_GROUP, "/imagine a blue fox", chat_type="supergroup", user_id=7201)
    wait_handled(botapi, flagged.redis.url)
    assert photos(botapi, OTHER_GROUP) == []
    assert messages(botapi, OTHER_GROUP) == [texts.SAFETY_HELD]


def test_private_default_sends_a_flagged_picture_under_a_spoiler(flagged: Stack) -> None:
    photo = _say(flagged.botapi, 7101, "a red fox", "sendPhoto")
    assert photo.result["has_media_spoiler"] is True
    assert photo.result["caption"].startswith("a red fox\nseed ")
    assert photo.result["reply_markup"]["inline_keyboard"]


def test_admins_change_the_group_policy_and_members_cannot(flagged: Stack) -> None:
    botapi, member = flagged.botapi, 7202
    refused = _say(botapi, GROUP, "/safety off", user_id=member)
    assert refused.result["text"] == texts.SETTINGS_ADMINS_ONLY
    held = _say(botapi, GROUP, "/imagine a fox", user_id=member)
    assert held.result["text"] == texts.SAFETY_HELD  # still the default: block
    done = _say(botapi, GROUP, f"/safety@{BOT_USERNAME} blur", user_id=ADMIN)
    assert done.result["text"] == "This chat's safety policy is now blur."
    photo = _say(botapi, GROUP, "/imagine a fox", "sendPhoto", user_id=member)
    assert photo.result["has_media_spoiler"] is True
    # An admin posting as the group, and the bot's operator, count as admins too.
    group = {"id": GROUP, "type": "supergroup", "title": "Chat"}
    anonymous = _say(
        botapi, GROUP, "/safety block", user_id=ANONYMOUS, extra={"sender_chat": group}
    )
    assert anonymous.result["text"] == "This chat's safety policy is now block."
    operator = _say(botapi, GROUP, "/safety off", user_id=OPERATOR)
    assert operator.result["text"] == "This chat's safety policy is now off."
    plain = _say(botapi, GROUP, "/imagine a fox", "sendPhoto", user_id=member)
    assert "has_media_spoiler" not in plain.result
    # Only Telegram's word made anyone an admin: one lookup per person, then the cache.
    asked = {c.params["user_id"] for c in botapi.sent(method="getChatMember")}
    assert asked == {member, ADMIN}
    usage = _say(botapi, GROUP, "/safety", user_id=member)
    assert usage.result["text"].startswith("This chat's safety policy: off.")
    # A member posting as a channel of their own is not the group: refused, nothing changes.
    channel = {"id": -100_9901, "type": "channel", "title": "A member's channel"}
    as_channel = _say(
        botapi, OTHER_GROUP, "/safety off", user_id=CHANNEL_BOT, extra={"sender_chat": channel}
    )
    assert as_channel.result["text"] == texts.SETTINGS_ADMINS_ONLY
    unchanged = _say(botapi, OTHER_GROUP, "/safety", user_id=member)
    assert unchanged.result["text"].startswith("This chat's safety policy: block.")


def test_variations_and_the_file_button_honour_the_policy(flagged: Stack) -> None:
    botapi, chat = flagged.botapi, 7102
    photo = _say(botapi, chat, "a red fox", "sendPhoto")
    buttons = {
        b["text"]: b["callback_data"]
        for row in photo.result["reply_markup"]["inline_keyboard"]
        for b in row
    }
    message_id = photo.result["message_id"]
    botapi.push_callback_query(chat, message_id, buttons[texts.BUTTON_VARIATIONS])
    album = botapi.wait_for_reply(chat, message_id, "sendMediaGroup")
    assert [m.get("has_media_spoiler") for m in album.result] == [True] * 4
    # A flagged PNG file cannot carry a spoiler: under blur it is held back.
    botapi.push_callback_query(chat, message_id, buttons[texts.BUTTON_FILE])
    assert (
        botapi.wait_for_reply(chat, message_id, "sendMessage").result["text"] == texts.SAFETY_HELD
    )
    assert botapi.sent(chat, "sendDocument") == []
    # Where the chat turned the policy off, the file is sent as made.
    assert _say(botapi, chat, "/safety off").result["text"].endswith("is now off.")
    botapi.push_callback_query(chat, message_id, buttons[texts.BUTTON_FILE])
    document = botapi.wait_for_reply(chat, message_id, "sendDocument")
    assert document.result["document"]["file_name"].endswith(".png")


def test_flagged_pictures_are_never_offered_inline(flagged: Stack) -> None:
    botapi = flagged.botapi
    query = botapi.push_inline_query("a red fox", user_id=7103)
    answer = botapi.wait_for(
        lambda c: c.method == "answerInlineQuery" and c.params["inline_query_id"] == query["id"],
        timeout=60,
    )
    (result,) = answer.params["results"]
    assert (result["type"], result["title"]) == ("article", texts.SAFETY_HELD_INLINE)
    assert botapi.sent(STORAGE) == []


def test_an_edited_prompt_is_redrawn_under_the_policy(flagged: Stack) -> None:
    botapi, chat = flagged.botapi, 7104
    sent = botapi.push_message(chat, "a red fox")
    photo = botapi.wait_for_reply(chat, sent["message_id"], "sendPhoto")
    assert photo.result["has_media_spoiler"] is True

    def replaced(prompt: str) -> Call:
        return botapi.wait_for(
            lambda c: (
                c.method == "editMessageMedia" and c.ok and c.result["caption"].startswith(prompt)
            )
        )

    botapi.edit_message(chat, sent["message_id"], "a blue fox")
    assert replaced("a blue fox").result["has_media_spoiler"] is True
    assert _say(botapi, chat, "/safety block").result["text"].endswith("is now block.")
    start = len(botapi.calls)
    botapi.edit_message(chat, sent["message_id"], "a green fox")
    held = botapi.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.result["text"] == texts.SAFETY_HELD,
        timeout=60,
        start=start,
    )
    assert held.result["reply_to_message"]["message_id"] == sent["message_id"]
    # The held-back picture did not replace the photo: it still shows the last one let through.
    shown = botapi.message(chat, photo.result["message_id"])
    assert shown is not None and shown["caption"].startswith("a blue fox")


def test_an_upscale_is_screened_like_any_picture(flagged: Stack) -> None:
    botapi, chat = flagged.botapi, 7106
    photo = _say(botapi, chat, "a red fox", "sendPhoto")
    message_id = photo.result["message_id"]
    buttons = {
        b["text"]: b["callback_data"]
        for row in photo.result["reply_markup"]["inline_keyboard"]
        for b in row
    }
    # A private chat's default, blur: the 2× comes under a spoiler too.
    botapi.push_callback_query(chat, message_id, buttons[texts.BUTTON_UPSCALE])
    big = botapi.wait_for_reply(chat, message_id, "sendPhoto")
    assert "🔍 2×" in big.result["caption"]
    assert big.result["has_media_spoiler"] is True
    # Under block it is held back, and the requester is told.
    assert _say(botapi, chat, "/safety block").result["text"].endswith("is now block.")
    start = len(botapi.calls)
    botapi.push_message(chat, "/upscale", reply_to_message_id=message_id)
    held = botapi.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.result["text"] == texts.SAFETY_HELD,
        timeout=60,
        start=start,
    )
    assert held.result["reply_to_message"]["message_id"] == message_id
    assert len(botapi.sent(chat, "sendPhoto")) == 2


def test_an_operator_forbidding_off_gives_chats_that_chose_it_their_default(
    flagged: Stack,
) -> None:
    """Last in this module: it restarts the bot with `SAFETY_ALLOW_OFF=false`."""
    botapi, chat = flagged.botapi, 7108
    assert _say(botapi, chat, "/safety off").result["text"].endswith("is now off.")
    assert "has_media_spoiler" not in _say(botapi, chat, "a red fox", "sendPhoto").result
    assert flagged.bot is not None
    flagged.bot.stop()
    flagged.bot = flagged.spawn.bot(
        flagged.redis.url,
        botapi,
        admin_ids=str(OPERATOR),
        storage_chat_id=str(STORAGE),
        safety_allow_off="false",
    )
    # The private chat's choice of off now reads as its default, blur; a group's as block.
    assert _say(botapi, chat, "a red fox", "sendPhoto").result["has_media_spoiler"] is True
    operator = _say(botapi, GROUP, "/safety", user_id=OPERATOR)
    assert operator.result["text"].startswith("This chat's safety policy: block.")
    held = _say(botapi, GROUP, "/imagine a fox", user_id=7203)
    assert held.result["text"] == texts.SAFETY_HELD
    # Nobody can choose off again, not even the operator; the choices no longer offer it.
    refused = _say(botapi, chat, "/safety off")
    assert refused.result["text"] == texts.SETTINGS_NOT_ALLOWED
    assert _say(botapi, GROUP, "/safety off", user_id=OPERATOR).result["text"] == (
        texts.SETTINGS_NOT_ALLOWED
    )
    usage = _say(botapi, chat, "/safety")
    assert usage.result["text"].endswith("(block, blur).")
