"""Shared fixtures: a private Redis, a tiny SDXL pipeline on disk, the fake Bot API, processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from tests.support import TOKEN, Process, RedisServer

if TYPE_CHECKING:
    from tests.botapi import FakeBotAPI

os.environ["HF_HUB_OFFLINE"] = "1"

BOT_USERNAME = "ImagineTestBot"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The tests' own Redis, emptied before each test (it is never a shared server)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight SDXL Turbo-shaped pipeline written by `save_pretrained`."""
    from worker.synthetic import save_pipeline

    return save_pipeline("tiny", tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture
def botapi() -> Iterator[FakeBotAPI]:
    from tests.botapi import FakeBotAPI

    server = FakeBotAPI(token=TOKEN, username=BOT_USERNAME)
    server.start()
    yield server
    server.stop()


SpawnFn = Callable[..., Process]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[SpawnFn]:
    """Start `python -m bot` / `python -m worker`; everything started is stopped afterwards."""
    started: list[Process] = []

    def start(module: str, **env: str) -> Process:
        process = Process(module, {k.upper(): v for k, v in env.items()}, tmp_path)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def stack(
    spawn: SpawnFn, botapi: FakeBotAPI, redis_url: str, tiny_model: Path
) -> Iterator[tuple[Process, Process]]:
    """A warm worker and a polling bot, wired to the fake Bot API and the private Redis."""
    worker = spawn("worker", redis_url=redis_url, model_id=str(tiny_model), device="cpu")
    worker.wait_for_output(r"ready: listening", timeout=120)
    bot = spawn(
        "bot",
        redis_url=redis_url,
        bot_token=TOKEN,
        telegram_api_url=botapi.base_url,
        polling_timeout_s="1",
    )
    botapi.wait_for(lambda call: call.method == "getUpdates", timeout=30)
    yield worker, bot
