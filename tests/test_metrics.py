"""`/metrics` and `/healthz` of a running bot and worker: counters move as requests go
through, and readiness follows Redis going away and coming back."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from functools import partial
from typing import TYPE_CHECKING

import pytest
import redis
import redis.asyncio as aredis
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot import texts
from bot.metrics import BotHealth, count_delivery, serve
from bot.requests.workers import CACHE_S, Workers
from bot.shared.outcome import Outcome
from common.config import MetricsSettings, QueueSettings, RedisSettings
from common.protocol import Result
from testing.faults import wait_until
from testing.jobs import KEYS, job_context
from testing.support import ROOT, free_port
from tests.conftest import Stack
from worker import metrics as worker_metrics
from worker.heartbeat import Heartbeat

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Observed(Stack):
    """The test stack with both processes' metrics endpoints on."""

    def __init__(self, workdir: Path, model: Path) -> None:
        self.ports = {"bot": free_port(), "worker": free_port()}
        super().__init__(workdir, model, worker=False, metrics_port=str(self.ports["bot"]))
        self.worker = self.start_worker(metrics_port=str(self.ports["worker"]))

    def get(self, process: str, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.ports[process]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def scrape(self, process: str) -> Samples:
        status, text = self.get(process, "/metrics")
        assert status == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample that must be there: a missing one fails, it never reads as 0."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def prior(samples: Samples, name: str, **labels: str) -> float:
    """A sample from before the event, when a labelled series may not exist yet: 0 then."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Observed]:
    running = Observed(tmp_path_factory.mktemp("observed"), tiny_model)
    yield running
    running.close()


def test_a_request_moves_the_counters_of_bot_and_worker(observed: Observed) -> None:
    bot, worker = observed.scrape("bot"), observed.scrape("worker")
    assert value(worker, "imagine_worker_ready") == 1
    observed.botapi.fail_next("sendPhoto", status=502)
    observed.botapi.push_message(7001, "/imagine a counted fox", user_id=7001)
    observed.botapi.push_message(7002, "/imagine", user_id=7002)
    observed.botapi.wait_for(lambda c: c.chat_id == 7001 and c.method == "sendPhoto" and c.ok)
    usage = observed.botapi.wait_for(lambda c: c.chat_id == 7002 and c.method == "sendMessage")
    assert usage.result["text"] == texts.USAGE.replace("<code>", "").replace("</code>", "")

    def moved(name: str, before: Samples, **labels: str) -> float:
        return value(observed.scrape("bot"), name, **labels) - prior(before, name, **labels)

    # The delivery loop counts right after Telegram's answer: wait for it, not for a guess.
    wait_until(lambda: moved("imagine_bot_pictures_sent_total", bot) == 1, 10, "the count")
    after = observed.scrape("bot")
    for name, labels in [
        ("imagine_bot_requests_total", {"outcome": "accepted", "reason": ""}),
        ("imagine_bot_requests_total", {"outcome": "refused", "reason": "empty"}),
        ("imagine_bot_telegram_errors_total", {"method": "sendPhoto", "code": "5xx"}),
        ("imagine_bot_update_to_photo_seconds_count", {}),
    ]:
        assert value(after, name, **labels) - prior(bot, name, **labels) == 1, (name, labels)
    assert prior(after, "imagine_bot_failures_total", kind="send_deferred") == 0
    # The bot's stages: both updates recorded and handled, one result, one send that went
    # through (the 502 before it is no send).
    stages = ("inbox", "handler", "results", "send")
    counts = [
        value(after, "imagine_bot_stage_seconds_count", stage=stage)
        - prior(bot, "imagine_bot_stage_seconds_count", stage=stage)
        for stage in stages
    ]
    assert counts == [2, 2, 1, 1]
    assert all(value(after, "imagine_bot_stage_seconds_sum", stage=stage) > 0 for stage in stages)
    assert value(after, "imagine_bot_queue_depth") == 0
    assert value(after, "imagine_bot_redis_memory_bytes", kind="used") > 0
    assert ("imagine_bot_redis_memory_bytes", frozenset({("kind", "max")})) in after
    worker_after = observed.scrape("worker")
    for name in (
        "imagine_worker_images_total",
        "imagine_worker_generation_seconds_count",
        "imagine_worker_batch_size_sum",
    ):
        assert value(worker_after, name) - prior(worker, name) == 1, name
    # The named places later features count into are there from the start.
    families = {f.name for f in text_string_to_metric_families(observed.get("bot", "/metrics")[1])}
    assert "imagine_bot_send_pace_wait_seconds" in families
    assert "imagine_worker_safety_verdicts" in {
        f.name for f in text_string_to_metric_families(observed.get("worker", "/metrics")[1])
    }


def test_slots_busy_shows_a_slow_send_then_falls_back_to_zero(observed: Observed) -> None:
    def busy(loop: str) -> float:
        return value(observed.scrape("bot"), "imagine_bot_slots_busy", loop=loop)

    observed.botapi.fail_next("sendPhoto", status=None, delay=3)
    observed.botapi.push_message(7003, "/imagine a slow fox", user_id=7003)
    wait_until(lambda: busy("delivery") == 1, 30, "a delivery slot in use")
    observed.botapi.wait_for(lambda c: c.chat_id == 7003 and c.method == "sendPhoto" and c.ok)
    wait_until(lambda: busy("delivery") == 0 and busy("intake") == 0, 10, "every slot free")


def _healthcheck(process: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {"METRICS_PORT": str(port), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "common.healthcheck", process]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_healthz_follows_redis_down_and_back(observed: Observed) -> None:
    for process in ("bot", "worker"):
        assert observed.get(process, "/healthz") == (200, "ok\n")
    assert _healthcheck("bot", observed.ports["bot"]).returncode == 0

    observed.redis.stop()
    for process in ("bot", "worker"):
        wait_until(partial(lambda p: observed.get(p, "/healthz")[0] == 503, process), 30, "503")
        assert "not ready: redis unreachable" in observed.get(process, "/healthz")[1]
    check = _healthcheck("worker", observed.ports["worker"])
    assert check.returncode == 1 and "redis unreachable" in check.stdout

    observed.redis.start()  # same port
    for process in ("bot", "worker"):
        wait_until(
            partial(lambda p: observed.get(p, "/healthz") == (200, "ok\n"), process), 30, "200"
        )


def test_worker_is_not_ready_before_its_model_is_warm(redis_url: str) -> None:
    port = free_port()
    health = worker_metrics.serve(
        MetricsSettings(metrics_port=port), RedisSettings(redis_url=redis_url)
    )
    url = f"http://127.0.0.1:{port}/healthz"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 503
    assert refused.value.read() == b"not ready: model not loaded and warmed up yet\n"
    health.set_ready()
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"ok\n"


async def test_a_taken_metrics_port_is_logged_and_the_bot_goes_on(
    caplog: pytest.LogCaptureFixture, redis_url: str
) -> None:
    client = aredis.Redis.from_url(redis_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR):
            endpoint = await serve(MetricsSettings(metrics_port=port), BotHealth(client, "q", []))
        await endpoint.close()
    await client.aclose()
    assert f"metrics endpoint off: cannot listen on port {port}" in caplog.text


def test_healthcheck_without_an_endpoint_fails_and_says_why() -> None:
    check = _healthcheck("bot", 0)
    assert check.returncode == 1
    assert "METRICS_PORT=0" in check.stdout


async def test_healthz_says_no_live_worker_but_the_bot_stays_healthy(redis_url: str) -> None:
    client = aredis.Redis.from_url(redis_url)
    sync_client = redis.Redis.from_url(redis_url)
    port = free_port()
    health = BotHealth(client, "q", [], Workers(client, KEYS, QueueSettings()))
    endpoint = await serve(MetricsSettings(metrics_port=port), health)
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> tuple[int, str]:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, response.read().decode()

    def gauge() -> float:
        families = text_string_to_metric_families(get("/metrics")[1])
        return next(
            s.value for f in families for s in f.samples if s.name == "imagine_bot_workers_alive"
        )

    try:
        # 200 all the same: the bot is what answers "no GPU worker" meanwhile.
        assert await asyncio.to_thread(get, "/healthz") == (200, "ok\nno live worker\n")
        assert await asyncio.to_thread(gauge) == 0
        beat = Heartbeat(sync_client, KEYS, QueueSettings().worker_gone_s)
        beat.beat()
        await asyncio.sleep(CACHE_S)
        assert await asyncio.to_thread(get, "/healthz") == (200, "ok\n")
        assert await asyncio.to_thread(gauge) == 1
    finally:
        await endpoint.close()
        await client.aclose()
        sync_client.close()


FAILURE_KINDS = ("timeout", "failed", "abandoned", "invalid", "undeliverable", "send_deferred")


def _failures() -> dict[str, float]:
    return {
        kind: REGISTRY.get_sample_value("imagine_bot_failures_total", {"kind": kind}) or 0.0
        for kind in FAILURE_KINDS
    }


@pytest.mark.parametrize(
    ("status", "error", "outcome", "kind"),
    [
        ("error", "timeout", Outcome.SENT, "timeout"),
        ("error", "abandoned", Outcome.SENT, "abandoned"),
        ("error", "invalid", Outcome.SENT, "invalid"),
        ("error", "", Outcome.SENT, "failed"),
        ("ok", "", Outcome.DROPPED, "undeliverable"),
        ("error", "timeout", Outcome.DROPPED, "undeliverable"),
        ("ok", "", Outcome.LATER, "send_deferred"),
    ],
)
def test_each_answer_that_is_not_a_picture_counts_once_as_its_kind(
    status: str, error: str, outcome: Outcome, kind: str
) -> None:
    before = _failures()
    sent = REGISTRY.get_sample_value("imagine_bot_pictures_sent_total") or 0.0
    result = Result.model_validate({"job_id": "j", "status": status, "error": error})
    count_delivery(job_context("a fox"), result, outcome)
    after = _failures()
    assert {k: after[k] - before[k] for k in FAILURE_KINDS} == {
        k: 1.0 if k == kind else 0.0 for k in FAILURE_KINDS
    }
    assert (REGISTRY.get_sample_value("imagine_bot_pictures_sent_total") or 0.0) == sent


async def test_healthz_is_503_once_a_background_loop_has_ended(redis_url: str) -> None:
    from bot.runtime import supervise

    client = aredis.Redis.from_url(redis_url)
    port = free_port()
    runs: list[int] = []
    restarted = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug in one round")
        restarted.set()
        await asyncio.Event().wait()

    kept = asyncio.create_task(supervise("flaky", flaky))
    loops = [kept]
    endpoint = await serve(MetricsSettings(metrics_port=port), BotHealth(client, "q", loops))

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        # A crash is a restart, not an ending: still ready.
        await asyncio.wait_for(restarted.wait(), 10)
        assert await asyncio.to_thread(get) == (200, "ok\n")
        # A loop that is over (here one that simply returned) makes the bot not ready.
        ended = asyncio.create_task(asyncio.sleep(0))
        loops.append(ended)
        await ended
        status, text = await asyncio.to_thread(get)
        assert status == 503
        assert "1 of 2 background loops ended" in text
    finally:
        kept.cancel()
        await endpoint.close()
        await client.aclose()
