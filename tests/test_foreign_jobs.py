"""Whoever can write to the queue cannot run code: only the project's own jobs are performed.

Foreign jobs go into the real queue through RQ's own API, as anyone with Redis access could
put them; the real worker takes them in turn, then draws a user's prompt queued behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.webhook import Webhook

from common.clock import sweep_started
from common.config import QueueSettings
from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, PLAY_FUNCTION, Result
from common.trusted import foreign, refuse
from testing.faults import photos
from testing.jobs import published
from tests.conftest import Stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REQUEST = {"request": {"prompt": "a fox", "seed": 1}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("foreign"), tiny_model)
    yield running
    running.close()


def _queue(client: redis.Redis) -> Queue:
    return Queue(QueueSettings().queue_name, connection=client, serializer=JSONSerializer)


def _results(client: redis.Redis, job_id: str) -> list[Result]:
    return [r for r in published(client) if r.job_id == job_id]


def test_only_the_projects_own_jobs_pass(redis_url: str) -> None:
    """Each way a job can name something of someone else's, and the reason an operator
    reads in the worker's log; then what refusing one leaves behind."""
    client = redis.Redis.from_url(redis_url)
    queue = _queue(client)
    ours = [
        queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST),
        queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST, on_failure=Callback(FAILURE_CALLBACK)),
        queue.enqueue_call(PLAY_FUNCTION, kwargs=REQUEST),
    ]
    hook = Webhook("http://127.0.0.1:9/hook", "finished")
    theirs = {
        "function 'os.system' is not a job": queue.enqueue_call("os.system", kwargs=REQUEST),
        "positional arguments": queue.enqueue_call(JOB_FUNCTION, args=(1,)),
        "failure callback 'builtins.print' is not ours": queue.enqueue_call(
            JOB_FUNCTION, kwargs=REQUEST, on_failure=Callback("builtins.print")
        ),
        "success callback 'builtins.print' is not ours": queue.enqueue_call(
            JOB_FUNCTION, kwargs=REQUEST, on_success=Callback("builtins.print")
        ),
        "stopped callback 'builtins.print' is not ours": queue.enqueue_call(
            JOB_FUNCTION, kwargs=REQUEST, on_stopped=Callback("builtins.print")
        ),
        "asks for webhooks": queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST, webhooks=[hook]),
        "unreadable job data": queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST),
    }
    client.hset(theirs["unreadable job data"].key, "data", b"\x00not json")

    def fetched(job: Job) -> Job:
        return Job.fetch(job.id, connection=client, serializer=JSONSerializer)

    assert [foreign(fetched(job)) for job in ours] == [None, None, None]
    for reason, job in theirs.items():
        assert reason in (foreign(fetched(job)) or ""), reason
    # Refused: failed without running, kept a day for a look, and its id answered "invalid".
    job = fetched(theirs["function 'os.system' is not a job"])
    refuse(job, "function 'os.system' is not a job of this project")
    assert fetched(job).get_status() == JobStatus.FAILED
    assert 86_400 - 60 < client.ttl(job.key) <= 86_400
    assert [r.error for r in _results(client, job.id)] == ["invalid"]
    client.close()


def test_foreign_jobs_run_nothing_and_the_worker_keeps_drawing(
    stack: Stack, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(stack.redis.url)
    queue = _queue(client)
    touched, made = tmp_path / "touched", tmp_path / "made"
    jobs = [
        queue.enqueue_call("os.system", args=(f"touch {touched}",)),
        queue.enqueue_call("pathlib.Path.touch", args=(str(touched),)),
        queue.enqueue_call("os.mkdir", args=(str(made),)),
        # Our job function, with callbacks of someone else's: the job would draw, then call
        # them (print writes "Job(..." to the worker's log).
        queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST, on_success=Callback("builtins.print")),
        queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST, on_stopped=Callback("builtins.print")),
        queue.enqueue_call(PLAY_FUNCTION, args=([],), on_failure=Callback("builtins.print")),
    ]
    # A user's prompt, queued behind them: drawn only once each was taken and dealt with.
    stack.botapi.push_message(9701, "/imagine a lighthouse", user_id=9701)
    stack.botapi.wait_for(lambda c: c.chat_id == 9701 and c.method == "sendPhoto", timeout=120)
    assert len(photos(stack.botapi, 9701)) == 1
    assert not touched.exists()
    assert not made.exists()
    assert stack.worker is not None
    output = stack.worker.output()
    assert "Job(" not in output
    for job in jobs:
        job.refresh()  # type: ignore[no-untyped-call]
        assert job.get_status() == JobStatus.FAILED, job.func_name
        assert f"job {job.id} refused, nothing it names was run" in output
    client.close()


def test_a_sweep_never_runs_a_foreign_failure_callback(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    queue = _queue(client)
    ours = queue.enqueue_call(JOB_FUNCTION, kwargs=REQUEST, on_failure=Callback(FAILURE_CALLBACK))
    theirs = queue.enqueue_call(
        JOB_FUNCTION, kwargs=REQUEST, on_failure=Callback("builtins.print")
    )
    registry = StartedJobRegistry(queue=queue)
    for job in (ours, theirs):
        # Both "started" by a worker that died at once: their claims lapsed long ago.
        job.set_status(JobStatus.STARTED)
        client.zadd(registry.key, {f"{job.id}:gone": 1})
    sweep_started(registry)
    assert "Job(" not in capsys.readouterr().out
    for job in (ours, theirs):
        assert Job.fetch(job.id, connection=client, serializer=JSONSerializer).get_status() in (
            JobStatus.FAILED,
            JobStatus.QUEUED,  # ours may be retried
        )
    # Ours went through its own callback: its user hears back; theirs was refused.
    assert [r.error for r in _results(client, ours.id)] == ["abandoned"]
    assert [r.error for r in _results(client, theirs.id)] == ["invalid"]
    client.close()
