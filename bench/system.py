"""System benchmark: Telegram update → bot → Redis/RQ → worker → photo reply, all real processes.

The test Bot API server (testing/botapi) stands in for Telegram; Redis, `python -m bot` and
`python -m worker` (tiny random-weight pipeline, CPU) are the real ones. Each request's
latency is split with RQ's own timestamps and the worker's measured generation time:

    ingest     update pushed → job enqueued (getUpdates, handler, RQ enqueue)
    queue      enqueued → picked up by the worker (waiting behind other jobs)
    generation the engine call that made the image (its whole batch)
    delivery   image made → sendPhoto received (results stream, bot, multipart upload)
    overhead   end-to-end minus generation, minus queue wait: what the system itself adds

It measures the path, not the limits: every sample comes from a user and chat of its own (so
no user rate, in-flight slot or chat pacing applies), and a request the bot refuses ends the
run at once with the bot's answer instead of waiting for a photo that never comes. What the
outbound pacer still made sends wait (Telegram's limit on all chats together, under load) is
read from the bot's own metrics and reported as a stage of its own.

    python -m bench.system --users 1 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.report import append, percentile, table
from bench.stack import BenchStack, scrape
from testing.safety_models import save_classifier
from testing.support import free_port
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


class Refused(RuntimeError):
    """The bot answered a sample with words instead of a photo: the run measures nothing."""


# The bot's own histograms (`bot.metrics`): how long each send waited for its turn, and its
# time per request in each stage of the path.
PACE_WAIT = "imagine_bot_send_pace_wait_seconds"
STAGE = "imagine_bot_stage_seconds"
STAGES = ("inbox", "handler", "results", "send")


@dataclass(frozen=True)
class Paced:
    """The pacer's histogram at one moment: sends, seconds waited, sends that waited > 50 ms."""

    sends: float = 0.0
    seconds: float = 0.0
    waited: float = 0.0

    def __sub__(self, other: Paced) -> Paced:
        return Paced(
            self.sends - other.sends, self.seconds - other.seconds, self.waited - other.waited
        )


# `--unpaced`: Telegram's limits as the bot paces them, raised out of the way.
UNPACED = {"PACE_TOTAL_PER_S": "100000", "PACE_CHAT_PER_S": "1000", "PACE_CHAT_BURST": "1000"}


class System(BenchStack):
    def __init__(
        self, workdir: Path, max_batch: int, bot_env: dict[str, str] | None = None
    ) -> None:
        self.metrics_port = free_port()
        super().__init__(
            workdir,
            save_pipeline("tiny", workdir / "model"),
            worker_env={
                "SAFETY_MODEL_ID": str(save_classifier(workdir / "safety")),
                "MAX_BATCH": str(max_batch),
            },
            bot_env={"METRICS_PORT": str(self.metrics_port), **(bot_env or {})},
            shared_env={"RESULT_TTL_S": "3600"},
        )
        # Call.time is monotonic; this maps it onto the wall clock RQ's timestamps use.
        self.offset = time.time() - time.monotonic()
        self._chats = itertools.count(10_000)

    def push(self, prompt: str) -> Sample:
        """One prompt from a new user in a private chat of their own."""
        chat_id = next(self._chats)
        pushed = time.time()
        message = self.botapi.push_message(chat_id, f"/imagine {prompt}", user_id=chat_id)
        return Sample(prompt, chat_id, message["message_id"], pushed)

    def photo(self, sample: Sample, timeout: float = 600) -> Call:
        """The sample's photo; a refusal (any other reply but the queue place) raises."""

        def answered(call: Call) -> bool:
            if not call.ok or call.chat_id != sample.chat_id or not isinstance(call.result, dict):
                return False
            if call.result.get("reply_to_message", {}).get("message_id") != sample.message_id:
                return False
            return call.method == "sendPhoto" or not call.result.get("text", "").startswith(
                "In queue"
            )

        call = self.botapi.wait_for(answered, timeout)
        if call.method != "sendPhoto":
            raise Refused(f"the bot answered {sample.prompt!r} with {call.result.get('text')!r}")
        return call

    def scrape(self) -> dict[str, float]:
        """The bot's histogram samples of pacing and stages now."""
        return scrape(self.metrics_port, PACE_WAIT, STAGE)

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


def paced(values: dict[str, float]) -> Paced:
    sends = values.get(f"{PACE_WAIT}_count", 0.0)
    quick = values.get(f'{PACE_WAIT}_bucket{{le="0.05"}}', 0.0)
    return Paced(sends, values.get(f"{PACE_WAIT}_sum", 0.0), sends - quick)


def stage_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean milliseconds per observation of each bot stage between two scrapes."""
    out: dict[str, float] = {}
    for stage in STAGES:
        count, total = (
            after.get(f'{STAGE}_{part}{{stage="{stage}"}}', 0.0)
            - before.get(f'{STAGE}_{part}{{stage="{stage}"}}', 0.0)
            for part in ("count", "sum")
        )
        out[stage] = total * 1000 / count if count else 0.0
    return out


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


@dataclass
class Run:
    """One scenario: the stages per sample, the pacer's waits, the bot's mean stage times."""

    parts: dict[str, list[float]]
    paced: Paced
    bot: dict[str, float]


def scenario(system: System, name: str, users: int, rounds: int) -> Run:
    """`users` new users each send one prompt at the same moment, `rounds` times."""
    samples: list[Sample] = []
    before = system.scrape()
    for round_ in range(rounds):
        batch = [system.push(f"bench {name} r{round_} c{user}") for user in range(users)]
        for sample in batch:
            system.photo(sample)
        samples += batch
    after = system.scrape()
    return Run(split(system, samples), paced(after) - paced(before), stage_means(before, after))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--requests", type=int, default=100, help="per scenario, about")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument(
        "--unpaced",
        action="store_true",
        help="raise the outbound pacing limits out of the way: the path without Telegram's "
        "limit on all chats together (printed with the figures)",
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        system = System(Path(tmp), args.max_batch, UNPACED if args.unpaced else None)
        try:
            scenario(system, "warm-up", 1, 3)  # the bot's and the worker's first calls
            for users in args.users:
                run = scenario(system, f"u{users}", users, max(1, args.requests // users))
                parts, waits = run.parts, run.paced
                for name, values in parts.items():
                    p50, p99 = percentile(values, 50), percentile(values, 99)
                    if name == "batch size":
                        rows.append([users, name, f"{p50:.0f}", f"{p99:.0f}"])
                    else:
                        rows.append([users, name, f"{p50:.1f}", f"{p99:.1f}"])
                mean = waits.seconds * 1000 / waits.sends if waits.sends else 0.0
                waited = f"{waits.waited:.0f} of {waits.sends:.0f} sends waited > 50 ms"
                rows.append([users, "pacing (mean wait per send)", f"{mean:.1f}", waited])
                for stage, ms in run.bot.items():
                    rows.append([users, f"bot: {stage} (mean)", f"{ms:.1f}", ""])
                shown = len(parts) + 1 + len(run.bot)
                print(table(["users", "stage", "p50 ms", "p99 ms"], rows[-shown:]))
        finally:
            system.close()
    limits = f"Pacing raised for this run: {UNPACED}.\n" if args.unpaced else ""
    body = (
        table(["concurrent users", "stage", "p50 ms", "p99 ms"], rows)
        + "\n"
        + limits
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
jobs in the engine call that made each image. Every sample is a new user in a chat of its own,
so no user rate, in-flight slot or per-chat pacing is in the figures; `pacing` is the mean time
a send waited for its turn under the limit on all chats together (the bot's
`send_pace_wait_seconds`), which delivery includes. The `bot:` rows are the bot's own
`stage_seconds` means (ingest = Telegram's getUpdates + inbox + handler; delivery = the
worker's publishing + results + send). Bot, worker, Redis and the Bot API server share this
machine's cores with the generation itself.
"""

if __name__ == "__main__":
    main()
