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
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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


class _OneProcess:
    """Result delivery in the test's own process, without Telegram: `telegram` records the
    sends, `done` the jobs finished (slot freed, status removed)."""

    def __init__(self, redis_url: str, *outcomes: Outcome) -> None:
        self.client, self.sync = aredis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
        self.sync.delete(RESULTS)
        self.sync.xgroup_create(RESULTS, GROUP, id="0", mkstream=True)
        self.telegram = _Telegram(*outcomes)
        self.done: list[str] = []
        self.delivery = ResultDelivery(
            cast("ResultSender", self.telegram),
            self.client,
            KEYS,
            DeliverySettings(consumer_name="one"),
            self._on_done,
        )

    async def _on_done(self, context: JobContext, result: Result) -> None:
        self.done.append(context.job_id)

    async def deliver(self, *results: Result) -> list[Entry]:
        """Publish the results and deliver what this consumer reads of them."""
        for result in results:
            publish(self.sync, result)
        read = cast("RedisEntries", self.sync.xreadgroup(GROUP, "one", {RESULTS: ">"}))
        entries = [entry for _, stream in read for entry in stream]
        await self.offer(entries)
        return entries

    async def offer(self, entries: list[Entry]) -> None:
        """Entries offered (again, as the sweep does), delivered to the end."""
        await self.delivery.dispatch(entries)
        await self.delivery.drain()

    async def close(self) -> None:
        await self.client.aclose()
        self.sync.close()


@pytest.fixture
async def one_process(redis_url: str) -> AsyncIterator[Callable[..., _OneProcess]]:
    made: list[_OneProcess] = []

    def make(*outcomes: Outcome) -> _OneProcess:
        made.append(_OneProcess(redis_url, *outcomes))
        return made[-1]

    yield make
    for running in made:
        await running.close()


async def test_one_job_gets_one_answer_whatever_reaches_the_stream(
    one_process: Callable[..., _OneProcess],
) -> None:
    """In one process, without Telegram: every entry that reaches the stream for a job, its
    record or none, and what is acknowledged."""
    running = one_process(Outcome.LATER)
    sync, telegram, done, deliver = running.sync, running.telegram, running.done, running.deliver

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
    await running.offer([first])
    assert telegram.answers(4020) == [b"first"]
    assert done == [fox.job_id]
    assert (sync.xlen(RESULTS), sync.xpending(RESULTS, GROUP)["pending"]) == (0, 0)
    # Nothing of the answered job is left in Redis.
    assert sync.exists(KEYS.job_context(fox.job_id), KEYS.answer(fox.job_id)) == 0
    # Answered: a result coming later still is dropped.
    await deliver(result(fox, b"late"))
    assert telegram.answers(4020) == [b"first"]
    assert sync.xlen(RESULTS) == 0


async def test_redis_failing_at_the_acknowledgement_sends_nothing_twice_and_frees_the_slot(
    one_process: Callable[..., _OneProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram took the photo, then Redis failed before the entry was acknowledged: offered
    again, the entry is acknowledged without a second photo, and the job is finished (the
    user's slot freed, its status removed) once, as after any answer."""
    running = one_process()
    client, sync, telegram, done = running.client, running.sync, running.telegram, running.done
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
    entries = await running.deliver(Result(job_id=fox.job_id, status="ok", image=b"fox"))
    assert (telegram.answers(4030), done) == ([b"fox"], [])
    assert sync.xpending(RESULTS, GROUP)["pending"] == 1
    # Offered again (the next read of this consumer's pending entries, or the sweep).
    await running.offer(entries)
    assert (telegram.answers(4030), done) == ([b"fox"], [fox.job_id])
    assert (sync.xlen(RESULTS), sync.xpending(RESULTS, GROUP)["pending"]) == (0, 0)
    assert sync.exists(KEYS.job_context(fox.job_id), KEYS.answer(fox.job_id)) == 0


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
