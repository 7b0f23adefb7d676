"""Settings sections used by both processes.

Each section reads its own variables from the environment and `.env`; a process builds the
sections it needs in its factory (`bot.config.load_settings`, `worker.config.load_settings`).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV: SettingsConfigDict = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
)


# The longest wait between tries while Redis is away, in the bot and the worker alike: a PING
# is nothing to Redis, and the first user after it is back waits no longer than this.
REDIS_RETRY_MAX_S: Final = 5.0


class RedisSettings(BaseSettings):
    """Where the queue and the results stream live."""

    model_config = ENV

    redis_url: str = "redis://localhost:6379/0"
    # Given on its own, not inside the URL: any characters work as they are (a password in
    # the URL must be URL-encoded, and `/`, `#` or `?` there break it). Wins over one in
    # the URL.
    redis_password: SecretStr = SecretStr("")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `Redis.from_url(redis_url, ...)`."""
        password = self.redis_password.get_secret_value()
        return {"password": password} if password else {}


class QueueSettings(BaseSettings):
    """Names and lifetimes of queue objects; bot and worker must agree on them."""

    model_config = ENV

    queue_name: str = "imagine"
    # Key prefix for everything the project stores besides RQ's own keys.
    key_prefix: str = "imagine"
    # One SDXL Turbo step takes well under a second on a GPU; a job still running after this
    # is stuck, and the user gets an error instead of waiting forever.
    job_timeout_s: int = Field(default=60, ge=1)
    # RQ keeps the (tiny) return value this long; the image itself travels on the results stream.
    result_ttl_s: int = Field(default=300, ge=0)
    failure_ttl_s: int = Field(default=86_400, ge=60)
    # Upper bound on results waiting for the bot (each holds one JPEG of ~50-100 KB).
    results_maxlen: int = Field(default=5_000, ge=100)
    # A job that failed or whose worker died (killed, machine lost) runs again this many
    # times, then the user gets an error. Timeouts and invalid requests are never retried.
    job_retries: int = Field(default=1, ge=0, le=5)
    # A busy worker refreshes its claim on the running job; a claim older than this means the
    # worker is gone and the job is abandoned. Detection takes this plus one sweep interval.
    abandon_after_s: int = Field(default=30, ge=2)
    # A worker beats (in Redis, on Redis's clock) every quarter of this; with no beat from
    # any worker for this long, the bot answers new prompts "no GPU worker" at once.
    worker_gone_s: int = Field(default=60, ge=2)
    # A job still waiting in the queue this long (no worker took it) is answered "no GPU
    # worker" and taken off the queue: it is never drawn afterwards.
    queue_wait_s: int = Field(default=180, ge=1)


# Default ports of `/metrics` and `/healthz`, apart so a bot and a worker can share a host.
BOT_METRICS_PORT: Final = 9810
WORKER_METRICS_PORT: Final = 9811


class MetricsSettings(BaseSettings):
    """Where a process serves `/metrics` (Prometheus) and `/healthz`; each sets its own port."""

    model_config = ENV

    # Loopback by default: a bare host does not publish its metrics; compose sets 0.0.0.0 so
    # Prometheus in another container can scrape.
    metrics_host: str = "127.0.0.1"
    # 0 turns the endpoint off. The bot and the worker default to different ports (see their
    # settings) so both can run on one host.
    metrics_port: int = Field(default=0, ge=0, le=65_535)
