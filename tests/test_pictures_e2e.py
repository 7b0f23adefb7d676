"""Image-to-image end to end: pictures downloaded through getFile, redrawn by the tiny model."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from PIL import Image

from testing.jobs import KEYS
from tests.conftest import Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

# Above the tiny model's noisy 512×512 photos (~250 KB), which replies may redraw.
MAX_INPUT_BYTES = 400_000


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("pictures")
    running = Stack(workdir, tiny_model, max_input_bytes=str(MAX_INPUT_BYTES))
    yield running
    running.close()


def _jpeg(size: tuple[int, int], noise: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    if noise:  # noise does not compress: a big file
        rng = random.Random(1)
        image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def _reply(botapi: FakeBotAPI, method: str, chat_id: int, message_id: int) -> Call:
    return botapi.wait_for(
        lambda c: (
            c.method == method
            and c.ok
            and c.chat_id == chat_id
            and c.result.get("reply_to_message", {}).get("message_id") == message_id
        ),
        timeout=60,
    )


def _assert_picture(call: Call, prompt: str) -> None:
    image = Image.open(io.BytesIO(call.file("photo")))
    assert (image.format, image.size) == ("JPEG", (512, 512))
    assert call.result["caption"].startswith(f"{prompt}\nseed ")
    assert "reply_markup" in call.result


def _downloaded(botapi: FakeBotAPI, message: dict[str, Any]) -> bool:
    file_id = message["photo"][-1]["file_id"]
    return any(c.method == "getFile" and c.params["file_id"] == file_id for c in botapi.calls)


def test_a_captioned_photo_in_private_is_redrawn(pictures: Stack) -> None:
    botapi = pictures.botapi
    sent = botapi.push_message(4001, photo=_jpeg((800, 600)), caption="as a watercolor")
    _assert_picture(_reply(botapi, "sendPhoto", 4001, sent["message_id"]), "as a watercolor")
    assert _downloaded(botapi, sent)
    pictures.worker.wait_for_output(r"images=1 format=jpeg img2img=True", 5)  # type: ignore[union-attr]


def test_a_text_reply_to_a_photo_redraws_it_and_its_buttons_reuse_the_input(
    pictures: Stack,
) -> None:
    botapi = pictures.botapi
    alone = botapi.push_message(4002, photo=_jpeg((600, 900)))
    hint = _reply(botapi, "sendMessage", 4002, alone["message_id"])
    assert hint.result["text"].startswith("Add a caption saying what to make of this picture")
    reply = botapi.push_message(4002, "at night", reply_to_message_id=alone["message_id"])
    photo = _reply(botapi, "sendPhoto", 4002, reply["message_id"])
    _assert_picture(photo, "at night")
    assert _downloaded(botapi, alone)
    rows = photo.result["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == "📄 File")
    botapi.push_callback_query(4002, photo.result["message_id"], data)
    document = _reply(botapi, "sendDocument", 4002, photo.result["message_id"])
    png = Image.open(io.BytesIO(document.file("document")))
    assert (png.format, png.size) == ("PNG", (512, 512))
    pictures.worker.wait_for_output(r"images=1 format=png img2img=True", 5)  # type: ignore[union-attr]


def test_groups_take_imagine_captions_and_replies_to_the_bot(pictures: Stack) -> None:
    botapi = pictures.botapi
    group: dict[str, Any] = {"chat_type": "supergroup", "chat_title": "Painters"}
    sent = botapi.push_message(
        -100900, photo=_jpeg((640, 640)), caption="/imagine in pencil", user_id=41, **group
    )
    photo = _reply(botapi, "sendPhoto", -100900, sent["message_id"])
    _assert_picture(photo, "in pencil")
    again = botapi.push_message(
        -100900, "in ink", reply_to_message_id=photo.result["message_id"], user_id=42, **group
    )
    _assert_picture(_reply(botapi, "sendPhoto", -100900, again["message_id"]), "in ink")


def test_bad_files_get_a_clear_message_and_no_job(pictures: Stack) -> None:
    botapi = pictures.botapi
    cases: list[tuple[dict[str, Any], str]] = [
        ({"document": b"just some notes", "file_name": "notes.txt"}, "That file is not a picture"),
        ({"document": _jpeg((300, 300))[:400], "file_name": "cut.jpg"}, "I couldn't read that"),
        ({"photo": _jpeg((1000, 1000), noise=True)}, "That picture is too large"),
    ]
    for content, expected in cases:
        sent = botapi.push_message(4003, caption="as a watercolor", **content)
        answer = _reply(botapi, "sendMessage", 4003, sent["message_id"])
        assert answer.result["text"].startswith(expected)
    assert "under 0.4 MB" in answer.result["text"]
    assert botapi.sent(4003, "sendPhoto") == []
    client = redis.Redis.from_url(pictures.redis.url)
    assert client.zcard(KEYS.inflight(4003)) == 0
    # Refused files gave their slots back: the user can still draw.
    ok = botapi.push_message(4003, photo=_jpeg((512, 512)), caption="as a mosaic")
    _assert_picture(_reply(botapi, "sendPhoto", 4003, ok["message_id"]), "as a mosaic")
