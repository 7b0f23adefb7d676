"""Play end to end: seeds, the buttons under photos, restarts, presses in groups, forged data."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from tests.conftest import Stack

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

GROUP = -100555


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("play"), tiny_model, user_rate="4/minute")
    yield running
    running.close()


def _reply(botapi: FakeBotAPI, method: str, chat_id: int, message_id: int) -> Call:
    """The bot's answer of kind `method` replying to `message_id`."""
    return botapi.wait_for_reply(chat_id, message_id, method)


def _photo(botapi: FakeBotAPI, chat_id: int, text: str, **kwargs: Any) -> Call:
    sent = botapi.push_message(chat_id, text, **kwargs)
    return _reply(botapi, "sendPhoto", chat_id, sent["message_id"])


def _buttons(call: Call) -> dict[str, str]:
    rows = call.result["reply_markup"]["inline_keyboard"]
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def _answer(botapi: FakeBotAPI, query: dict[str, Any]) -> Call:
    return botapi.wait_for(
        lambda c: (
            c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query["id"]
        ),
        timeout=30,
    )


def _press(botapi: FakeBotAPI, photo: Call, label: str, **kwargs: Any) -> Call:
    """Press a button under `photo` and return the bot's answer to the press."""
    chat_id, message_id = photo.result["chat"]["id"], photo.result["message_id"]
    query = botapi.push_callback_query(chat_id, message_id, _buttons(photo)[label], **kwargs)
    return _answer(botapi, query)


def _distance(jpeg: bytes, pixels: bytes) -> float:
    decoded = Image.open(io.BytesIO(jpeg)).convert("RGB").tobytes()
    return sum(abs(a - b) for a, b in zip(decoded, pixels, strict=True)) / len(pixels)


def test_same_seed_gives_the_same_picture_and_the_caption_shows_it(play: Stack) -> None:
    botapi = play.botapi
    first = _photo(botapi, 3001, "/imagine --seed 42 a red fox")
    again = _photo(botapi, 3001, "a red fox seed:42")
    other = _photo(botapi, 3001, "/imagine a red fox --seed=43")
    assert first.result["caption"].startswith("a red fox\nseed 42\n")
    assert again.result["caption"].startswith("a red fox\nseed 42\n")
    assert first.file("photo") == again.file("photo") != other.file("photo")
    bad = botapi.push_message(3001, "/imagine --seed 99999999999 a fox")
    refusal = _reply(botapi, "sendMessage", 3001, bad["message_id"])
    assert (
        refusal.result["text"] == "A seed is a whole number from 0 to 4294967295, e.g. --seed 42."
    )


def test_buttons_regenerate_file_and_variations(play: Stack) -> None:
    botapi = play.botapi
    photo = _photo(botapi, 3002, "/imagine --seed 7 a lighthouse")
    assert list(_buttons(photo)) == ["🔁 Regenerate", "🎲 Variations", "📄 File", "🔍 Upscale"]
    assert all(len(data.encode()) <= 64 for data in _buttons(photo).values())
    message_id = photo.result["message_id"]

    assert _press(botapi, photo, "📄 File").params.get("show_alert") is not True
    document = _reply(botapi, "sendDocument", 3002, message_id)
    png = Image.open(io.BytesIO(document.file("document")))
    assert (png.format, png.size) == ("PNG", (512, 512))
    assert document.result["document"]["file_name"] == "7.png"
    assert document.result["caption"].startswith("a lighthouse\nseed 7\n")
    _press(botapi, photo, "🔁 Regenerate")
    regenerated = _reply(botapi, "sendPhoto", 3002, message_id)
    assert regenerated.result["caption"].startswith("a lighthouse\nseed ")
    assert "\nseed 7\n" not in regenerated.result["caption"]
    assert list(_buttons(regenerated)) == list(_buttons(photo))
    # The file is the photo's very picture, before JPEG: far closer to it than a new seed is.
    png_pixels = png.convert("RGB").tobytes()
    assert _distance(photo.file("photo"), png_pixels) * 2 < _distance(
        regenerated.file("photo"), png_pixels
    )

    _press(botapi, photo, "🎲 Variations")
    album = _reply(botapi, "sendMediaGroup", 3002, message_id)
    captions = [message["caption"] for message in album.result]
    assert len(captions) == 4 and len(set(captions)) == 4
    assert all(caption.startswith("a lighthouse\nseed ") for caption in captions)
    for item in album.params["media"]:
        image = Image.open(io.BytesIO(album.files[item["media"].removeprefix("attach://")]))
        assert (image.format, image.size) == ("JPEG", (512, 512))


def test_a_press_in_a_group_counts_for_the_presser(play: Stack) -> None:
    botapi = play.botapi
    kwargs: dict[str, Any] = {"chat_type": "supergroup", "chat_title": "Painters"}
    photo = _photo(botapi, GROUP, "/imagine a boat", user_id=31, **kwargs)
    message_id = photo.result["message_id"]
    # USER_RATE is 4/minute: the presser's fifth press is refused, to them alone.
    for done in range(1, 5):
        answer = _press(botapi, photo, "🔁 Regenerate", user_id=32)
        assert answer.params.get("text") == "Drawing…"
        botapi.wait_until(
            partial(lambda n: len(botapi.sent(GROUP, "sendPhoto")) == 1 + n, done), 60
        )
    refused = _press(botapi, photo, "🔁 Regenerate", user_id=32)
    assert refused.params["show_alert"] is True
    assert refused.params["text"].startswith("You're going fast!")
    # The author's allowance is untouched by the presses on their photo.
    again = _photo(botapi, GROUP, "/imagine a second boat", user_id=31, **kwargs)
    assert again.result["caption"].startswith("a second boat\n")
    replies = [c for c in botapi.sent(GROUP, "sendPhoto") if c.result.get("reply_to_message")]
    assert sum(c.result["reply_to_message"]["message_id"] == message_id for c in replies) == 4


def test_stale_and_forged_buttons_get_a_short_alert(play: Stack) -> None:
    botapi = play.botapi
    photo = _photo(botapi, 3004, "/imagine a tree")
    chat_id, message_id = 3004, photo.result["message_id"]
    for data in ("img:r:" + "0" * 32, "img:x:zz", "img:f:../../etc"):
        answer = _answer(botapi, botapi.push_callback_query(chat_id, message_id, data))
        assert answer.params["show_alert"] is True
        assert answer.params["text"] == "This button no longer works."
    assert len(botapi.sent(chat_id, "sendPhoto")) == 1


def test_a_button_copied_into_another_chat_does_not_work_there(play: Stack) -> None:
    botapi = play.botapi
    # Someone else's photo (an image-to-image input, even) in their private chat...
    theirs = _photo(botapi, 3101, "/imagine my secret garden", user_id=3101)
    # ...and a modified client pressing its button data under a photo of its own.
    own = _photo(botapi, 3102, "/imagine a pebble", user_id=3102)
    for label in ("📄 File", "🔁 Regenerate", "🎲 Variations"):
        data = _buttons(theirs)[label]
        query = botapi.push_callback_query(3102, own.result["message_id"], data, user_id=3102)
        answer = _answer(botapi, query)
        assert (answer.params["show_alert"], answer.params["text"]) == (
            True,
            "This button no longer works.",
        )
    assert len(botapi.sent(3102, "sendPhoto")) == 1
    assert len(botapi.sent(3102, "sendDocument")) == 0
    # Under its own photo the same button still works.
    assert _press(botapi, theirs, "🔁 Regenerate", user_id=3101).params.get("text") == "Drawing…"


def test_image_ids_cannot_be_worked_out_from_update_ids(play: Stack) -> None:
    botapi = play.botapi
    sent = botapi.push_message(3103, "/imagine a lantern", user_id=3103)
    photo = _reply(botapi, "sendPhoto", 3103, sent["message_id"])
    image_id = _buttons(photo)["🔁 Regenerate"].split(":")[2]
    # The bot's id is public and update ids count up by one: neither names the image.
    bot_id = int(botapi.token.split(":")[0])
    updates = {
        c.result[0]["update_id"] for c in botapi.calls if c.method == "getUpdates" and c.result
    }
    guesses = {
        uuid.uuid5(uuid.NAMESPACE_URL, f"telegram-update:{bot_id}:{n}").hex
        for n in range(min(updates) - 5, max(updates) + 5)
    }
    assert image_id not in guesses


def test_buttons_keep_working_after_the_bot_and_worker_restart(play: Stack) -> None:
    botapi = play.botapi
    photo = _photo(botapi, 3005, "/imagine --seed 5 a kite")
    assert play.bot is not None
    play.bot.stop()
    assert play.worker is not None
    play.worker.stop()
    play.worker = play.start_worker()
    play.bot = play.spawn.bot(play.redis.url, play.botapi, user_rate="4/minute")
    _press(botapi, photo, "📄 File")
    document = _reply(botapi, "sendDocument", 3005, photo.result["message_id"])
    assert document.result["caption"].startswith("a kite\nseed 5\n")


UPSCALED = "🔍 2× · 1024×1024"


def _size(data: bytes) -> tuple[str | None, tuple[int, int]]:
    image = Image.open(io.BytesIO(data))
    return image.format, image.size


def test_upscale_sends_the_same_picture_at_1024_under_the_same_limits(play: Stack) -> None:
    botapi, chat = play.botapi, 3401
    photo = _photo(botapi, chat, "/imagine --seed 5 a red fox --style anime")
    message_id = photo.result["message_id"]
    assert _press(botapi, photo, "🔍 Upscale").params["text"] == "Drawing…"
    big = _reply(botapi, "sendPhoto", chat, message_id)
    assert _size(big.file("photo")) == ("JPEG", (1024, 1024))
    assert big.result["caption"].startswith(f"a red fox\n🎨 Anime\n{UPSCALED}\nseed 5\n")
    assert "5-2x.jpg" in big.filenames.values()
    # The 2× photo offers its file only; the small photo's buttons are unchanged.
    assert list(_buttons(big)) == ["📄 File"]
    # The same press again draws the same pixels.
    start = len(botapi.calls)
    _press(botapi, photo, "🔍 Upscale")
    again = botapi.wait_for(
        lambda c: c.method == "sendPhoto" and c.ok and c.chat_id == chat, 60, start=start
    )
    assert again.file("photo") == big.file("photo")
    assert again.result["reply_to_message"]["message_id"] == message_id

    # 📄 under the 2× photo: the same 2× picture as a lossless PNG.
    _press(botapi, big, "📄 File")
    document = _reply(botapi, "sendDocument", chat, big.result["message_id"])
    assert _size(document.file("document")) == ("PNG", (1024, 1024))
    assert document.result["document"]["file_name"] == "5-2x.png"
    # The photo is that very PNG's pixels as JPEG (JPEG_QUALITY 95, Pillow): byte for byte.
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(document.file("document"))).save(reencoded, "JPEG", quality=95)
    assert reencoded.getvalue() == big.file("photo")

    # USER_RATE is 4/minute and this user made four requests: the fifth 🔍 is refused, to
    # them alone, and nothing is drawn.
    refused = _press(botapi, photo, "🔍 Upscale")
    assert refused.params["show_alert"] is True
    assert refused.params["text"].startswith("You're going fast!")
    assert len(botapi.sent(chat, "sendPhoto")) == 3


def test_upscale_command_replies_to_the_photo_it_names(play: Stack) -> None:
    botapi, chat = play.botapi, 3403
    photo = _photo(botapi, chat, "/imagine --seed 5 a red fox --style anime")
    message_id = photo.result["message_id"]
    sent = botapi.push_message(chat, "/upscale", reply_to_message_id=message_id)
    big = _reply(botapi, "sendPhoto", chat, message_id)
    assert _size(big.file("photo")) == ("JPEG", (1024, 1024))
    # The same prompt, seed and style as the press in another chat: the same pixels.
    pressed = next(
        c
        for c in botapi.sent(3401, "sendPhoto")
        if UPSCALED in c.result["caption"] and "seed 5" in c.result["caption"]
    )
    assert big.file("photo") == pressed.file("photo")
    answers = [c.result.get("reply_to_message", {}) for c in botapi.sent(chat, "sendMessage")]
    assert sent["message_id"] not in [reply.get("message_id") for reply in answers]

    # On the 2× photo itself, and on anything but one of the bot's photos: a short answer.
    twice = botapi.push_message(chat, "/upscale", reply_to_message_id=big.result["message_id"])
    already = _reply(botapi, "sendMessage", chat, twice["message_id"])
    assert already.result["text"] == "This picture is already the 1024×1024 version."
    alone = botapi.push_message(chat, "/upscale", reply_to_message_id=sent["message_id"])
    how = _reply(botapi, "sendMessage", chat, alone["message_id"])
    assert how.result["text"].startswith("Reply /upscale to one of my photos")
    assert len(botapi.sent(chat, "sendPhoto")) == 2


def test_upscale_command_in_a_group_answers_the_member_who_asked(play: Stack) -> None:
    botapi = play.botapi
    kwargs: dict[str, Any] = {"chat_type": "supergroup", "chat_title": "Painters"}
    photo = _photo(botapi, GROUP, "/imagine a tall ship", user_id=33, **kwargs)
    message_id = photo.result["message_id"]
    botapi.push_message(GROUP, "/upscale", user_id=34, reply_to_message_id=message_id, **kwargs)
    big = _reply(botapi, "sendPhoto", GROUP, message_id)
    assert _size(big.file("photo")) == ("JPEG", (1024, 1024))
    # The 2× of a 2× is refused to the member alone, not to the whole group.
    botapi.push_message(
        GROUP, "/upscale", user_id=34, reply_to_message_id=big.result["message_id"], **kwargs
    )
    already = "This picture is already the 1024×1024 version."
    botapi.wait_until(lambda: already in [m["text"] for m in botapi.ephemeral_for(GROUP, 34)], 30)
    public = [
        c.params["text"]
        for c in botapi.sent(GROUP, "sendMessage")
        if "ephemeral_message_parameters" not in c.params
    ]
    assert already not in public
