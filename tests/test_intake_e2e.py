"""Nothing lost at the door: a prompt survives a bot killed right after it arrives, and an
update handled more than once still makes one picture."""

from __future__ import annotations

import copy
import json
import signal
from functools import partial
from typing import TYPE_CHECKING

import pytest

from bot.requests.jobs import update_job_id
from bot.shared.origin import update_key
from testing.faults import LICENCE, photos, seen, wait_settled, wait_until
from testing.jobs import KEYS
from testing.support import TOKEN
from tests.conftest import World

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Spawner


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[World]:
    running = World(tmp_path_factory.mktemp("intake"), tiny_model)
    yield running
    running.close()


def _settle(world: World, chats: list[int]) -> None:
    for chat in chats:
        world.botapi.wait_for(
            partial(lambda chat, c: c.chat_id == chat and c.method == "sendPhoto" and c.ok, chat),
            timeout=90,
        )
    wait_settled(world.redis.url)
    wait_until(lambda: world.client.xlen(KEYS.inbox) == 0, what="the inbox emptied")


@pytest.mark.parametrize("moment", ["recorded", "admitted", "queued"])
def test_a_bot_killed_right_after_prompts_arrive_answers_each_once_after_restart(
    world: World, spawn: Spawner, tmp_path: Path, moment: str
) -> None:
    botapi = world.botapi
    base = {"recorded": 6100, "admitted": 6200, "queued": 6300}[moment]
    chats = [base + n for n in range(3)]
    crashing = spawn.bot(
        world.redis.url,
        botapi,
        module="testing.crashing_bot",
        crash_at=moment,
        crash_flag=str(tmp_path / "crashed"),
    )
    asked = {
        chat: botapi.push_message(chat, f"/imagine a lighthouse, take {chat}") for chat in chats
    }
    assert crashing.proc.wait(30) == -signal.SIGKILL, crashing.output()[-2000:]
    assert f"crashing at {moment}" in crashing.output()
    # Nothing is ever sent for a request before its job is queued.
    assert [c for chat in chats for c in botapi.sent(chat_id=chat)] == []
    spawn.bot(world.redis.url, botapi)
    _settle(world, chats)
    for chat, message in asked.items():
        (photo,) = photos(botapi, chat)
        assert photo.result["reply_to_message"]["message_id"] == message["message_id"]
        # The licence notice follows the enqueue; one killed right after it goes unsaid.
        expected = [[LICENCE, "photo"], ["photo"]] if moment == "queued" else [[LICENCE, "photo"]]
        assert seen(botapi, chat) in expected


def test_the_same_update_delivered_four_times_makes_one_picture(
    world: World, spawn: Spawner
) -> None:
    botapi = world.botapi
    chat = 6400
    # Offered while no bot polls, so the test holds the very update Telegram would send.
    message = botapi.push_message(chat, "/imagine one fox, however often it is asked")
    with botapi.state.lock:
        update = next(u for u in botapi.state.updates if u.get("message") == message)
    # Telegram hands it over twice (say, a webhook retried while the first answer was late)…
    botapi.push_update(copy.deepcopy(update))
    # …and the inbox holds it twice more, as if two bot processes had each recorded it.
    for _ in range(2):
        world.client.xadd(KEYS.inbox, {"update": json.dumps(update)})
    bot = spawn.bot(world.redis.url, botapi)
    _settle(world, [chat])
    assert seen(botapi, chat) == [LICENCE, "photo"]
    assert len(botapi.sent(chat_id=chat, method="sendChatAction")) == 1
    job = update_job_id(update_key(TOKEN, update["update_id"]))
    delivered = f"delivered job={job} "
    bot.wait_for_output(delivered)
    assert bot.output().count(delivered) == 1
