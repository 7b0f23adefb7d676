"""The fake Bot API, driven by a real aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from aiogram.types.media_union import MediaUnion
from PIL import Image

from testing.botapi import FakeBotAPI

TOKEN = "424242:fake-botapi-selftest"
CHAT = 5001


def _png(size: tuple[int, int] = (512, 512), color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _make_bot(server: FakeBotAPI, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    return Bot(token=token, session=session)


def _http(server: FakeBotAPI, method: str, body: dict[str, Any] | None = None) -> Any:
    """A plain urllib call: the fake must serve sync code and JSON bodies too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{server.base_url}/bot{TOKEN}/{method}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.fixture
def server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN, username="ImagineTestBot") as fake:
        yield fake


@pytest_asyncio.fixture
async def bot(server: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = _make_bot(server)
    yield bot
    await bot.session.close()


@pytest.mark.asyncio
async def test_get_me_reports_the_configured_identity(server: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "ImagineTestBot"
    assert me.id == bot.id == 424242
    assert me.is_bot


@pytest.mark.asyncio
async def test_wrong_token_is_unauthorized(server: FakeBotAPI) -> None:
    intruder = _make_bot(server, token="999:not-the-token")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()


def test_sync_json_calls_and_unknown_methods(server: FakeBotAPI) -> None:
    assert _http(server, "getMe")[1]["result"]["username"] == "ImagineTestBot"
    assert _http(server, "sendDice", {"chat_id": 1}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    status, body = _http(server, "sendMessage", {"chat_id": "77", "text": "42"})
    assert status == 200
    assert body["result"]["text"] == "42"
    # JSON-looking form values are decoded, free text is not.
    assert server.sent(chat_id=77)[0].params == {"chat_id": 77, "text": "42"}


@pytest.mark.asyncio
async def test_pushed_message_is_delivered_and_confirmed_by_offset(
    server: FakeBotAPI, bot: Bot
) -> None:
    pushed = server.push_message(CHAT, "/start hi @SomeFriend", username="alice")
    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.message_id == pushed["message_id"] == 1
    assert message.from_user is not None and message.from_user.id == CHAT
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [
        ("bot_command", 0, 6),
        ("mention", 10, 11),
    ]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_an_update_arrives(
    server: FakeBotAPI, bot: Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await server.async_wait_until(lambda: any(c.method == "getUpdates" for c in server.calls))
    server.push_message(CHAT, "ping")
    updates = await poll
    assert [u.message.text for u in updates if u.message] == ["ping"]
    assert time.monotonic() - started < 2
    # With nothing queued the poll lasts its timeout and returns an empty list.
    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == []
    assert time.monotonic() - started >= 0.9


@pytest.mark.asyncio
async def test_allowed_updates_drops_other_kinds(server: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "menu")
    server.push_callback_query(CHAT, sent.message_id, "noop")
    server.push_message(CHAT, "text")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.message.text for u in updates if u.message] == ["text"]
    assert all(u.callback_query is None for u in updates)


@pytest.mark.asyncio
async def test_newer_long_poll_terminates_the_older_one(server: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await server.async_wait_until(lambda: len(server.calls) == 1)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError):
        await first
    assert await second == []


@pytest.mark.asyncio
async def test_dispatcher_polling_replies_to_the_user(server: FakeBotAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.reply(f"echo: {message.text}")

    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=1, handle_signals=False, close_bot_session=False
        )
    )
    try:
        pushed = server.push_message(CHAT, "hello")
        call = await server.async_wait_for("sendMessage", timeout=5)
    finally:
        await dispatcher.stop_polling()
        await polling
    # Message.reply() names the chat inside reply_parameters.
    assert call.params["reply_parameters"] == {"message_id": pushed["message_id"], "chat_id": CHAT}
    assert call.result["text"] == "echo: hello"
    assert call.result["reply_to_message"]["message_id"] == pushed["message_id"]
    assert [m["text"] for m in server.messages(CHAT)] == ["hello", "echo: hello"]


@pytest.mark.asyncio
async def test_send_photo_is_multipart_with_real_dimensions_and_reply(
    server: FakeBotAPI, bot: Bot
) -> None:
    png = _png()
    pushed = server.push_message(CHAT, "/imagine a fox")
    sent = await bot.send_photo(
        CHAT,
        BufferedInputFile(png, "x.png"),
        caption="a fox",
        reply_parameters=ReplyParameters(message_id=pushed["message_id"]),
    )
    call = server.wait_for("sendPhoto")
    assert call.params["photo"].startswith("attach://")
    assert call.file("photo") == png
    assert list(call.filenames.values()) == ["x.png"]
    assert call.params["reply_parameters"] == {"message_id": pushed["message_id"]}
    largest = call.result["photo"][-1]
    assert (largest["width"], largest["height"], largest["file_size"]) == (512, 512, len(png))
    assert [size["width"] for size in call.result["photo"]] == [90, 320, 512]
    assert sent.photo is not None and sent.photo[-1].width == 512
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == pushed["message_id"]
    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert sent.message_id == pushed["message_id"] + 1
    downloaded = await bot.download(sent.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == png


@pytest.mark.asyncio
async def test_reply_to_missing_message(server: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(CHAT, "hi", reply_parameters=ReplyParameters(message_id=999))
    tolerant = ReplyParameters(message_id=999, allow_sending_without_reply=True)
    sent = await bot.send_message(CHAT, "hi", reply_parameters=tolerant)
    assert sent.reply_to_message is None
    assert server.sent(CHAT)[-1].params["reply_parameters"] == {
        "message_id": 999,
        "allow_sending_without_reply": True,
    }


@pytest.mark.asyncio
async def test_injected_errors_map_to_aiogram_exceptions(server: FakeBotAPI, bot: Bot) -> None:
    server.fail_next("sendMessage", status=429, retry_after=1)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(CHAT, "one")
    assert retry.value.retry_after == 1
    server.fail_next("sendMessage", status=403)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "two")
    server.fail_next("sendPhoto", count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_photo(CHAT, BufferedInputFile(_png(), "x.png"))
    await bot.send_message(CHAT, "three")
    assert [(c.method, c.status) for c in server.sent(CHAT)] == [
        ("sendMessage", 429),
        ("sendMessage", 403),
        ("sendPhoto", 500),
        ("sendPhoto", 500),
        ("sendMessage", 200),
    ]
    assert [m["text"] for m in server.messages(CHAT)] == ["three"]


@pytest.mark.asyncio
async def test_delay_simulates_a_slow_api(server: FakeBotAPI, bot: Bot) -> None:
    server.fail_next("sendMessage", status=None, delay=1.5)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(CHAT, "slow", request_timeout=1)


@pytest.mark.asyncio
async def test_pushed_photo_can_be_fetched_and_downloaded(server: FakeBotAPI, bot: Bot) -> None:
    png = _png((640, 320))
    pushed = server.push_message(CHAT, photo=png, caption="look")
    largest = pushed["photo"][-1]
    assert (largest["width"], largest["height"]) == (640, 320)
    file = await bot.get_file(largest["file_id"])
    assert file.file_path is not None and file.file_size == len(png)
    downloaded = await bot.download(largest["file_id"])
    assert downloaded is not None and downloaded.read() == png
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


@pytest.mark.asyncio
async def test_html_is_parsed_like_telegram(server: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(
        CHAT, "<b>bold</b> &lt;tag&gt; &amp; 🙂 <i>it</i>", parse_mode="HTML"
    )
    assert sent.text == "bold <tag> & 🙂 it"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 4),
        ("italic", 16, 2),  # the emoji counts as two UTF-16 code units
    ]
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(CHAT, "line<br>break", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "<b>unclosed", parse_mode="HTML")


@pytest.mark.asyncio
async def test_edit_delete_and_callback_answers(server: FakeBotAPI, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Again", callback_data="again")]]
    )
    sent = await bot.send_message(CHAT, "v1", reply_markup=keyboard)
    # aiogram models compare unequal across bot contexts, so compare their JSON.
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard.model_dump()
    edited = await bot.edit_message_text("v2", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "v2" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("v2", chat_id=CHAT, message_id=sent.message_id)
    query = server.push_callback_query(CHAT, sent.message_id, "again")
    assert await bot.answer_callback_query(query["id"], text="ok")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    assert await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    assert server.messages(CHAT) == []


@pytest.mark.asyncio
async def test_media_group_document_and_bot_settings(server: FakeBotAPI, bot: Bot) -> None:
    media: list[MediaUnion] = [
        InputMediaPhoto(media=BufferedInputFile(_png((64, 64)), "a.png"), caption="first"),
        InputMediaPhoto(media=BufferedInputFile(_png((32, 48)), "b.png")),
    ]
    album = await bot.send_media_group(CHAT, media)
    assert [m.photo[-1].height for m in album if m.photo] == [64, 48]
    assert album[0].media_group_id == album[1].media_group_id is not None
    call = server.wait_for("sendMediaGroup")
    assert [item["media"].startswith("attach://") for item in call.params["media"]] == [True] * 2
    document = await bot.send_document(CHAT, BufferedInputFile(b"hello", "notes.txt"))
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == (
        "notes.txt",
        "text/plain",
    )
    assert await bot.send_chat_action(CHAT, "upload_photo")
    assert await bot.delete_webhook(drop_pending_updates=True)
    chat = await bot.get_chat(CHAT)
    assert chat.type == "private"


def test_sync_waits_and_reset(server: FakeBotAPI) -> None:
    server.push_message(-1001234, "/imagine@ImagineTestBot x", chat_type="supergroup", user_id=9)
    _http(server, "sendMessage", {"chat_id": -1001234, "text": "queued", "reply_to_message_id": 1})
    call = server.wait_for(lambda c: c.method == "sendMessage" and c.ok, timeout=2)
    assert call.result["chat"] == {"id": -1001234, "type": "supergroup", "title": "Chat -1001234"}
    assert call.result["reply_to_message"]["from"]["id"] == 9
    assert server.wait_for_calls("sendMessage", 1, timeout=1, chat_id=-1001234) == [call]
    with pytest.raises(TimeoutError):
        server.wait_for("sendPhoto", timeout=0.2)
    server.reset()
    assert server.calls == [] and server.messages(-1001234) == []


@pytest.mark.asyncio
async def test_chat_member_roles_and_spoilers(server: FakeBotAPI, bot: Bot) -> None:
    group = -1009876
    server.set_role(group, 7, "creator")
    server.set_role(group, 8, "administrator")
    roles = [(await bot.get_chat_member(group, user)).status for user in (7, 8, 9)]
    assert roles == ["creator", "administrator", "member"]
    with pytest.raises(TelegramBadRequest, match="member not found"):
        await bot.get_chat_member(CHAT, 12345)
    photo = await bot.send_photo(CHAT, BufferedInputFile(_png((8, 8)), "a.png"), has_spoiler=True)
    media: list[MediaUnion] = [
        InputMediaPhoto(media=BufferedInputFile(_png((8, 8)), "b.png"), has_spoiler=True),
        InputMediaPhoto(media=BufferedInputFile(_png((8, 8)), "c.png")),
    ]
    album = await bot.send_media_group(CHAT, media)
    assert [photo.has_media_spoiler, *(m.has_media_spoiler for m in album)] == [True, True, None]
    stored = [m.get("has_media_spoiler", False) for m in server.messages(CHAT)]
    assert stored == [True, True, False]


async def test_user_edits_arrive_as_edited_message_updates(server: FakeBotAPI, bot: Bot) -> None:
    pushed = server.push_message(CHAT, "/imagine a fox")
    photo = server.push_message(CHAT, photo=_png((64, 64)), caption="as ink")
    first = await bot.get_updates(timeout=0)
    offset = first[-1].update_id + 1
    edit = server.edit_message(CHAT, pushed["message_id"], "/imagine a wolf @ImagineTestBot")
    server.edit_message(CHAT, photo["message_id"], "as pencil")
    updates = await bot.get_updates(offset=offset, timeout=0)
    assert updates[0].update_id == edit["update_id"]
    text, caption = (u.edited_message for u in updates)
    assert text is not None and caption is not None
    assert all(u.message is None for u in updates)
    assert (text.message_id, text.text) == (
        pushed["message_id"],
        "/imagine a wolf @ImagineTestBot",
    )
    assert text.edit_date is not None and text.date.timestamp() == pushed["date"]
    assert [(e.type, e.offset) for e in text.entities or []] == [
        ("bot_command", 0),
        ("mention", 16),
    ]
    assert caption.caption == "as pencil" and caption.photo is not None
    # The chat history holds the edited text, as Telegram shows it.
    shown = server.message(CHAT, pushed["message_id"])
    assert shown is not None and shown["text"] == "/imagine a wolf @ImagineTestBot"
    sent = await bot.send_message(CHAT, "mine")
    with pytest.raises(ValueError, match="their own messages"):
        server.edit_message(CHAT, sent.message_id, "hijacked")
    # A bot that did not ask for edits never gets them.
    server.edit_message(CHAT, pushed["message_id"], "/imagine a bear")
    last = updates[-1].update_id + 1
    assert await bot.get_updates(offset=last, timeout=0, allowed_updates=["message"]) == []


@pytest.mark.asyncio
async def test_edit_message_media_uploads_a_new_photo_in_place(
    server: FakeBotAPI, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Again", callback_data="again")]]
    )
    pushed = server.push_message(CHAT, "/imagine a fox")
    reply = ReplyParameters(message_id=pushed["message_id"])
    sent = await bot.send_photo(
        CHAT, BufferedInputFile(_png(), "a.png"), caption="a fox", reply_parameters=reply
    )
    new = _png(color="orange")
    edited = await bot.edit_message_media(
        InputMediaPhoto(
            media=BufferedInputFile(new, "b.png"), caption="<i>a wolf</i>", parse_mode="HTML"
        ),
        chat_id=CHAT,
        message_id=sent.message_id,
        reply_markup=keyboard,
    )
    assert isinstance(edited, Message) and edited.photo is not None
    assert (edited.message_id, edited.caption, edited.edit_date is not None) == (
        sent.message_id,
        "a wolf",
        True,
    )
    assert edited.reply_to_message is not None
    assert edited.reply_to_message.message_id == pushed["message_id"]
    assert edited.reply_markup is not None
    assert edited.reply_markup.model_dump() == keyboard.model_dump()
    call = server.wait_for("editMessageMedia")
    key = call.params["media"]["media"].removeprefix("attach://")
    assert call.files[key] == new
    downloaded = await bot.download(edited.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == new
    assert len(server.messages(CHAT)) == 2  # edited in place: no new message
    # The same file, caption and keyboard again change nothing: Telegram says so.
    same = InputMediaPhoto(
        media=edited.photo[-1].file_id, caption="<i>a wolf</i>", parse_mode="HTML"
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_media(
            same, chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard
        )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_media(same, chat_id=CHAT, message_id=pushed["message_id"])
    assert await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_media(same, chat_id=CHAT, message_id=sent.message_id)
    untyped = {"chat_id": CHAT, "message_id": 1, "media": {"media": "x"}}
    status, body = _http(server, "editMessageMedia", untyped)
    assert (status, body["description"]) == (
        400,
        "Bad Request: can't parse InputMedia: media type is not specified",
    )
