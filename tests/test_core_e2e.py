"""End to end: Telegram update → bot → Redis/RQ → warm worker → photo reply, all real."""

from __future__ import annotations

import io
import json
import re
from functools import partial
from typing import TYPE_CHECKING

import redis
from PIL import Image

from testing.faults import LICENCE, answers, seen, wait_handled
from testing.jobs import KEYS
from tests.conftest import BOT_USERNAME

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI
    from tests.conftest import Stack


def _photo_for(botapi: FakeBotAPI, chat_id: int, message_id: int) -> Call:
    return botapi.wait_for(
        lambda c: (
            c.method == "sendPhoto"
            and c.ok
            and c.result["chat"]["id"] == chat_id
            and c.result.get("reply_to_message", {}).get("message_id") == message_id
        ),
        timeout=30,
    )


def _assert_512_jpeg(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (512, 512)
    assert image.format == "JPEG"


def test_private_imagine_replies_with_a_512_photo(stack: Stack) -> None:
    botapi = stack.botapi
    sent = botapi.push_message(1001, "/imagine a fox in the snow", user_id=1001)
    call = _photo_for(botapi, 1001, sent["message_id"])
    _assert_512_jpeg(call.file("photo"))
    caption = call.result["caption"]
    assert caption.startswith("a fox in the snow\nseed ")
    assert re.search(r"\nseed \d+\n", caption)
    assert caption.endswith("SDXL Turbo · non-commercial use")
    assert call.result["photo"][-1]["width"] == 512
    actions = [c for c in botapi.calls if c.method == "sendChatAction" and c.chat_id == 1001]
    assert [a.params["action"] for a in actions] == ["upload_photo"]
    assert actions[0].time < call.time


def test_plain_text_in_a_private_chat_is_a_prompt(stack: Stack) -> None:
    botapi = stack.botapi
    sent = botapi.push_message(1002, "a lighthouse, <b>oil</b> & ink", user_id=1002)
    call = _photo_for(botapi, 1002, sent["message_id"])
    _assert_512_jpeg(call.file("photo"))
    # The caption was sent as HTML; what the user reads is the prompt exactly as typed.
    assert call.result["caption"].startswith("a lighthouse, <b>oil</b> & ink\nseed ")


def test_group_imagine_with_bot_mention_replies_to_requester(stack: Stack) -> None:
    botapi = stack.botapi
    group = -100777
    first = botapi.push_message(
        group,
        f"/imagine@{BOT_USERNAME} a castle",
        user_id=11,
        chat_type="supergroup",
        chat_title="Painters",
    )
    other = botapi.push_message(group, "/imagine a boat", user_id=12, chat_type="supergroup")
    ignored = botapi.push_message(
        group, "/imagine@SomeOtherBot a tree", user_id=13, chat_type="supergroup"
    )
    chatter = botapi.push_message(group, "nice picture", user_id=14, chat_type="supergroup")
    castle = _photo_for(botapi, group, first["message_id"])
    boat = _photo_for(botapi, group, other["message_id"])
    assert castle.result["caption"].startswith("a castle\n")
    assert boat.result["caption"].startswith("a boat\n")
    _assert_512_jpeg(castle.file("photo"))
    # Every update of the four handled to the end: the other bot's command and the chatter
    # were looked at and left alone, not merely not reached yet.
    wait_handled(botapi, stack.redis.url)
    replied_to = {
        c.result.get("reply_to_message", {}).get("message_id")
        for c in botapi.calls
        if c.chat_id == group and c.method in {"sendPhoto", "sendMessage"}
    }
    assert ignored["message_id"] not in replied_to
    assert chatter["message_id"] not in replied_to


def test_start_and_help_carry_the_licence_notice(stack: Stack) -> None:
    botapi = stack.botapi
    for command in ("/start", "/help"):
        botapi.push_message(1003, command, user_id=1003)
        call = botapi.wait_for(
            partial(
                lambda cmd, c: (
                    c.method == "sendMessage"
                    and c.chat_id == 1003
                    and c.ok
                    and len(
                        [
                            x
                            for x in botapi.calls
                            if x.method == "sendMessage" and x.chat_id == 1003
                        ]
                    )
                    >= (1 if cmd == "/start" else 2)
                ),
                command,
            ),
            timeout=15,
        )
        text = call.result["text"]
        assert "non-commercial use only" in text
        assert "/imagine" in text
    botapi.push_message(1003, "/license", user_id=1003)
    licence = botapi.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.chat_id == 1003 and "LICENSE" in c.result["text"]
        ),
        timeout=15,
    )
    assert "non-commercial use only" in licence.result["text"]


def test_empty_imagine_gives_usage_and_no_job(stack: Stack) -> None:
    botapi = stack.botapi
    sent = botapi.push_message(1004, "/imagine   ", user_id=1004)
    call = botapi.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 1004, timeout=15)
    assert call.result["text"].startswith("Usage: /imagine")
    assert call.result["reply_to_message"]["message_id"] == sent["message_id"]
    # Its handling ended (and nothing it might have queued is left to run): no job was made.
    wait_handled(botapi, stack.redis.url)
    client = redis.Redis.from_url(stack.redis.url)
    records = [json.loads(client.get(key) or b"{}") for key in client.keys(KEYS.job_context("*"))]
    assert all(record["origin"]["chat_id"] != 1004 for record in records)
    # A real prompt after it is answered with the chat's only photo: a job for the empty
    # command, queued ahead of it, would have been answered first.
    second = botapi.push_message(1004, "/imagine a fox", user_id=1004)
    photo = botapi.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == 1004, timeout=60)
    assert photo.result["reply_to_message"]["message_id"] == second["message_id"]
    answered = [c.method for c in answers(botapi, 1004)]
    assert answered == ["sendMessage", "sendPhoto"]  # the usage hint, the photo
    assert seen(botapi, 1004)[1:] == [LICENCE, "photo"]
