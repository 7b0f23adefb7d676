"""The bot restarting or crashing while results wait, and results going to the right user."""

from __future__ import annotations

import io
import re
import signal
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import pytest
import redis
import redis.asyncio as aredis
import torch
from PIL import Image

from bot.config import DeliverySettings
from bot.delivery.results import GROUP, Entry, RedisEntries, ResultDelivery
from bot.shared.outcome import Outcome
from common.config import QueueSettings
from common.failures import publish
from common.protocol import GenerationRequest, Keys, Result
from testing.faults import LICENCE, answers, seen, wait_settled, wait_until
from testing.jobs import KEYS, job_context, job_queue
from tests.conftest import World

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    from bot.delivery.sending import ResultSender
    from bot.requests.jobs import JobContext
    from testing.support import Process
    from tests.conftest import Spawner
    from worker.engine import Engine

RESULTS = Keys(QueueSettings()).results
# A result pending on a vanished consumer for a second is taken over.
RECOVERY = {"claim_idle_s": "1", "sweep_interval_s": "0.5"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[World]:
    running = World(tmp_path_factory.mktemp("faults-bot"), tiny_model)
    yield running
    running.close()


def _start_bot(spawn: Spawner, world: World) -> Process:
    return spawn.bot(world.redis.url, world.botapi, **RECOVERY)


async def test_results_waiting_while_the_bot_is_down_are_sent_once_each(
    world: World, spawn: Spawner
) -> None:
    # The group exists from an earlier run of the bot, as it would in production.
    _start_bot(spawn, world).stop()
    jobs = job_queue(world.client)
    chats = (4001, 4002, 4003)
    for chat in chats:
        # Requests the bot accepted just before it went down.
        message = world.botapi.push_message(chat, f"/imagine fox number {chat}", user_id=chat)
        await jobs.submit(job_context(f"fox number {chat}", chat, message["message_id"]))
    # The messages stay in the chats; their updates were consumed by that earlier bot.
    world.botapi.reset(history=False)
    wait_until(lambda: world.client.xlen(RESULTS) == 3, what="three results waiting")
    # A second bot instance read one of them and died before sending it.
    world.client.xreadgroup("bot", "bot-2", {RESULTS: ">"}, count=1)
    bot = _start_bot(spawn, world)
    for chat in chats:
        world.botapi.wait_for(
            partial(lambda chat, c: c.chat_id == chat and c.ok, chat), timeout=30
        )
    wait_settled(world.redis.url)
    for chat in chats:
        assert seen(world.botapi, chat) == ["photo"]
    assert "taking over 1 pending result" in bot.output()


async def test_a_second_result_of_one_job_is_dropped(world: World, spawn: Spawner) -> None:
    """A job whose worker published twice (a retry after a lost claim): one photo."""
    _start_bot(spawn, world).stop()
    world.client.delete(RESULTS)
    message = world.botapi.push_message(4010, "/imagine a fox, twice", user_id=4010)
    context = job_context("a fox, twice", 4010, message["message_id"])
    await job_queue(world.client).submit(context)
    world.botapi.reset(history=False)
    wait_until(lambda: world.client.xlen(RESULTS) == 1, what="the result waiting")
    entries = cast("list[tuple[bytes, dict[Any, Any]]]", world.client.xrange(RESULTS))
    ((_, fields),) = entries
    world.client.xadd(RESULTS, fields)
    bot = _start_bot(spawn, world)
    world.botapi.wait_for(lambda c: c.chat_id == 4010 and c.method == "sendPhoto", timeout=30)
    wait_settled(world.redis.url)
    assert seen(world.botapi, 4010) == ["photo"]
    assert world.client.xlen(RESULTS) == 0
    assert f"second result for job {context.job_id} dropped" in bot.output()


class _Telegram:
    """Stands in for the sender: what each chat was sent, and how each try went (`LATER`:
    Telegram did not take it this round)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.tries: list[tuple[int, bytes, Outcome]] = []
        self._outcomes = list(outcomes)

    async def send(
        self, context: JobContext, result: Result, keep_alive: Callable[[], Awaitable[None]]
    ) -> Outcome:
        outcome = self._outcomes.pop(0) if self._outcomes else Outcome.SENT
        self.tries.append((context.chat_id, result.image, outcome))
        return outcome

    def answers(self, chat_id: int) -> list[bytes]:
        return [
            image for chat, image, how in self.tries if chat == chat_id and how is Outcome.SENT
        ]


async def test_one_job_gets_one_answer_whatever_reaches_the_stream(redis_url: str) -> None:
    """In one process, without Telegram: every entry that reaches the stream for a job, its
    record or none, and what is acknowledged."""
    client, sync = aredis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    sync.delete(RESULTS)
    sync.xgroup_create(RESULTS, GROUP, id="0", mkstream=True)
    telegram = _Telegram(Outcome.LATER)
    done: list[str] = []

    async def on_done(context: JobContext, result: Result) -> None:
        done.append(context.job_id)

    delivery = ResultDelivery(
        cast("ResultSender", telegram),
        client,
        KEYS,
        DeliverySettings(consumer_name="one"),
        on_done,
    )

    async def deliver(*results: Result) -> list[Entry]:
        for result in results:
            publish(sync, result)
        read = cast("RedisEntries", sync.xreadgroup(GROUP, "one", {RESULTS: ">"}))
        entries = [entry for _, stream in read for entry in stream]
        await delivery.dispatch(entries)
        await delivery.drain()
        return entries

    fox, tampered, unreadable = (job_context("a fox", chat) for chat in (4020, 4021, 4022))
    for context in (fox, tampered, unreadable):
        await job_queue(sync).submit(context)
    sync.set(KEYS.job_context(tampered.job_id), fox.model_dump_json())
    sync.set(KEYS.job_context(unreadable.job_id), b"{not a record")

    def result(context: JobContext | None, image: bytes) -> Result:
        job_id = context.job_id if context is not None else "never-queued"
        return Result(job_id=job_id, status="ok", image=image)

    # Telegram does not take the first result this round: it stays pending, unanswered.
    (first,) = await deliver(result(fox, b"first"))
    assert (telegram.answers(4020), done) == ([], [])
    assert sync.xpending(RESULTS, GROUP)["pending"] == 1
    # A second result of the job (a retried job), one for a job never queued, and ones whose
    # record was tampered with or is unreadable: none is sent, each is acknowledged.
    await deliver(
        result(fox, b"second"),
        result(None, b"unknown"),
        result(tampered, b"tampered"),
        result(unreadable, b"unreadable"),
    )
    assert [chat for chat, _, _ in telegram.tries] == [4020]
    assert sync.xlen(RESULTS) == 1
    # The first result, offered again (as the sweep does), is the job's one answer.
    await delivery.dispatch([first])
    await delivery.drain()
    assert telegram.answers(4020) == [b"first"]
    assert done == [fox.job_id]
    assert (sync.xlen(RESULTS), sync.xpending(RESULTS, GROUP)["pending"]) == (0, 0)
    # Nothing of the answered job is left in Redis.
    assert sync.exists(KEYS.job_context(fox.job_id), KEYS.answer(fox.job_id)) == 0
    # Answered: a result coming later still is dropped.
    await deliver(result(fox, b"late"))
    assert telegram.answers(4020) == [b"first"]
    assert sync.xlen(RESULTS) == 0
    await client.aclose()
    sync.close()


async def test_redis_failing_at_the_acknowledgement_sends_nothing_twice_and_frees_the_slot(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram took the photo, then Redis failed before the entry was acknowledged: offered
    again, the entry is acknowledged without a second photo, and the job is finished (the
    user's slot freed, its status removed) once, as after any answer."""
    client, sync = aredis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    sync.delete(RESULTS)
    sync.xgroup_create(RESULTS, GROUP, id="0", mkstream=True)
    telegram = _Telegram()
    done: list[str] = []

    async def on_done(context: JobContext, result: Result) -> None:
        done.append(context.job_id)

    delivery = ResultDelivery(
        cast("ResultSender", telegram),
        client,
        KEYS,
        DeliverySettings(consumer_name="one"),
        on_done,
    )
    pipeline, failures = client.pipeline, [redis.ConnectionError("Redis went away")]

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        if failures:
            error = failures.pop()

            async def execute(*_: Any, **__: Any) -> Any:
                raise error

            pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    monkeypatch.setattr(client, "pipeline", failing_once)
    fox = job_context("a fox", 4030)
    await job_queue(sync).submit(fox)
    publish(sync, Result(job_id=fox.job_id, status="ok", image=b"fox"))
    read = cast("RedisEntries", sync.xreadgroup(GROUP, "one", {RESULTS: ">"}))
    entries = [entry for _, stream in read for entry in stream]
    await delivery.dispatch(entries)
    await delivery.drain()
    assert (telegram.answers(4030), done) == ([b"fox"], [])
    assert sync.xpending(RESULTS, GROUP)["pending"] == 1
    # Offered again (the next read of this consumer's pending entries, or the sweep).
    await delivery.dispatch(entries)
    await delivery.drain()
    assert (telegram.answers(4030), done) == ([b"fox"], [fox.job_id])
    assert (sync.xlen(RESULTS), sync.xpending(RESULTS, GROUP)["pending"]) == (0, 0)
    assert sync.exists(KEYS.job_context(fox.job_id), KEYS.answer(fox.job_id)) == 0
    await client.aclose()
    sync.close()


def test_bot_killed_while_sending_sends_once_after_restart(world: World, spawn: Spawner) -> None:
    bot = _start_bot(spawn, world)
    # Telegram holds the upload long enough for the bot to die waiting, then fails it.
    world.botapi.fail_next("sendPhoto", status=502, delay=10)
    world.botapi.push_message(4004, "/imagine a fox and a crash", user_id=4004)
    wait_until(
        lambda: any(c.chat_id == 4004 for c in world.botapi.calls if c.method == "sendPhoto")
    )
    bot.signal(signal.SIGKILL)
    bot.proc.wait(10)
    assert world.client.xlen(RESULTS) == 1  # read, not acknowledged
    _start_bot(spawn, world)
    world.botapi.wait_for(lambda c: c.chat_id == 4004 and c.ok, timeout=30)
    wait_settled(world.redis.url)
    # The licence notice went with the request, before the crash: not again after it.
    assert seen(world.botapi, 4004) == [LICENCE, "photo"]


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    from worker.config import ModelSettings
    from worker.engine import load_engine

    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))


def _pixels(data: bytes) -> torch.Tensor:
    image = Image.open(io.BytesIO(data))
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).float()


def test_many_users_at_once_each_get_their_own_image(
    world: World, spawn: Spawner, engine: Engine
) -> None:
    _start_bot(spawn, world)
    asked = {}
    for n, chat in enumerate(range(4101, 4107)):
        group = n % 2 == 1
        chat_id = -100_4100 - n if group else chat
        prompt = f"picture {n}: a {'red' if n % 3 else 'blue'} fox"
        sent = world.botapi.push_message(
            chat_id,
            f"/imagine {prompt}",
            user_id=chat,
            chat_type="supergroup" if group else "private",
        )
        asked[chat_id] = (sent["message_id"], prompt)
    for chat_id in asked:
        world.botapi.wait_for(
            partial(lambda chat, c: c.chat_id == chat and c.ok, chat_id), timeout=60
        )
    wait_settled(world.redis.url)
    for chat_id, (message_id, prompt) in asked.items():
        assert seen(world.botapi, chat_id) == [LICENCE, "photo"]
        (photo,) = answers(world.botapi, chat_id)
        assert photo.result["reply_to_message"]["message_id"] == message_id
        caption = photo.result["caption"]
        assert caption.startswith(prompt + "\n")
        seed = int(re.search(r"seed (\d+)", caption)[1])  # type: ignore[index]
        expected = engine.generate([GenerationRequest(prompt=prompt, seed=seed)])[0]
        # The very image of this prompt and seed, not someone else's.
        assert (_pixels(photo.file("photo")) - _pixels(expected)).abs().mean() < 1.0
