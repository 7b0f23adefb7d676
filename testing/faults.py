"""Counting what users received, and waiting until nothing more can arrive."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis
from rq import Queue

from bot import texts
from common.config import QueueSettings
from testing.jobs import KEYS

if TYPE_CHECKING:
    from testing.botapi import Call, FakeBotAPI

ANSWERS = ("sendPhoto", "sendMessage", "sendMediaGroup", "sendDocument")
LICENCE = "licence"
# How the English licence notice and a queue status begin (their words before the colon,
# and before the position).
LICENCE_START, STATUS_START = texts.FIRST_USE.split(":")[0], texts.IN_QUEUE.split("#")[0]


def received(botapi: FakeBotAPI, chat_id: int) -> list[Call]:
    """Every message the user of `chat_id` got (accepted by Telegram), in order: answers,
    the licence notice and queue statuses alike."""
    return [c for c in botapi.sent(chat_id=chat_id) if c.method in ANSWERS and c.ok]


def answers(botapi: FakeBotAPI, chat_id: int) -> list[Call]:
    """What answered the user's requests: `received` without the notices around them."""
    return [c for c in received(botapi, chat_id) if not is_notice(c)]


def is_notice(call: Call) -> bool:
    """The licence notice before a first picture, or an "In queue" status (deleted later):
    information around a request, not its answer."""
    return is_licence(call) or is_status(call)


def _text(call: Call) -> str:
    """What the call asked to show (refused calls have no result)."""
    return str(call.params.get("text", "")) if call.method == "sendMessage" else ""


def is_licence(call: Call) -> bool:
    return _text(call).startswith(LICENCE_START)


def seen(botapi: FakeBotAPI, chat_id: int) -> list[str]:
    """Everything the user received, in order: "licence" for the licence notice, "photo",
    "album", "file", else the message's text. Queue statuses come and go while a request
    waits, so they are left out here and checked by `statuses_left`."""
    labels = {"sendPhoto": "photo", "sendMediaGroup": "album", "sendDocument": "file"}
    return [
        LICENCE if is_licence(c) else labels.get(c.method) or c.result["text"]
        for c in received(botapi, chat_id)
        if not is_status(c)
    ]


def is_status(call: Call) -> bool:
    return _text(call).startswith(STATUS_START)


def statuses_left(botapi: FakeBotAPI, chat_id: int) -> list[str]:
    """The queue statuses still shown in the chat: none once its requests are answered."""
    return [
        m["text"]
        for m in botapi.state.messages(chat_id)
        if m.get("from", {}).get("is_bot") and str(m.get("text", "")).startswith(STATUS_START)
    ]


def photos(botapi: FakeBotAPI, chat_id: int) -> list[Call]:
    return [c for c in received(botapi, chat_id) if c.method == "sendPhoto"]


def messages(botapi: FakeBotAPI, chat_id: int) -> list[str]:
    """The texts of the answers (notices left out: `seen` has them)."""
    return [c.result["text"] for c in answers(botapi, chat_id) if c.method == "sendMessage"]


def attempts(botapi: FakeBotAPI, chat_id: int, method: str = "sendPhoto") -> list[Call]:
    """Every call of `method` for the chat, refused ones included."""
    return [c for c in botapi.calls if c.method == method and c.chat_id == chat_id]


def settled(url: str) -> bool:
    """True when no job is queued or running and no result waits: nothing more can arrive."""
    client = redis.Redis.from_url(url)
    rq_queue = Queue(QueueSettings().queue_name, connection=client)
    try:
        return (
            client.llen(rq_queue.key) == 0
            and client.llen(rq_queue.intermediate_queue_key) == 0
            and client.zcard(rq_queue.started_job_registry.key) == 0
            and client.xlen(KEYS.results) == 0
        )
    finally:
        client.close()


def wait_settled(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not settled(url):
        if time.monotonic() > deadline:
            raise AssertionError("jobs or results still pending")
        time.sleep(0.05)


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_handled(botapi: FakeBotAPI, url: str, timeout: float = 60) -> None:
    """Wait until every update pushed so far was handled to the end (Telegram holds none
    unconfirmed and the inbox holds none unfinished) and nothing more can arrive for them:
    proof, where a negative check needs it, that a request was dealt with, not only sent.
    Telegram drops an update once polling confirms it, or once a webhook answered 200; the
    bot does either only after recording it in the inbox."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while botapi.state.updates or client.xlen(KEYS.inbox) or not settled(url):
            if time.monotonic() > deadline:
                raise AssertionError("updates, jobs or results still pending")
            time.sleep(0.05)
    finally:
        client.close()
