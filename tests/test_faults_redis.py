"""Redis restarting under a busy bot and worker: queued jobs survive (append-only file), both
processes reconnect by themselves, and users asking meanwhile hear "temporarily unavailable"."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import redis

from bot import texts
from testing.faults import LICENCE, seen, statuses_left, wait_settled, wait_until
from testing.jobs import KEYS
from testing.support import RedisServer
from tests.conftest import Spawner, _start_botapi

if TYPE_CHECKING:
    from pathlib import Path

# Redis back, the first photo: the processes' longest wait between tries (5 s), the drawing
# and a margin for a loaded machine.
RECONNECT_WITHIN_S = 9.0
OUTAGE_S = 20.0


def _job_records(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return len(client.keys(KEYS.job_context("*")))
    finally:
        client.close()


def test_redis_restart_loses_no_job_and_both_processes_come_back(
    tmp_path: Path, tiny_model: Path
) -> None:
    store = RedisServer(tmp_path, appendonly=True).start()
    botapi = _start_botapi()
    spawn = Spawner(tmp_path)
    try:
        recovery = {"abandon_after_s": "2"}
        worker = spawn.worker(
            store.url,
            tiny_model,
            module="testing.slow_worker",
            slow_generation_s="2",
            warmup="false",
            **recovery,
        )
        bot = spawn.bot(store.url, botapi, sweep_interval_s="0.5", **recovery)
        queued = (5001, 5002, 5003)
        for chat in queued:
            botapi.push_message(chat, f"/imagine a fox before the outage {chat}", user_id=chat)
        wait_until(lambda: _job_records(store.url) == 3, what="three jobs accepted")
        worker.wait_for_output("slow generation started", timeout=30)

        store.stop()
        botapi.push_message(5004, "/imagine a fox during the outage", user_id=5004)
        botapi.wait_for(lambda c: c.chat_id == 5004 and c.method == "sendMessage", timeout=30)
        # Down long enough for the running job to fail to publish its photo: the worker
        # notices mid-job, then fails again when the job ends.
        worker.wait_for_output(
            r"could not renew the claim[\s\S]*(reconnecting to Redis in|could not connect)", 30
        )
        store.start()  # same port, same append-only file

        for chat in queued:
            botapi.wait_for(
                partial(
                    lambda chat, c: c.chat_id == chat and c.method == "sendPhoto" and c.ok, chat
                ),
                timeout=60,
            )
        botapi.push_message(5005, "/imagine a fox after the outage", user_id=5005)
        botapi.wait_for(lambda c: c.chat_id == 5005 and c.method == "sendPhoto", timeout=60)
        wait_settled(store.url)

        for chat in (*queued, 5005):
            assert seen(botapi, chat) == [LICENCE, "photo"], chat
            wait_until(partial(lambda chat: not statuses_left(botapi, chat), chat))
        # Refused before its job was queued: no notice, no status, only the apology.
        assert seen(botapi, 5004) == [texts.UNAVAILABLE]
        assert "results stream unavailable" in bot.output()
        assert bot.proc.poll() is None and worker.proc.poll() is None
    finally:
        spawn.close()
        botapi.stop()
        store.stop()


def test_after_a_long_outage_the_first_prompt_is_drawn_within_seconds(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Both processes wait for Redis with backoff; a long outage must not leave either asleep
    for half a minute after Redis is back, while the first user waits."""
    store = RedisServer(tmp_path, appendonly=True).start()
    botapi = _start_botapi()
    spawn = Spawner(tmp_path)
    try:
        spawn.worker(store.url, tiny_model, warmup="false")
        spawn.bot(store.url, botapi)
        botapi.push_message(5101, "/imagine a fox before the outage", user_id=5101)
        botapi.wait_for(lambda c: c.chat_id == 5101 and c.method == "sendPhoto", timeout=60)

        store.stop()
        # The fault is the outage's length: backoffs doubling from 1 s without a bound
        # would be asleep for 16 s (after 1 + 2 + 4 + 8) when Redis comes back.
        time.sleep(OUTAGE_S)
        store.start()
        back = time.monotonic()
        botapi.push_message(5102, "/imagine a fox after the outage", user_id=5102)
        botapi.wait_for(lambda c: c.chat_id == 5102 and c.method == "sendPhoto", timeout=60)
        waited = time.monotonic() - back

        assert waited < RECONNECT_WITHIN_S, f"the first photo came {waited:.1f} s after Redis"
        assert seen(botapi, 5102) == [LICENCE, "photo"]
    finally:
        spawn.close()
        botapi.stop()
        store.stop()
