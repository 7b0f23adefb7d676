"""No worker, no silence: prompts are answered "no GPU worker" at once, and jobs nobody took
are answered after QUEUE_WAIT_S and never drawn afterwards."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import redis

from bot import texts
from bot.i18n import build_i18n
from bot.requests.workers import CACHE_S
from common.config import QueueSettings
from common.liveness import ALIVE
from testing.faults import LICENCE, photos, seen, wait_until
from testing.jobs import KEYS
from tests.conftest import Stack

if TYPE_CHECKING:
    from pathlib import Path

    from testing.botapi import FakeBotAPI

RUSSIAN = build_i18n().gettext(texts.NO_WORKER, locale="ru")


def _answer(botapi: FakeBotAPI, chat_id: int) -> str:
    call = botapi.wait_for(
        lambda c: c.chat_id == chat_id and c.method == "sendMessage" and c.ok
        and not c.result["text"].startswith("Before your first")
    )  # fmt: skip
    return str(call.result["text"])


def _queued(stack: Stack) -> int:
    client = redis.Redis.from_url(stack.redis.url)
    try:
        return int(client.llen(KEYS.queue))
    finally:
        client.close()


def _alive(stack: Stack, gone_s: int) -> int:
    client = redis.Redis.from_url(stack.redis.url)
    try:
        return int(client.eval(ALIVE, 1, KEYS.workers, gone_s * 1000))
    finally:
        client.close()


def test_with_no_live_worker_a_prompt_is_answered_at_once_and_never_queued(
    tmp_path: Path, tiny_model: Path
) -> None:
    stack = Stack(tmp_path, tiny_model, worker=False, stand_in=False)
    try:
        stack.botapi.push_message(6101, "/imagine a fox nobody can draw", user_id=6101)
        assert _answer(stack.botapi, 6101) == texts.NO_WORKER
        stack.botapi.push_message(6102, "/imagine лиса", user_id=6102, language_code="ru")
        assert _answer(stack.botapi, 6102) == RUSSIAN != texts.NO_WORKER
        assert _queued(stack) == 0
    finally:
        stack.close()


def test_a_job_no_worker_takes_is_answered_after_queue_wait_and_never_drawn(
    tmp_path: Path, tiny_model: Path
) -> None:
    # A worker beats but takes nothing (a stand-in): the job waits, and is answered.
    stack = Stack(
        tmp_path,
        tiny_model,
        worker=False,
        queue_wait_s="2",
        sweep_interval_s="0.3",
        user_inflight="1",
    )
    try:
        asked = time.monotonic()
        stack.botapi.push_message(6201, "/imagine a fox that waits", user_id=6201)
        assert _answer(stack.botapi, 6201) == texts.NO_WORKER
        assert time.monotonic() - asked >= 2
        assert _queued(stack) == 0
        # A worker comes back. The expired job is gone for good; the next prompt (allowed:
        # its slot was freed) is the only picture the chat ever gets.
        stack.worker = stack.start_worker()
        stack.botapi.push_message(6201, "/imagine a fox drawn at last", user_id=6201)
        stack.botapi.wait_for(lambda c: c.chat_id == 6201 and c.method == "sendPhoto" and c.ok)
        (photo,) = photos(stack.botapi, 6201)
        assert "a fox drawn at last" in photo.params["caption"]
        assert seen(stack.botapi, 6201) == [LICENCE, texts.NO_WORKER, "photo"]
    finally:
        stack.close()


def test_a_worker_that_dies_is_noticed_after_worker_gone_s(
    tmp_path: Path, tiny_model: Path
) -> None:
    gone_s = 2
    stack = Stack(
        tmp_path,
        tiny_model,
        worker_env={"worker_gone_s": str(gone_s)},
        worker_gone_s=str(gone_s),
        queue_wait_s="600",
    )
    try:
        stack.botapi.push_message(6301, "/imagine a fox before the crash", user_id=6301)
        stack.botapi.wait_for(lambda c: c.chat_id == 6301 and c.method == "sendPhoto" and c.ok)
        assert stack.worker is not None
        killed = time.monotonic()
        stack.worker.signal(signal.SIGKILL)
        wait_until(lambda: _alive(stack, gone_s) == 0, timeout=30, what="the beat to age out")
        assert time.monotonic() - killed <= gone_s + 1
        time.sleep(CACHE_S)  # the bot's own reading of the beats is this old at most
        stack.botapi.push_message(6302, "/imagine a fox after the crash", user_id=6302)
        assert _answer(stack.botapi, 6302) == texts.NO_WORKER
        assert _queued(stack) == 0
    finally:
        stack.close()


def test_a_worker_that_stops_cleanly_is_gone_at_once(tmp_path: Path, tiny_model: Path) -> None:
    stack = Stack(tmp_path, tiny_model)
    try:
        assert _alive(stack, QueueSettings().worker_gone_s) == 1
        assert stack.worker is not None
        assert stack.worker.stop() == 0
        assert _alive(stack, QueueSettings().worker_gone_s) == 0
        time.sleep(CACHE_S)
        stack.botapi.push_message(6401, "/imagine a fox after hours", user_id=6401)
        assert _answer(stack.botapi, 6401) == texts.NO_WORKER
    finally:
        stack.close()
