"""Shared fixtures: a private Redis, a tiny SDXL pipeline on disk, the fake Bot API, processes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from testing.jobs import stand_in_worker
from testing.support import TOKEN, Process, RedisServer

if TYPE_CHECKING:
    from testing.botapi import FakeBotAPI
    from testing.harness import BotUnderTest

os.environ["HF_HUB_OFFLINE"] = "1"
# No translator unless a test gives one (the default names a hub model, not downloadable here);
# the processes the tests start inherit this.
os.environ["TRANSLATE_MODEL_ID"] = ""

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
    from testing.synthetic import save_pipeline

    return save_pipeline("tiny", tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def flag_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny image safety classifier that flags every picture."""
    from testing.safety_models import save_classifier

    return save_classifier(tmp_path_factory.mktemp("flag-all"), verdict="nsfw")


@pytest.fixture(scope="session")
def flag_none(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, flagging nothing."""
    from testing.safety_models import save_classifier

    return save_classifier(tmp_path_factory.mktemp("flag-none"), verdict="normal")


def _start_botapi() -> FakeBotAPI:
    from testing.botapi import FakeBotAPI

    return FakeBotAPI(token=TOKEN, username=BOT_USERNAME).start()


@pytest.fixture
def botapi() -> Iterator[FakeBotAPI]:
    server = _start_botapi()
    yield server
    server.stop()


MakeApp = Callable[..., "BotUnderTest"]


@pytest.fixture
async def make_app(
    botapi: FakeBotAPI, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[MakeApp]:
    """Builds the real dispatcher in the test's loop (`testing.harness`): the harness's
    environment plus the test's own settings (`make_app(user_rate="1/minute")`), on the tests'
    Redis unless a URL is given first, with `jobs=` standing in for the queue. Every one it
    built is closed after the test."""
    from testing.harness import BotUnderTest, environment

    monkeypatch.chdir(tmp_path)  # no developer .env
    made: list[BotUnderTest] = []

    def make(redis: str | None = None, jobs: object = None, **settings: str) -> BotUnderTest:
        url = redis or redis_url
        env = {**environment(botapi, url), **{k.upper(): v for k, v in settings.items()}}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        made.append(BotUnderTest(botapi, url, jobs=jobs))
        return made[-1]

    yield make
    for running in reversed(made):
        await running.close()


@pytest.fixture
async def app(make_app: MakeApp) -> BotUnderTest:
    """The real dispatcher with the harness's settings: a test sets its own with
    `monkeypatch.setenv` before asking for it, or uses `make_app`."""
    return make_app()


SpawnFn = Callable[..., Process]

# The processes the running test started, for its failure report.
_STARTED: list[Process] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    _STARTED.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the output of every bot and worker it started: an
    intermittent failure on CI is then explained by the run itself."""
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        for process in _STARTED:
            report.sections.append((f"output of {process.module}", process.output()[-6000:]))
    return report


class Spawner:
    """Starts `python -m bot` / `python -m worker`; `close` stops everything it started."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Process] = []

    def __call__(self, module: str, **env: str) -> Process:
        # No metrics endpoint unless a test asks for one: fixed default ports would collide.
        env = {"metrics_port": "0", **env}
        process = Process(module, {k.upper(): v for k, v in env.items()}, self.workdir)
        self.started.append(process)
        _STARTED.append(process)
        return process

    def worker(self, redis_url: str, model: Path, module: str = "worker", **env: str) -> Process:
        # Without a classifier of its own a test's worker checks nothing (no hub downloads).
        env = {"safety_model_id": "", **env}
        worker = self(module, redis_url=redis_url, model_id=str(model), device="cpu", **env)
        worker.wait_for_output(r"ready: listening", timeout=120)
        return worker

    def bot(self, redis_url: str, botapi: FakeBotAPI, module: str = "bot", **env: str) -> Process:
        calls_before = len(botapi.calls)
        bot = self(
            module,
            redis_url=redis_url,
            bot_token=TOKEN,
            telegram_api_url=botapi.base_url,
            polling_timeout_s="1",
            # A bot restarted after a kill waits out the dead one's lease: keep it short.
            **{"consumer_lease_s": "3", **env},
        )
        botapi.wait_for(
            lambda call: call.method == "getUpdates" and botapi.calls.index(call) >= calls_before,
            timeout=60,
        )
        return bot

    def close(self) -> None:
        for process in reversed(self.started):
            process.stop()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    spawner = Spawner(tmp_path)
    yield spawner
    spawner.close()


class Stack:
    """A private Redis, the fake Bot API, a warm worker and a polling bot, wired together."""

    def __init__(
        self,
        workdir: Path,
        model: Path,
        *,
        worker: bool = True,
        bot: bool = True,
        worker_env: dict[str, str] | None = None,
        stand_in: bool = True,
        appendonly: bool = False,
        **bot_env: str,
    ) -> None:
        self.model = model
        # `appendonly`: what Redis held survives a restart (tests that stop it midway).
        self.redis = RedisServer(workdir, appendonly=appendonly).start()
        self.botapi = _start_botapi()
        self.spawn = Spawner(workdir)
        self.worker = self.start_worker(**(worker_env or {})) if worker else None
        # Without a worker, a stand-in beats for one (unless the test wants none): prompts
        # are queued and wait, as behind a busy GPU.
        self._beat_client = redis.Redis.from_url(self.redis.url)
        self.stand_in = stand_in_worker(self._beat_client) if stand_in and not worker else None
        self.bot = self.spawn.bot(self.redis.url, self.botapi, **bot_env) if bot else None

    def start_worker(self, **env: str) -> Process:
        return self.spawn.worker(self.redis.url, self.model, **env)

    def close(self) -> None:
        if self.stand_in is not None:
            self.stand_in.stop()
        self._beat_client.close()
        self.spawn.close()
        self.botapi.stop()
        self.redis.stop()


class World(Stack):
    """A worker, Redis and the Bot API; each test starts (and kills) bots of its own."""

    def __init__(self, workdir: Path, model: Path) -> None:
        super().__init__(workdir, model, bot=False)
        self.client = redis.Redis.from_url(self.redis.url)

    def close(self) -> None:
        self.client.close()
        super().close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Stack]:
    """Shared by a module's tests, which keep apart by using chats of their own."""
    running = Stack(tmp_path_factory.mktemp("stack"), tiny_model)
    yield running
    running.close()
