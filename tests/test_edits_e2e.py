"""Edited prompts end to end: the user edits their message, the bot's photo changes in place."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

from testing.faults import wait_settled, wait_until
from testing.jobs import KEYS
from tests.conftest import BOT_USERNAME, Stack
from tests.test_pictures_e2e import _jpeg, _reply

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

GROUP: dict[str, Any] = {"chat_type": "supergroup", "chat_title": "Painters"}


@pytest.fixture(scope="module")
def edits(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("edits")
    blocklist = workdir / "blocklist.txt"
    blocklist.write_text("gore\n")
    running = Stack(workdir, tiny_model, edit_debounce_s="0.5", blocklist_file=str(blocklist))
    yield running
    running.close()


def _photo(botapi: FakeBotAPI, chat_id: int, message_id: int, method: str = "sendPhoto") -> Call:
    """The bot's answer of `method` replying to the user's message."""
    return _reply(botapi, method, chat_id, message_id)


def _replaced(botapi: FakeBotAPI, chat_id: int, photo: Call, prompt: str) -> Call:
    """The photo `photo` sent, edited in place to show `prompt`."""
    return botapi.wait_for(
        lambda c: (
            c.method == "editMessageMedia"
            and c.ok
            and c.chat_id == chat_id
            and c.params["message_id"] == photo.result["message_id"]
            and c.result["caption"].startswith(f"{prompt}\n")
        ),
        timeout=60,
    )


def _revisions(client: redis.Redis, chat_id: int) -> list[int]:
    """Which edits the jobs waiting for an answer in the chat draw."""
    records = [json.loads(client.get(key) or b"{}") for key in client.keys(KEYS.job_context("*"))]
    origins = [record.get("origin", {}) for record in records]
    return [origin["revision"] for origin in origins if origin.get("chat_id") == chat_id]


def _seed(call: Call) -> int:
    found = re.search(r"\nseed (\d+)\n", call.result["caption"])
    assert found is not None, call.result["caption"]
    return int(found.group(1))


def _calls(botapi: FakeBotAPI, chat_id: int | None, method: str) -> list[Call]:
    return [c for c in botapi.calls if c.method == method and c.chat_id == chat_id]


def _handled(stack: Stack, update: dict[str, Any], how: str = "handled") -> None:
    """Wait until the bot is done with an update: nothing it starts can come later."""
    assert stack.bot is not None
    stack.bot.wait_for_output(rf"Update id={update['update_id']} is {how}\.", timeout=30)


def _quiet(stack: Stack, *updates: dict[str, Any]) -> None:
    """Every update handled and every job answered: whatever the bot sends is sent."""
    for update in updates:
        _handled(stack, update)
    wait_settled(stack.redis.url)


def _picture(botapi: FakeBotAPI, call: Call) -> bytes:
    """The picture a message shows after the call, as Telegram stores it."""
    return botapi.file_bytes(call.result["photo"][-1]["file_id"])


def test_an_edited_imagine_replaces_its_photo_in_place_with_the_same_seed(edits: Stack) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7001, "/imagine a red fox")
    photo = _photo(botapi, 7001, sent["message_id"])
    update = botapi.edit_message(7001, sent["message_id"], "/imagine a blue fox")
    edited = _replaced(botapi, 7001, photo, "a blue fox")
    assert _seed(edited) == _seed(photo)
    assert edited.result["caption"].endswith("SDXL Turbo · non-commercial use")
    assert edited.params["media"]["type"] == "photo"
    assert _picture(botapi, edited) != _picture(botapi, photo)
    assert edited.result["reply_markup"] == photo.result["reply_markup"]
    assert edited.result["reply_to_message"]["message_id"] == sent["message_id"]
    _quiet(edits, update)
    assert len(_calls(botapi, 7001, "sendPhoto")) == 1  # no new message
    shown = botapi.message(7001, photo.result["message_id"])
    assert shown is not None and shown["caption"].startswith("a blue fox\n")


def test_quick_edits_draw_only_the_last_prompt(edits: Stack) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7002, "a cat")  # a plain-text prompt in private
    photo = _photo(botapi, 7002, sent["message_id"])
    updates = [
        botapi.edit_message(7002, sent["message_id"], text)
        for text in ("a cat in a hat", "a cat in a boat", "a cat in a coat")
    ]
    edited = _replaced(botapi, 7002, photo, "a cat in a coat")
    _quiet(edits, *updates)
    assert [
        c.result["caption"].split("\n")[0] for c in _calls(botapi, 7002, "editMessageMedia")
    ] == ["a cat in a coat"]
    assert _seed(edited) == _seed(photo)
    assert len(_calls(botapi, 7002, "sendPhoto")) == 1


def test_a_result_for_an_older_edit_never_overwrites_a_newer_one(edits: Stack) -> None:
    botapi, worker = edits.botapi, edits.worker
    assert worker is not None and edits.bot is not None
    client = redis.Redis.from_url(edits.redis.url)
    sent = botapi.push_message(7003, "/imagine a tower")
    photo = _photo(botapi, 7003, sent["message_id"])
    wait_settled(edits.redis.url)
    worker.signal(signal.SIGSTOP)  # the next job waits, queued, until the newer edit is seen
    try:
        first = botapi.edit_message(7003, sent["message_id"], "/imagine a tower at dusk")
        wait_until(lambda: _revisions(client, 7003) == [first["update_id"]], 30, "its job")
        later = botapi.edit_message(7003, sent["message_id"], "/imagine a tower at dawn")
        record = KEYS.edits(7003, sent["message_id"])
        newest = str(later["update_id"]).encode()
        wait_until(lambda: client.hget(record, "revision") == newest, 30, "the second edit")
    finally:
        worker.signal(signal.SIGCONT)
    edited = _replaced(botapi, 7003, photo, "a tower at dawn")
    edits.bot.wait_for_output(r"drawn for an older edit of its prompt; dropped", timeout=30)
    _quiet(edits, later)
    assert _calls(botapi, 7003, "editMessageMedia") == [edited]
    shown = botapi.message(7003, photo.result["message_id"])
    assert shown is not None and shown["caption"].startswith("a tower at dawn\n")
    client.close()


def test_in_a_group_the_last_quick_edit_replaces_the_photo_and_chatter_is_ignored(
    edits: Stack,
) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(-100701, f"@{BOT_USERNAME} a castle", user_id=71, **GROUP)
    photo = _photo(botapi, -100701, sent["message_id"])
    quick = [
        botapi.edit_message(-100701, sent["message_id"], f"@{BOT_USERNAME} {prompt}")
        for prompt in ("a fortress", "a tower", "a palace")
    ]
    edited = _replaced(botapi, -100701, photo, "a palace")
    assert edited.result["reply_to_message"]["message_id"] == sent["message_id"]
    assert edited.result["reply_to_message"]["from"]["id"] == 71
    assert _seed(edited) == _seed(photo)
    # Without the mention it is chatter, no prompt: ignored.
    chatter = botapi.edit_message(-100701, sent["message_id"], "a palace, what do you think?")
    _handled(edits, chatter, "not handled")
    _quiet(edits, *quick)
    assert _calls(botapi, -100701, "editMessageMedia") == [edited]
    assert len(_calls(botapi, -100701, "sendPhoto")) == 1


def test_an_edited_caption_redraws_from_the_same_picture(edits: Stack) -> None:
    botapi, worker = edits.botapi, edits.worker
    assert worker is not None
    sent = botapi.push_message(7004, photo=_jpeg((640, 480)), caption="as a watercolor")
    photo = _photo(botapi, 7004, sent["message_id"])
    botapi.edit_message(7004, sent["message_id"], "as a charcoal sketch")
    edited = _replaced(botapi, 7004, photo, "as a charcoal sketch")
    assert _seed(edited) == _seed(photo)
    file_id = sent["photo"][-1]["file_id"]
    downloads = [
        c for c in botapi.calls if c.method == "getFile" and c.params["file_id"] == file_id
    ]
    # Drawn again from the very same pixels, kept once: not downloaded (nor stored) again.
    assert len(downloads) == 1
    assert len(re.findall(r"img2img=True", worker.output())) >= 2


def test_a_refused_edit_is_answered_and_the_picture_stays(edits: Stack) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7005, "/imagine a quiet lake")
    photo = _photo(botapi, 7005, sent["message_id"])
    update = botapi.edit_message(7005, sent["message_id"], "/imagine a lake of gore")
    refusal = _photo(botapi, 7005, sent["message_id"], method="sendMessage")
    assert refusal.result["text"] == "Sorry, I can't draw that. Please try a different prompt."
    _quiet(edits, update)
    assert _calls(botapi, 7005, "editMessageMedia") == []
    shown = botapi.message(7005, photo.result["message_id"])
    assert shown is not None and shown["caption"].startswith("a quiet lake\n")


def test_an_edit_of_a_prompt_that_got_no_picture_gets_a_new_photo(edits: Stack) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7006, "/imagine")
    hint = _photo(botapi, 7006, sent["message_id"], method="sendMessage")
    assert hint.result["text"].startswith("Usage: /imagine")
    botapi.edit_message(7006, sent["message_id"], "/imagine a windmill")
    photo = _photo(botapi, 7006, sent["message_id"])
    assert photo.result["caption"].startswith("a windmill\n")
    # From then on, its edits replace that photo.
    update = botapi.edit_message(7006, sent["message_id"], "/imagine a windmill in rain")
    edited = _replaced(botapi, 7006, photo, "a windmill in rain")
    assert _seed(edited) == _seed(photo)
    _quiet(edits, update)
    assert len(_calls(botapi, 7006, "sendPhoto")) == 1


def test_buttons_under_an_edited_photo_use_its_new_prompt_and_albums_stay(
    edits: Stack,
) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7007, "/imagine a lighthouse")
    photo = _photo(botapi, 7007, sent["message_id"])
    rows = photo.result["reply_markup"]["inline_keyboard"]
    button = {b["text"]: b["callback_data"] for row in rows for b in row}
    photo_id = photo.result["message_id"]
    botapi.push_callback_query(7007, photo_id, button["🎲 Variations"])
    album = botapi.wait_for(lambda c: c.method == "sendMediaGroup" and c.chat_id == 7007, 60)
    botapi.edit_message(7007, sent["message_id"], "/imagine a lighthouse in fog")
    edited = _replaced(botapi, 7007, photo, "a lighthouse in fog")
    for message in album.result:  # the album is no answer to the prompt: left as it was
        shown = botapi.message(7007, message["message_id"])
        assert shown is not None and shown["caption"].startswith("a lighthouse\n")
    botapi.push_callback_query(7007, photo_id, button["📄 File"])
    document = _photo(botapi, 7007, photo_id, method="sendDocument")
    assert document.result["caption"].startswith(f"a lighthouse in fog\nseed {_seed(edited)}\n")


def test_a_deleted_photo_comes_back_as_a_new_reply(edits: Stack) -> None:
    botapi = edits.botapi
    sent = botapi.push_message(7008, "/imagine a harbour")
    photo = _photo(botapi, 7008, sent["message_id"])
    botapi.state.delete_message(7008, photo.result["message_id"])
    botapi.edit_message(7008, sent["message_id"], "/imagine a harbour at night")
    again = botapi.wait_for(
        lambda c: c.method == "sendPhoto" and c.ok and c.chat_id == 7008 and c is not photo, 60
    )
    assert again.result["caption"].startswith("a harbour at night\n")
    assert again.result["reply_to_message"]["message_id"] == sent["message_id"]
    refused = _calls(botapi, 7008, "editMessageMedia")
    assert [c.status for c in refused] == [400]
    # The new photo is the one later edits replace.
    botapi.edit_message(7008, sent["message_id"], "/imagine a harbour at noon")
    _replaced(botapi, 7008, again, "a harbour at noon")


def test_an_edit_after_the_window_is_ignored(edits: Stack) -> None:
    botapi = edits.botapi
    three_days_ago = int(time.time()) - 3 * 86_400
    sent = botapi.push_message(7009, "/imagine a glacier", extra={"date": three_days_ago})
    photo = _photo(botapi, 7009, sent["message_id"])
    update = botapi.edit_message(7009, sent["message_id"], "/imagine a desert")
    assert edits.bot is not None
    edits.bot.wait_for_output(
        rf"edit of message {sent['message_id']} ignored: older than the edit window", timeout=30
    )
    _quiet(edits, update)
    assert _calls(botapi, 7009, "editMessageMedia") == []
    shown = botapi.message(7009, photo.result["message_id"])
    assert shown is not None and shown["caption"].startswith("a glacier\n")
