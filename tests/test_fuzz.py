"""1,200 generated updates through the real dispatcher; the bot must answer /start after.

The generator is seeded, so a failure names an update that reproduces. Each update is fed and
awaited on its own: no handler may raise (the errors handler must stay idle too), and every
call the bot makes must be one Telegram accepts (no malformed HTML, no over-long text).
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

import pytest

from bot import texts
from testing.harness import BotUnderTest, environment
from testing.jobs import KEYS
from tests.conftest import BOT_USERNAME

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from testing.botapi import FakeBotAPI

UPDATES = 1_200
SEED = 20_261_125

POOLS = [
    "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 ,.;:!?",
    "🦊❄️🎨👩‍👩‍👧‍👦🏳️‍🌈🇺🇦✨🔥💀",
    "ثعلب في الثلج שועל בשלג",
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2069\ufeff",
    "".join(map(chr, range(32))) + "\x7f\x85",
    "<>&\"'</b><i><a href='x'>",
    "*_[]()~`>#+-=|{}.!\\",
    "e\u0301\u0308\u20dd漢字かなカナ한국어",
]
COMMANDS = [
    "/start",
    "/help",
    "/imagine",
    f"/imagine@{BOT_USERNAME}",
    "/imagine@OtherBot",
    "/draw",
    "/IMAGINE",
    "/",
    "/start@OtherBot",
    "/ban",
    "/stats",
]
VOICE = {"file_id": "voice-1", "file_unique_id": "uvoice1", "duration": 1}
FORWARDED = {"forward_origin": {"type": "hidden_user", "sender_user_name": "X", "date": 1}}


def _text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 3, 20, 120, 499, 501, 2_000, 10_000])
    pool = rng.choice(POOLS) + (rng.choice(POOLS) if rng.random() < 0.5 else "")
    return "".join(rng.choice(pool) for _ in range(length))


class Generator:
    def __init__(self, botapi: FakeBotAPI, seed: int) -> None:
        self.botapi = botapi
        self.rng = random.Random(seed)

    def chat(self) -> tuple[int, str]:
        if self.rng.random() < 0.6:
            return self.rng.randrange(8_000, 8_050), "private"
        return -100_8000 - self.rng.randrange(10), "supergroup"

    def message(self, **kwargs: Any) -> dict[str, Any]:
        chat_id, chat_type = self.chat()
        user = self.rng.randrange(8_000, 8_100)
        return self.botapi.push_message(chat_id, user_id=user, chat_type=chat_type, **kwargs)

    def update(self) -> dict[str, Any]:
        rng = self.rng
        makers: list[Callable[[], dict[str, Any]]] = [
            lambda: {"message": self.message(text=_text(rng))},
            lambda: {"message": self.message(text=f"{rng.choice(COMMANDS)} {_text(rng)}")},
            lambda: {"message": self.message(sticker=True)},
            lambda: {"message": self.message(document=b"data", caption=_text(rng) or None)},
            lambda: {"message": self.message(extra={"voice": VOICE})},
            lambda: {"edited_message": {**self.message(text=_text(rng)), "edit_date": 2}},
            lambda: {"message": self.message(text=_text(rng) or "x", extra=FORWARDED)},
            self.channel_post,
            self.button,
        ]
        return rng.choice(makers)()

    def channel_post(self) -> dict[str, Any]:
        text = _text(self.rng) or "/imagine a fox"
        return {"channel_post": self.botapi.push_message(-100_8100, text, chat_type="channel")}

    def button(self) -> dict[str, Any]:
        target = self.message(text="an earlier message")
        data = _text(self.rng).encode()[:64].decode(errors="ignore") or "x"
        chat_id = target["chat"]["id"]
        query = self.botapi.push_callback_query(chat_id, target["message_id"], data)
        return {"callback_query": query}


async def test_fuzzed_updates_never_break_the_bot(
    botapi: FakeBotAPI,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in environment(botapi, redis_url).items():
        monkeypatch.setenv(key, value)
    # Limits high enough that the fuzzed prompts reach the queue in numbers; the limits
    # themselves have their own tests.
    for key in ("USER_RATE", "GROUP_RATE"):
        monkeypatch.setenv(key, "100000/minute")
    monkeypatch.setenv("USER_INFLIGHT", "100000")
    monkeypatch.setenv("QUEUE_MAX_DEPTH", "100000")
    app = BotUnderTest(botapi, redis_url)
    generator = Generator(botapi, SEED)
    try:
        with caplog.at_level(logging.ERROR, logger="bot"):
            for number in range(UPDATES):
                update = generator.update()
                try:
                    await app.feed(update)
                except Exception as exc:  # pragma: no cover - the message is the point
                    raise AssertionError(f"update #{number} raised: {update!r:.500}") from exc
        handler_errors = [r.getMessage() for r in caplog.records if r.name.startswith("bot")]
        assert handler_errors == []
        refused = [f"{c.method}: {c.response}" for c in botapi.calls if c.answered and not c.ok]
        assert refused == []
        # The mix reached every kind of answer: hints, refusals, jobs, button answers.
        said = [c.result["text"] for c in botapi.calls if c.method == "sendMessage"]
        for expected in (texts.TEXT_ONLY, texts.TOO_LONG.format(limit=500), texts.UNKNOWN_COMMAND):
            assert said.count(expected) >= 10, expected
        assert len(app.redis.keys(KEYS.job_context("*"))) >= 100
        assert sum(c.method == "answerCallbackQuery" for c in botapi.calls) >= 50

        await app.message(botapi.push_message(8999, "/start"))
        (answer,) = app.answers(8999)
        assert answer.startswith("I draw a 512×512 picture")
        assert "non-commercial use only" in answer
    finally:
        await app.close()
