"""Secrets stay out of output, nothing on the queue is a pickle, admin commands stay closed,
and the compose file keeps Redis private behind a password."""

from __future__ import annotations

import os
import pickle
import shlex
import shutil
import subprocess
import time
import zlib
from typing import TYPE_CHECKING, Any

import pytest
import redis
import yaml
from aiogram import Router
from aiogram.filters import Command
from rq import Callback, Queue, SimpleWorker
from rq.serializers import JSONSerializer

from bot import texts
from common.config import RedisSettings
from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION
from testing.harness import BotUnderTest, environment
from testing.jobs import published
from testing.support import ROOT, TOKEN, free_port

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from testing.botapi import FakeBotAPI
    from tests.conftest import Spawner

SECRET_HALF = TOKEN.split(":", 1)[1]
REDIS_PASSWORD = "S3cret-redis-pass"


def _assert_no_secrets(output: str) -> None:
    for secret in (TOKEN, SECRET_HALF, REDIS_PASSWORD):
        assert secret not in output


def test_token_stays_out_of_the_crash_of_a_misconfigured_api_url(
    spawn: Spawner, redis_url: str
) -> None:
    # Without a scheme aiohttp refuses the URL and quotes it whole: token included.
    bot = spawn("bot", bot_token=TOKEN, telegram_api_url=f"127.0.0.1:{free_port()}",
                redis_url=redis_url)  # fmt: skip
    assert bot.proc.wait(60) == 1
    output = bot.output()
    assert "the bot stopped" in output and "NonHttpUrlClientError" in output
    assert "/bot[redacted]/getMe" in output
    _assert_no_secrets(output)


def test_token_stays_out_of_the_logs_of_a_failing_run(spawn: Spawner, botapi: FakeBotAPI) -> None:
    botapi.fail_next("getUpdates", status=500, count=2)
    nowhere = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    bot = spawn.bot(nowhere, botapi)
    botapi.fail_next("sendMessage", status=502)
    botapi.push_message(9001, "/imagine a fox", user_id=9001)
    botapi.wait_for_calls("sendMessage", count=2, timeout=30, chat_id=9001)
    bot.stop()
    output = bot.output()
    # The run did fail in every way it was meant to, with tracebacks...
    # (Nothing is read from the streams before the consumer name is leased, so it is the
    # lease that meets Redis's absence there.)
    for evidence in ("updates not fetched", "Redis unavailable", "Traceback",
                     "consumer lease not taken yet", "apology not sent"):  # fmt: skip
        assert evidence in output, evidence
    # ...and the user still heard back.
    assert botapi.sent(chat_id=9001, method="sendMessage")[-1].result["text"] == (
        texts.UNAVAILABLE
    )
    _assert_no_secrets(output)


def test_a_pickled_job_is_never_unpickled(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    job = queue.enqueue_call(
        JOB_FUNCTION,
        kwargs={"request": {"prompt": "a fox", "seed": 1}},
        on_failure=Callback(FAILURE_CALLBACK),
    )
    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
            return (os.system, (f"touch {marker}",))

    # Someone with write access to Redis swaps the job's payload for a pickle.
    client.hset(job.key, "data", zlib.compress(pickle.dumps(Payload())))
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
    assert not marker.exists()
    assert [r.model_dump(include={"job_id", "status"}) for r in published(client)] == [
        {"job_id": job.id, "status": "error"}
    ]


def _commands(router: Router) -> set[str]:
    found: set[str] = set()
    for handler in router.message.handlers:
        for flt in handler.filters or []:
            if isinstance(flt.callback, Command):
                found |= {c for c in flt.callback.commands if isinstance(c, str)}
    for sub in router.sub_routers:
        found |= _commands(sub)
    return found


PUBLIC_COMMANDS = {"start", "help", "imagine"}


async def test_admin_only_commands_refuse_everyone_else(
    botapi: FakeBotAPI, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every command beyond the public ones is an admin command; no admin is configured here.

    None of them, used by an ordinary user on another user, may stop that user (or anyone)
    from drawing: no ban, no pause takes effect.
    """
    monkeypatch.chdir(tmp_path)
    for key, value in environment(botapi, redis_url).items():
        monkeypatch.setenv(key, value)
    app = BotUnderTest(botapi, redis_url)
    try:
        registered = _commands(app.dispatcher)
        assert registered >= PUBLIC_COMMANDS
        for command in sorted(registered - PUBLIC_COMMANDS):
            for chat, kind in ((9101, "private"), (-100_9100, "supergroup")):
                await app.message(
                    botapi.push_message(chat, f"/{command} 9102", user_id=9101, chat_type=kind)
                )
        await app.message(botapi.push_message(9102, "/imagine a fox, still allowed"))
        await app.message(botapi.push_message(9101, "/imagine a fox, also allowed"))
        assert len(app.jobs_for(9102)) == 1
        assert len(app.jobs_for(9101)) == 1
    finally:
        await app.close()


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def test_compose_keeps_redis_on_the_internal_network() -> None:
    compose = _compose()
    store = compose["services"]["redis"]
    assert "ports" not in store and "expose" not in store
    assert store["networks"] == ["internal"]
    assert compose["networks"]["internal"]["internal"] is True
    for service in ("bot", "worker"):
        assert "internal" in compose["services"][service]["networks"]
        environment = compose["services"][service]["environment"]
        # The password apart from the URL, so that any character in it works.
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["REDIS_PASSWORD"] == "${REDIS_PASSWORD:-}"
    assert "--appendonly yes" in store["command"]


def _run_compose_redis(tmp_path: Path, password: str) -> tuple[subprocess.Popen[bytes], int]:
    """The compose service's own command line, run against a local redis-server."""
    assert shutil.which("redis-server")
    argv = shlex.split(_compose()["services"]["redis"]["command"].replace("$$", "$"))
    port = free_port()
    argv[-1] += f" --port {port} --bind 127.0.0.1 --dir {tmp_path} --save ''"
    # The image's entrypoint steps down to its redis user, then runs the rest: here, just that.
    entrypoint = tmp_path / "bin" / "docker-entrypoint.sh"
    entrypoint.parent.mkdir()
    entrypoint.write_text('#!/bin/sh\nexec "$@"\n')
    entrypoint.chmod(0o755)
    env = {
        "PATH": f"{entrypoint.parent}:{os.environ['PATH']}",
        "REDIS_PASSWORD": password,
        "REDIS_MAXMEMORY": "64mb",
    }
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            break
        except redis.AuthenticationError:
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return proc, port


def _client(port: int, password: str) -> redis.Redis:
    """A client as the bot and worker make one from compose's environment."""
    url = _compose()["services"]["bot"]["environment"]["REDIS_URL"]
    settings = RedisSettings(
        redis_url=url.replace("redis:6379", f"127.0.0.1:{port}"), redis_password=password
    )
    return redis.Redis.from_url(settings.redis_url, **settings.client_options())


# What `openssl rand -base64` gives, and worse: none of it may need escaping.
AWKWARD = "a/b#c?d@e:f%2Fg h+=" + REDIS_PASSWORD


@pytest.mark.parametrize("password", [REDIS_PASSWORD, AWKWARD, ""])
def test_compose_redis_password_comes_from_the_environment(tmp_path: Path, password: str) -> None:
    proc, port = _run_compose_redis(tmp_path, password)
    try:
        assert _client(port, password).ping()
        if password:
            with pytest.raises(redis.AuthenticationError):
                redis.Redis(port=port).ping()
            with pytest.raises(redis.AuthenticationError):
                _client(port, "wrong").ping()
            policy = _client(port, password).config_get("maxmemory*")
            assert (policy["maxmemory"], policy["maxmemory-policy"]) == ("67108864", "noeviction")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("module", ["bot", "worker"])
def test_redis_elsewhere_without_a_password_is_warned_about_at_start(
    spawn: Spawner, botapi: FakeBotAPI, tiny_model: Path, module: str
) -> None:
    elsewhere = "redis://redis-elsewhere.invalid:6379/0"
    if module == "bot":
        process = spawn.bot(elsewhere, botapi)
    else:
        process = spawn.worker(elsewhere, tiny_model)
    process.wait_for_output(
        r"Redis at redis-elsewhere\.invalid lets this process in without a password: "
        r"set REDIS_PASSWORD",
        timeout=60,
    )
    process.stop()
    assert process.output().count("without a password") == 1
    _assert_no_secrets(process.output())
