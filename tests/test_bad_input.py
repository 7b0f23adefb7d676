"""Bad input, each answered clearly or met with deliberate silence; never an exception."""

from __future__ import annotations

import io
import re
import unicodedata
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from bot import texts
from bot.delivery.captions import Wording
from bot.delivery.sending import ResultSender
from bot.i18n import build_i18n
from bot.play.buttons import ImageButton
from bot.shared.outcome import Outcome
from common.protocol import Result
from testing.harness import BotUnderTest
from testing.jobs import job_context
from testing.support import free_port

if TYPE_CHECKING:
    from testing.botapi import FakeBotAPI
    from tests.conftest import MakeApp

GROUP = -100_900


async def test_empty_and_whitespace_prompts_get_the_usage_hint(app: BotUnderTest) -> None:
    for n, text in enumerate(["/imagine", "/imagine    ", "   \t  ", "\u200b\u200d\u2060\ufeff"]):
        await app.message(app.botapi.push_message(7000 + n, text))
        assert app.answers(7000 + n) == [texts.USAGE.replace("<code>", "").replace("</code>", "")]
        assert app.jobs_for(7000 + n) == []


async def test_a_seed_past_32_bits_is_answered_with_the_range(app: BotUnderTest) -> None:
    await app.message(app.botapi.push_message(7005, "/imagine a fox --seed 4294967296"))
    assert app.answers(7005) == ["A seed is a whole number from 0 to 4294967295, e.g. --seed 42."]
    assert app.jobs_for(7005) == []


async def test_a_10000_character_prompt_is_refused_politely(app: BotUnderTest) -> None:
    await app.message(app.botapi.push_message(7010, "/imagine " + "fox " * 2500))
    assert app.answers(7010) == [texts.TOO_LONG.format(limit=500)]
    assert app.jobs_for(7010) == []


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("🦊 in ❄️, 🎨", "🦊 in ❄️, 🎨"),
        ("ثعلب في الثلج", "ثعلب في الثلج"),
        ("שועל בשלג and a fox", "שועל בשלג and a fox"),
        ("a\u200bfox\u202ein\x00the\x07snow\u2066", "afoxin the snow"),
        ("fox\r\n\tin   snow", "fox in snow"),
    ],
)
async def test_emoji_rtl_and_control_characters(app: BotUnderTest, text: str, prompt: str) -> None:
    chat = 7020 + sum(map(ord, text)) % 1000
    await app.message(app.botapi.push_message(chat, text))
    (job,) = app.jobs_for(chat)
    assert job.prompt == prompt
    assert not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in job.prompt)
    assert app.answers(chat) == []  # the photo comes later, from the worker


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "prompt",
    [
        "a <b>bold</b> fox & <script>alert(1)</script>",
        "*bold* _italic_ `code` [link](http://example.com) ~strike~ ||spoiler||",
        "quotes \" and ' and &amp; and &lt;tag&gt;",
    ],
)
async def test_html_and_markdown_reach_the_caption_verbatim(
    app: BotUnderTest, prompt: str
) -> None:
    chat = 7100 + len(prompt)
    sent = app.botapi.push_message(chat, prompt)
    context = job_context(prompt, chat, sent["message_id"], seed=7)
    result = Result(job_id=context.job_id, status="ok", image=_jpeg())

    async def keep() -> None:
        return None

    wording = Wording("footer", build_i18n())
    sender = ResultSender(app.bot, wording, attempts=1, records=app.services.edit_records)
    assert await sender.send(context, result, keep) is Outcome.SENT
    (photo,) = [c for c in app.botapi.sent(chat_id=chat) if c.method == "sendPhoto"]
    assert photo.result["caption"] == f"{prompt}\nseed 7\nfooter"


# A captionless photo is a picture to draw from: it gets the caption hint instead.
CAPTION_HINT = re.sub(r"<[^>]+>", "", texts.PHOTO_NEEDS_CAPTION)


@pytest.mark.parametrize(
    ("media", "hint"),
    [
        ({"sticker": True}, texts.TEXT_ONLY),
        (
            {"extra": {"voice": {"file_id": "v1", "file_unique_id": "uv1", "duration": 3}}},
            texts.TEXT_ONLY,
        ),
        ({"document": b"%PDF-1.4", "file_name": "prompt.pdf"}, texts.TEXT_ONLY),
        ({"photo": _jpeg()}, CAPTION_HINT),
        ({"extra": {"location": {"latitude": 1.5, "longitude": 2.5}}}, texts.TEXT_ONLY),
    ],
)
async def test_media_gets_a_hint_in_private_and_silence_in_groups(
    app: BotUnderTest, media: dict[str, Any], hint: str
) -> None:
    chat = 7200 + len(repr(sorted(media)))
    await app.message(app.botapi.push_message(chat, **media))
    assert app.answers(chat) == [hint]
    await app.message(app.botapi.push_message(GROUP, chat_type="supergroup", **media))
    assert app.answers(GROUP) == []


NO_PROMPTS = ("a fox, what do you think?", "/imagine@SomeOtherBot a fox", "/start", "@Someone fox")


@pytest.mark.parametrize("text", NO_PROMPTS)
async def test_edits_that_are_no_prompt_any_more_are_ignored(app: BotUnderTest, text: str) -> None:
    original = app.botapi.push_message(GROUP, "/imagine a fox", chat_type="supergroup")
    edited = {**original, "text": text, "edit_date": original["date"] + 5}
    edited.pop("entities", None)
    await app.feed({"edited_message": edited})
    assert app.botapi.sent(chat_id=GROUP) == []
    assert app.jobs_for(GROUP) == []


async def test_forwarded_text_is_drawn_like_any_text(app: BotUnderTest) -> None:
    origin = {"type": "hidden_user", "sender_user_name": "Someone", "date": 1}
    await app.message(
        app.botapi.push_message(7310, "a fox someone else wrote", extra={"forward_origin": origin})
    )
    (job,) = app.jobs_for(7310)
    assert job.prompt == "a fox someone else wrote"


async def test_channel_posts_are_deliberately_ignored(app: BotUnderTest) -> None:
    post = app.botapi.push_message(-100_7320, "/imagine a fox", chat_type="channel")
    await app.feed({"channel_post": post})
    assert app.botapi.sent(chat_id=-100_7320) == []


async def test_group_command_sent_on_behalf_of_a_channel_is_drawn(app: BotUnderTest) -> None:
    channel = {"id": -100_7331, "type": "channel", "title": "News"}
    sent = app.botapi.push_message(
        -100_7330, "/imagine a fox", chat_type="supergroup", extra={"sender_chat": channel}
    )
    await app.message(sent)
    assert len(app.jobs_for(-100_7330)) == 1


async def test_unknown_commands(app: BotUnderTest) -> None:
    await app.message(app.botapi.push_message(7340, "/draw a fox"))
    assert app.answers(7340) == [texts.UNKNOWN_COMMAND]
    await app.message(app.botapi.push_message(-100_7341, "/draw a fox", chat_type="supergroup"))
    await app.message(
        app.botapi.push_message(-100_7341, "/imagine@OtherBot a fox", chat_type="supergroup")
    )
    assert app.botapi.sent(chat_id=-100_7341) == []


@pytest.mark.parametrize("data", ["x" * 64, "admin:ban:1", "imagine:seed:-1", "\x00\ufeff"])
async def test_forged_or_stale_buttons_are_answered_and_do_nothing(
    app: BotUnderTest, data: str
) -> None:
    old = app.botapi.push_message(7350, "/imagine an old fox")
    query = app.botapi.push_callback_query(7350, old["message_id"], data)
    await app.feed({"callback_query": query})
    (answer,) = [c for c in app.botapi.calls if c.method == "answerCallbackQuery"]
    assert answer.ok and answer.params["text"] == texts.STALE_BUTTON
    assert app.botapi.sent(chat_id=7350) == []
    assert app.jobs_for(7350) == []


async def test_redis_down_answers_temporarily_unavailable(
    botapi: FakeBotAPI, make_app: MakeApp
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    down = make_app(nowhere, storage_chat_id="-100999", inline_debounce_s="0")
    try:
        # A prompt gets a reply...
        sent = botapi.push_message(7360, "/imagine a fox")
        await down.message(sent)
        assert down.answers(7360) == [texts.UNAVAILABLE]
        # ...an edited prompt a reply too...
        await down.feed(botapi.edit_message(7360, sent["message_id"], "/imagine a wolf"))
        assert down.answers(7360) == [texts.UNAVAILABLE] * 2
        reply = botapi.sent(chat_id=7360)[-1].result["reply_to_message"]
        assert reply["message_id"] == sent["message_id"]
        # ...a button press an alert only the presser sees...
        photo = botapi.push_message(7361, "an old photo")
        data = ImageButton(action="r", image="ab" * 16).pack()
        await down.feed(
            {"callback_query": botapi.push_callback_query(7361, photo["message_id"], data)}
        )
        (alert,) = [c for c in botapi.calls if c.method == "answerCallbackQuery"]
        assert (alert.params["text"], alert.params["show_alert"]) == (texts.UNAVAILABLE, True)
        assert botapi.sent(chat_id=7361) == []
        # ...and an inline query one result saying so.
        await down.feed({"inline_query": botapi.push_inline_query("a fox", user_id=7362)})
        (inline,) = [c for c in botapi.calls if c.method == "answerInlineQuery"]
        assert [r["title"] for r in inline.params["results"]] == [texts.UNAVAILABLE]
    finally:
        await down.close()


class BrokenQueue:
    async def submit(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a dependency")


async def test_a_handler_that_raises_is_answered_with_an_apology(
    botapi: FakeBotAPI, make_app: MakeApp
) -> None:
    broken = make_app(jobs=BrokenQueue())
    try:
        await broken.message(botapi.push_message(7370, "/imagine a fox"))  # does not raise
        assert broken.answers(7370) == [texts.SOMETHING_WENT_WRONG]
    finally:
        await broken.close()


async def test_in_a_group_the_apology_reaches_the_member_alone(
    botapi: FakeBotAPI, make_app: MakeApp
) -> None:
    broken = make_app(jobs=BrokenQueue())
    group, member = -100_7371, 7371
    try:
        sent = botapi.push_message(group, "/imagine a fox", user_id=member, chat_type="supergroup")
        await broken.message(sent)
        seen = [m["text"] for m in botapi.ephemeral_for(group, member)]
        assert seen == [texts.SOMETHING_WENT_WRONG]
        assert not any(m["from"]["is_bot"] for m in botapi.messages(group))
    finally:
        await broken.close()
