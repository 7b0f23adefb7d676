"""Inline mode end to end: answerInlineQuery with pictures uploaded once to the storage chat."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from bot import texts
from tests.conftest import Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

STORAGE = -100424242
DEBOUNCE_S = 3


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("inline")
    (workdir / "blocklist.txt").write_text("forbidden\n", encoding="utf-8")
    running = Stack(
        workdir,
        tiny_model,
        storage_chat_id=str(STORAGE),
        # Long enough that two queries pushed back to back always fall in one quiet period,
        # and that a prompt sent behind a crowd typing is drawn well within it.
        inline_debounce_s=str(DEBOUNCE_S),
        user_rate="3/minute",
        blocklist_file=str(workdir / "blocklist.txt"),
    )
    yield running
    running.close()


def _answer(botapi: FakeBotAPI, query: dict[str, Any]) -> Call:
    return botapi.wait_for(
        lambda c: c.method == "answerInlineQuery" and c.params["inline_query_id"] == query["id"],
        timeout=60,
    )


def test_an_inline_query_is_answered_with_fresh_pictures(inline: Stack) -> None:
    botapi = inline.botapi
    typing = botapi.push_inline_query("a red", user_id=5001)
    query = botapi.push_inline_query("a red fox", user_id=5001)
    answer = _answer(botapi, query)
    assert answer.ok
    results = answer.params["results"]
    assert len(results) == 4
    assert {result["type"] for result in results} == {"photo"}
    assert all(result["caption"].startswith("<i>a red fox</i>\nseed ") for result in results)
    # Uploaded once, as one album, to the storage chat: the answer names those very files.
    (upload,) = botapi.sent(STORAGE, "sendMediaGroup")
    uploaded = {message["photo"][-1]["file_id"] for message in upload.result}
    assert {result["photo_file_id"] for result in results} == uploaded
    for item in upload.params["media"]:
        image = Image.open(io.BytesIO(upload.files[item["media"].removeprefix("attach://")]))
        assert (image.format, image.size) == ("JPEG", (512, 512))
    # The query typed over was never drawn nor answered.
    assert not any(
        c.method == "answerInlineQuery" and c.params["inline_query_id"] == typing["id"]
        for c in botapi.calls
    )


def test_a_crowd_typing_inline_holds_no_other_chat_up(inline: Stack) -> None:
    botapi = inline.botapi
    # More users typing at once than the bot handles updates at once (64).
    typing = [botapi.push_inline_query(f"a forbidden {n}", user_id=5100 + n) for n in range(80)]
    botapi.push_message(5300, "/imagine a lighthouse at dusk", user_id=5300)
    photo = botapi.wait_for(lambda c: c.chat_id == 5300 and c.method == "sendPhoto", timeout=60)
    assert photo.ok
    # Drawn and sent while the crowd's queries were still waiting for their users to pause.
    ids = {query["id"] for query in typing}
    answered_before = [
        c
        for c in botapi.calls[: botapi.calls.index(photo)]
        if c.method == "answerInlineQuery" and c.params["inline_query_id"] in ids
    ]
    assert answered_before == []
    # Every one of them is answered afterwards, each with the refusal.
    for query in typing:
        (result,) = _answer(botapi, query).params["results"]
        assert result["title"] == texts.BLOCKED


def test_inline_queries_obey_the_same_limits(inline: Stack) -> None:
    botapi = inline.botapi
    for prompt in ("a boat", "a tree", "a cat"):
        answer = _answer(botapi, botapi.push_inline_query(prompt, user_id=5002))
        assert answer.params["results"][0]["type"] == "photo"
    refused = _answer(botapi, botapi.push_inline_query("a dog", user_id=5002))
    (result,) = refused.params["results"]
    assert result["type"] == "article"
    assert result["title"].startswith("You're going fast!")


def test_an_empty_query_gets_a_hint(inline: Stack) -> None:
    botapi = inline.botapi
    answer = _answer(botapi, botapi.push_inline_query("  ", user_id=5003))
    (result,) = answer.params["results"]
    assert result["title"].startswith("Type a prompt after the bot's name")


def test_without_a_storage_chat_inline_mode_says_it_is_off(
    tmp_path: Path, botapi: FakeBotAPI, redis_url: str, spawn: Any
) -> None:
    spawn.bot(redis_url, botapi)
    answer = _answer(botapi, botapi.push_inline_query("a fox", user_id=5004))
    (result,) = answer.params["results"]
    assert (
        result["title"]
        == "Inline mode is off on this bot. Send /imagine in a chat with it instead."
    )
