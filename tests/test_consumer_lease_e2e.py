"""One live process per CONSUMER_NAME: a second one with the same name never starts, so
nothing pending under that name is sent twice."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import redis
from PIL import Image

from common.failures import publish
from common.protocol import Result
from testing.faults import photos, wait_until
from testing.jobs import KEYS, job_context
from testing.support import TOKEN
from tests.conftest import Stack

if TYPE_CHECKING:
    from pathlib import Path

    from testing.support import Process

NAME = "bot-a"
HELD = f"CONSUMER_NAME {NAME!r} is in use by another running bot process"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (512, 512), (20, 90, 200)).save(out, format="JPEG")
    return out.getvalue()


def _pending_under(stack: Stack, name: str, chats: range) -> None:
    """Results a bot named `name` read and never sent: it was killed."""
    client = redis.Redis.from_url(stack.redis.url)
    try:
        if not client.exists(KEYS.results):  # else the bot made the group already
            client.xgroup_create(KEYS.results, "bot", id="0", mkstream=True)
        for chat_id in chats:
            context = job_context(f"a fox for chat {chat_id}", chat_id=chat_id)
            client.set(KEYS.job_context(context.job_id), context.model_dump_json(), ex=600)
            publish(client, Result(job_id=context.job_id, status="ok", image=_jpeg()))
        client.xreadgroup("bot", name, {KEYS.results: ">"}, count=100)
    finally:
        client.close()


def _bot(stack: Stack) -> Process:
    return stack.spawn(
        "bot",
        redis_url=stack.redis.url,
        bot_token=TOKEN,
        telegram_api_url=stack.botapi.base_url,
        polling_timeout_s="1",
        consumer_name=NAME,
        consumer_lease_s="2",
    )


def test_two_bots_started_with_one_consumer_name_send_its_pending_results_once(
    tmp_path: Path, tiny_model: Path
) -> None:
    stack = Stack(tmp_path, tiny_model, worker=False, bot=False)
    try:
        chats = range(6600, 6610)
        _pending_under(stack, NAME, chats)
        first, second = _bot(stack), _bot(stack)
        # One of them holds the name; the other waits out one lease period, then gives up.
        wait_until(
            lambda: (first.proc.poll(), second.proc.poll()).count(2) == 1,
            timeout=30,
            what="one of the two to refuse",
        )
        loser = first if first.proc.poll() == 2 else second
        assert HELD in loser.output()
        wait_until(lambda: all(photos(stack.botapi, c) for c in chats), what="all sent")
        winner = second if loser is first else first
        assert winner.proc.poll() is None
        assert {len(photos(stack.botapi, c)) for c in chats} == {1}
    finally:
        stack.close()


def test_a_bot_restarted_after_a_kill_takes_its_name_back(
    tmp_path: Path, tiny_model: Path
) -> None:
    stack = Stack(tmp_path, tiny_model, worker=False, bot=False)
    try:
        killed = _bot(stack)
        killed.wait_for_output("running as @", timeout=60)
        killed.proc.kill()
        killed.proc.wait(10)
        chats = range(6700, 6703)
        _pending_under(stack, NAME, chats)
        again = _bot(stack)
        again.wait_for_output("running as @", timeout=30)
        wait_until(lambda: all(photos(stack.botapi, c) for c in chats), what="all sent")
        assert {len(photos(stack.botapi, c)) for c in chats} == {1}
    finally:
        stack.close()
