"""The real system under a benchmark: a private Redis, the test Bot API server, and
`python -m worker` and `python -m bot` as processes, each bench adding its own settings."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from testing.botapi import FakeBotAPI
from testing.support import TOKEN, Process, RedisServer

if TYPE_CHECKING:
    from pathlib import Path

    from testing.botapi import Call


def scrape(port: int, *prefixes: str) -> dict[str, float]:
    """The samples whose names start with one of `prefixes` on a process's metrics endpoint,
    by their exposition name, labels included (`name{label="v"}`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(prefixes):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


class BenchStack:
    """Started in order (Redis, Bot API, a warm worker, a polling bot); `close` stops all.

    The worker runs on the CPU with no safety check and no translator unless `worker_env`
    says otherwise; both processes share `shared_env`.
    """

    def __init__(
        self,
        workdir: Path,
        model: Path,
        *,
        worker_env: dict[str, str] | None = None,
        bot_env: dict[str, str] | None = None,
        shared_env: dict[str, str] | None = None,
        username: str = "ImagineBenchBot",
    ) -> None:
        self.redis = RedisServer(workdir).start()
        self.botapi = FakeBotAPI(token=TOKEN, username=username).start()
        common = {"REDIS_URL": self.redis.url, **(shared_env or {})}
        worker = {"MODEL_ID": str(model), "SAFETY_MODEL_ID": "", "TRANSLATE_MODEL_ID": ""}
        worker["DEVICE"] = "cpu"
        self.worker = Process("worker", {**common, **worker, **(worker_env or {})}, workdir)
        self.worker.wait_for_output(r"ready: listening", timeout=300)
        bot = {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.botapi.base_url,
            "POLLING_TIMEOUT_S": "1",
            # Below redis-py's default 5 s socket timeout: a read blocking 5 s (the default)
            # can time out while idle, and the timeout ends the delivery task.
            "READ_BLOCK_MS": "1000",
        }
        self.bot = Process("bot", {**common, **bot, **(bot_env or {})}, workdir)
        self.botapi.wait_for("getUpdates", timeout=60)

    def close(self) -> None:
        self.bot.stop()
        self.worker.stop()
        self.botapi.stop()
        self.redis.stop()

    def wait_photo(self, chat_id: int, message_id: int, timeout: float = 600) -> Call:
        """The photo Telegram took in `chat_id` as a reply to `message_id`."""
        return self.botapi.wait_for(
            lambda c: (
                c.method == "sendPhoto"
                and c.ok
                and c.result["chat"]["id"] == chat_id
                and c.result.get("reply_to_message", {}).get("message_id") == message_id
            ),
            timeout=timeout,
        )
