"""System benchmark: Telegram update → bot → Redis/RQ → worker → photo reply, all real processes.

The test Bot API server (testing/botapi) stands in for Telegram; Redis, `python -m bot` and
`python -m worker` (tiny random-weight pipeline, CPU) are the real ones. Each request's
latency is split with RQ's own timestamps and the worker's measured generation time:

    ingest     update pushed → job enqueued (getUpdates, handler, RQ enqueue)
    queue      enqueued → picked up by the worker (waiting behind other jobs)
    generation the engine call that made the image (its whole batch)
    delivery   image made → sendPhoto received (results stream, bot, multipart upload)
    overhead   end-to-end minus generation, minus queue wait: what the system itself adds

    python -m bench.system --users 1 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.report import append, percentile, table
from bench.stack import BenchStack
from testing.safety_models import save_classifier
from testing.synthetic import save_pipeline

if TYPE_CHECKING:
    from testing.botapi import Call


@dataclass
class Sample:
    prompt: str
    chat_id: int
    message_id: int
    pushed: float  # wall clock, seconds


def _wall(moment: dt.datetime | None) -> float:
    assert moment is not None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.timestamp()


class System(BenchStack):
    def __init__(self, workdir: Path, max_batch: int) -> None:
        super().__init__(
            workdir,
            save_pipeline("tiny", workdir / "model"),
            worker_env={
                "SAFETY_MODEL_ID": str(save_classifier(workdir / "safety")),
                "MAX_BATCH": str(max_batch),
            },
            shared_env={"RESULT_TTL_S": "3600"},
        )
        # Call.time is monotonic; this maps it onto the wall clock RQ's timestamps use.
        self.offset = time.time() - time.monotonic()

    def push(self, chat_id: int, prompt: str) -> Sample:
        pushed = time.time()
        message = self.botapi.push_message(chat_id, f"/imagine {prompt}", user_id=chat_id)
        return Sample(prompt, chat_id, message["message_id"], pushed)

    def photo(self, sample: Sample, timeout: float = 600) -> Call:
        return self.wait_photo(sample.chat_id, sample.message_id, timeout)

    def jobs_by_prompt(self) -> dict[str, Job]:
        client = redis.Redis.from_url(self.redis.url)
        found: dict[str, Job] = {}
        for key in client.scan_iter("rq:job:*"):
            name = key.decode()
            if name.count(":") != 2:
                continue
            job = Job.fetch(name.split(":")[2], connection=client, serializer=JSONSerializer)
            found[job.kwargs["request"]["prompt"]] = job
        return found


def split(system: System, samples: list[Sample]) -> dict[str, list[float]]:
    """Milliseconds per stage for each sample."""
    jobs = system.jobs_by_prompt()
    parts: dict[str, list[float]] = {}
    for sample in samples:
        job = jobs[sample.prompt]
        summary = job.return_value()
        assert isinstance(summary, dict)
        delivered = system.photo(sample, timeout=1).time + system.offset
        enqueued, started = _wall(job.enqueued_at), _wall(job.started_at)
        generation = summary["generation_ms"] / 1000
        values = {
            "end-to-end": delivered - sample.pushed,
            "ingest": enqueued - sample.pushed,
            "queue": started - enqueued,
            "generation": generation,
            "delivery": delivered - started - generation,
            "overhead": delivered - sample.pushed - generation - (started - enqueued),
            "e2e - generation": delivered - sample.pushed - generation,
            "batch size": summary["batch_size"] / 1000,
        }
        for name, value in values.items():
            parts.setdefault(name, []).append(value * 1000)
    return parts


def scenario(system: System, name: str, users: int, rounds: int) -> dict[str, list[float]]:
    """`users` chats each send one prompt at the same moment, `rounds` times."""
    samples: list[Sample] = []
    for round_ in range(rounds):
        batch = [
            system.push(10_000 + user, f"bench {name} r{round_} c{user}") for user in range(users)
        ]
        for sample in batch:
            system.photo(sample)
        samples += batch
    return split(system, samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--requests", type=int, default=100, help="per scenario, about")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        system = System(Path(tmp), args.max_batch)
        try:
            scenario(system, "warm-up", 1, 3)  # the bot's and the worker's first calls
            for users in args.users:
                parts = scenario(system, f"u{users}", users, max(1, args.requests // users))
                for name, values in parts.items():
                    p50, p99 = percentile(values, 50), percentile(values, 99)
                    if name == "batch size":
                        rows.append([users, name, f"{p50:.0f}", f"{p99:.0f}"])
                    else:
                        rows.append([users, name, f"{p50:.1f}", f"{p99:.1f}"])
                print(table(["users", "stage", "p50 ms", "p99 ms"], rows[-len(parts) :]))
        finally:
            system.close()
    body = (
        table(["concurrent users", "stage", "p50 ms", "p99 ms"], rows)
        + "\n"
        + NOTES.format(requests=args.requests, max_batch=args.max_batch)
    )
    if args.no_append:
        print(body)
    else:
        append("System: bot + Redis + worker (tiny pipeline, CPU)", "bench.system", body)


NOTES = """
About {requests} requests per scenario, MAX_BATCH={max_batch}. Every stage's p50/p99 is taken
separately (they do not add up). `overhead` = end-to-end − generation − queue wait: ingest plus
delivery, what the bot, Redis and RQ add to an image. `e2e - generation` also counts the wait
behind other users' images, which grows with load on one worker. `batch size` is the number of
jobs in the engine call that made each image. Bot, worker, Redis and the Bot API server share
this machine's cores with the generation itself.
"""

if __name__ == "__main__":
    main()
