"""The job's one script call: RQ's job, the records and the markers land together, once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import redis
from pydantic import ValidationError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.requests.jobs import update_job_id
from bot.shared.origin import Origin
from common.config import QueueSettings
from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, GenerationRequest
from testing.jobs import KEYS, job_context, job_queue

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bot.requests.jobs import JobContext

import pytest


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


def _from_update(prompt: str, user: int, update: str) -> JobContext:
    context = job_context(prompt, user)
    origin = Origin(
        user_id=user, chat_id=user, message_id=2, group=False, locale="en", update=update
    )
    return context.model_copy(update={"origin": origin, "job_id": update_job_id(update)})


def test_the_job_lands_whole_as_rq_reads_it(client: redis.Redis) -> None:
    context = job_context("a fox in the snow", 7, seed=42)
    submitted = asyncio.run(job_queue(client).submit(context))
    assert submitted.fresh
    job = Job.fetch(context.job_id, connection=client, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION
    assert job.kwargs["request"]["prompt"] == "a fox in the snow"
    assert job.kwargs["request"]["seed"] == 42
    assert job.get_status() == JobStatus.QUEUED
    assert client.hget(f"rq:job:{context.job_id}", "failure_callback_name") == (
        FAILURE_CALLBACK.encode()
    )
    assert job.timeout == QueueSettings().job_timeout_s
    assert client.lrange(KEYS.queue, 0, -1) == [context.job_id.encode()]
    assert client.ttl(KEYS.job_context(context.job_id)) > 0
    assert client.ttl(KEYS.image_record(context.job_id)) > 0


def test_the_licence_notice_is_due_with_a_users_first_job_only(client: redis.Redis) -> None:
    async def run() -> list[bool]:
        queue = job_queue(client)
        contexts = [job_context("one", 5), job_context("two", 5), job_context("three", 6)]
        return [(await queue.submit(context)).first_use for context in contexts]

    assert asyncio.run(run()) == [True, False, True]


def test_handlers_of_one_update_racing_queue_one_job(client: redis.Redis) -> None:
    """Eight handlers of the same update (a redelivery meeting the first handling), each
    with a connection of its own, submit at once: one job, one fresh answer."""

    async def run() -> list[bool]:
        queues = [job_queue(client) for _ in range(8)]
        context = _from_update("a lighthouse", 9, "u:77")
        results = await asyncio.gather(*(queue.submit(context) for queue in queues))
        return [result.fresh for result in results]

    fresh = asyncio.run(run())
    assert sorted(fresh) == [False] * 7 + [True]
    job_id = update_job_id("u:77").encode()
    assert client.lrange(KEYS.queue, 0, -1) == [job_id]
    assert client.get(KEYS.update_job("u:77")) == job_id


def test_an_update_handled_again_later_writes_nothing(client: redis.Redis) -> None:
    async def run() -> tuple[bool, bool, bool]:
        queue = job_queue(client)
        first = await queue.submit(_from_update("a lighthouse", 9, "u:78"))
        # The job ran and its records are gone; the update comes again (a crash before
        # its acknowledgement).
        client.delete(KEYS.queue, KEYS.job_context(update_job_id("u:78")))
        again = await queue.submit(_from_update("a lighthouse", 9, "u:78"))
        return first.fresh, again.fresh, again.first_use

    assert asyncio.run(run()) == (True, False, False)
    assert client.llen(KEYS.queue) == 0
    assert not client.exists(KEYS.job_context(update_job_id("u:78")))


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt": ""},
        {"prompt": "x" * 2001},
        {"seed": -1},
        {"seed": 2**32},  # seeds are 32-bit, as `--seed N` says
        {"width": 56},
        {"width": 1032},
        {"height": 516},  # not a multiple of 8
        {"guidance_scale": 1.0},
        {"format": "gif"},
        {"source": "k" * 201},
        {"strength": 0.49},
        {"strength": 1.0},
        {"upscale": 0.04},
        {"upscale": 0.91},
        {"upscale": 0.5, "height": 520},  # 2× would be 1040 high
        {"colour": "red"},
    ],
)
def test_a_request_the_worker_cannot_draw_is_refused_when_it_is_made(
    bad: dict[str, object],
) -> None:
    # The bot builds every job's request with it, and the worker validates it again.
    with pytest.raises(ValidationError):
        GenerationRequest.model_validate({"prompt": "a fox", "seed": 1, **bad})


def test_requests_at_the_edges_are_drawn_at_the_size_they_say() -> None:
    plain = GenerationRequest(prompt="a fox", seed=1)
    assert plain.model_dump() == {
        "prompt": "a fox",
        "seed": 1,
        "width": 512,
        "height": 512,
        "guidance_scale": 0.0,
        "format": "jpeg",
        "source": "",
        "strength": 0.5,
        "translate": True,
        "upscale": 0.0,
    }
    assert plain.output_size == (512, 512)
    edges = [
        {"prompt": "x", "seed": 0, "width": 64, "height": 1024, "guidance_scale": 0.0},
        {"prompt": "x", "seed": 0, "width": 1024, "height": 64, "format": "jpeg"},
        {"prompt": "x" * 2000, "seed": 2**32 - 1, "format": "png", "source": "k" * 200},
        {"prompt": "x", "seed": 1, "source": "k", "strength": 0.5, "upscale": 0.0},
        {"prompt": "x", "seed": 1, "source": "k", "strength": 0.99},
    ]
    for fields in edges:
        assert GenerationRequest.model_validate(fields).model_dump(include=set(fields)) == fields
    # 🔍: twice the sides, from the weakest to the strongest refinement.
    assert GenerationRequest(prompt="x", seed=1, upscale=0.9).output_size == (1024, 1024)
    tall = GenerationRequest(prompt="x", seed=1, width=256, height=512, upscale=0.05)
    assert tall.output_size == (512, 1024)
    with pytest.raises(ValidationError):
        plain.seed = 2  # type: ignore[misc]
