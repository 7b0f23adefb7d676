"""Telegram refusing or failing to take a result: 429, 5xx, timeouts, 403, 400.

Each test scripts the fake Bot API to fail the next sendPhoto calls, sends one prompt, waits
until nothing is left to deliver, and counts every message the user received: the answer,
and the licence notice once (each test's user is new); no queue status is left behind.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import pytest

from bot import texts
from testing.faults import (
    LICENCE,
    attempts,
    is_notice,
    seen,
    statuses_left,
    wait_handled,
    wait_settled,
    wait_until,
)
from tests.conftest import BOT_USERNAME, Stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from testing.botapi import Call
    from testing.harness import BotUnderTest


class World(Stack):
    def __init__(self, workdir: Path, model: Path) -> None:
        # Two tries per round, a new round once a result has waited a second, 2 s timeouts.
        super().__init__(
            workdir,
            model,
            send_attempts="2",
            claim_idle_s="1",
            sweep_interval_s="0.5",
            request_timeout_s="2",
        )

    def ask(self, chat_id: int, prompt: str) -> None:
        self.botapi.push_message(chat_id, f"/imagine {prompt}", user_id=chat_id)
        self.botapi.wait_for(
            lambda c: (
                c.chat_id == chat_id
                and c.method in {"sendPhoto", "sendMessage"}
                and not is_notice(c)
            )
        )
        wait_settled(self.redis.url)
        wait_until(lambda: not statuses_left(self.botapi, chat_id), what="no status left")

    def bot_output(self) -> str:
        assert self.bot is not None
        return self.bot.output()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[World]:
    running = World(tmp_path_factory.mktemp("faults-telegram"), tiny_model)
    yield running
    running.close()


def _gaps(calls: list[Call]) -> list[float]:
    return [b.time - a.time for a, b in pairwise(calls)]


def test_429_waits_retry_after_then_sends_once(world: World) -> None:
    world.botapi.fail_next("sendPhoto", status=429, retry_after=2)
    world.ask(3001, "a fox in a queue")
    tries = attempts(world.botapi, 3001)
    assert [c.status for c in tries] == [429, 200]
    assert _gaps(tries)[0] >= 2
    assert seen(world.botapi, 3001) == [LICENCE, "photo"]


def test_5xx_beyond_a_round_stays_pending_and_is_sent_once_later(world: World) -> None:
    world.botapi.fail_next("sendPhoto", status=500, count=2)
    world.botapi.fail_next("sendPhoto", status=502)
    world.ask(3002, "a fox in an outage")
    tries = attempts(world.botapi, 3002)
    # Round one: two tries, one second apart. The result waits, is taken up again a second
    # later, fails once more and then goes through.
    assert [c.status for c in tries] == [500, 500, 502, 200]
    assert min(_gaps(tries)) >= 1
    assert seen(world.botapi, 3002) == [LICENCE, "photo"]
    assert "will retry later" in world.bot_output()


def test_timeout_is_retried_and_one_photo_arrives(world: World) -> None:
    # Answered only after the bot's 2 s request timeout: the bot gives up and tries again.
    world.botapi.fail_next("sendPhoto", status=500, delay=4)
    world.ask(3003, "a fox that takes its time")
    assert len(attempts(world.botapi, 3003)) == 2
    assert seen(world.botapi, 3003) == [LICENCE, "photo"]
    assert "Request timeout error" in world.bot_output()


def test_403_blocked_user_is_dropped_once_and_logged_once(world: World) -> None:
    world.botapi.fail_next("sendPhoto", status=403)
    world.botapi.push_message(3004, "/imagine a fox nobody will see", user_id=3004)
    world.botapi.wait_for(lambda c: c.chat_id == 3004 and c.method == "sendPhoto")
    wait_settled(world.redis.url)  # acknowledged: nothing left pending
    assert len(attempts(world.botapi, 3004)) == 1
    assert seen(world.botapi, 3004) == [LICENCE]
    assert world.bot_output().count("chat 3004 refuses the bot") == 1


def test_400_reply_target_gone_sends_without_reply(world: World) -> None:
    world.botapi.fail_next(
        "sendPhoto", status=400, description="Bad Request: message to be replied not found"
    )
    world.ask(3005, "a fox whose question was deleted")
    first, second = attempts(world.botapi, 3005)
    assert "reply_parameters" in first.params
    assert "reply_parameters" not in second.params
    assert seen(world.botapi, 3005) == [LICENCE, "photo"]


def test_400_on_the_photo_tells_the_user_instead(world: World) -> None:
    world.botapi.fail_next("sendPhoto", status=400, description="Bad Request: PHOTO_INVALID")
    world.ask(3006, "a fox Telegram will not take")
    assert seen(world.botapi, 3006) == [LICENCE, texts.GENERATION_FAILED]


def test_a_photo_for_a_deleted_message_in_a_forum_topic_lands_in_that_topic(world: World) -> None:
    group, topic = -100_3010, 77
    world.botapi.fail_next(
        "sendPhoto", status=400, description="Bad Request: message to be replied not found"
    )
    world.botapi.push_message(
        group,
        f"/imagine@{BOT_USERNAME} a fox in its own topic",
        user_id=3010,
        chat_type="supergroup",
        message_thread_id=topic,
    )
    world.botapi.wait_for(lambda c: c.chat_id == group and c.method == "sendPhoto" and c.ok)
    first, second = attempts(world.botapi, group)
    assert "reply_parameters" in first.params
    assert "reply_parameters" not in second.params
    # Not a reply any more, so only the topic id keeps it out of General.
    assert int(second.params["message_thread_id"]) == topic
    assert second.result["message_thread_id"] == topic


def test_a_429_on_the_chat_action_and_the_notice_loses_nothing(world: World) -> None:
    """Around the answer, not the answer: a 429 on "sending photo…" is let go, one on the
    licence notice is waited out and the notice sent once; the photo comes either way."""
    world.botapi.fail_next("sendChatAction", status=429, retry_after=1)
    world.botapi.fail_next("sendMessage", status=429, retry_after=1)
    world.ask(3007, "a fox told to wait")
    wait_handled(world.botapi, world.redis.url)
    assert sorted(seen(world.botapi, 3007)) == [LICENCE, "photo"]
    assert [c.status for c in attempts(world.botapi, 3007, "sendMessage")] == [429, 200]
    assert [c.status for c in attempts(world.botapi, 3007, "sendChatAction")] == [429]
    assert "Traceback" not in world.bot_output()


async def test_a_429_on_a_queue_status_skips_the_status_and_keeps_the_request(
    app: BotUnderTest,
) -> None:
    botapi = app.botapi
    await app.message(botapi.push_message(3201, "/imagine the first fox", user_id=3201))
    # Second in the queue: its status is the first message its handler sends.
    botapi.fail_next("sendMessage", status=429, retry_after=1)
    await app.message(botapi.push_message(3202, "/imagine the second fox", user_id=3202))
    (job,) = app.jobs_for(3202)
    assert app.redis.lrange(app.services.keys.queue, 0, -1)[-1] == job.job_id.encode()
    # No status to edit or delete later; the notice waited out Telegram's second and came.
    assert app.redis.hget(app.services.keys.status, job.job_id) is None
    assert [c.status for c in attempts(botapi, 3202, "sendMessage")] == [429, 200]
    assert seen(botapi, 3202) == [LICENCE]
