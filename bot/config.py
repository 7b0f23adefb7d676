"""Bot settings: one pydantic-settings section per concern, built by `load_settings`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from common.config import ENV, QueueSettings, RedisSettings

OFFICIAL_API_URL = "https://api.telegram.org"


class TelegramSettings(BaseSettings):
    """How the bot reaches the Bot API."""

    model_config = ENV

    bot_token: SecretStr
    # Base URL of the Bot API server; a self-hosted `telegram-bot-api` works the same way.
    telegram_api_url: str = OFFICIAL_API_URL
    polling_timeout_s: int = Field(default=30, ge=0, le=60)
    request_timeout_s: float = Field(default=60.0, gt=0)


class PromptSettings(BaseSettings):
    """What the bot accepts as a prompt and how it signs captions."""

    model_config = ENV

    prompt_max_length: int = Field(default=500, ge=1, le=2_000)
    caption_footer: str = "SDXL Turbo · non-commercial use"


class DeliverySettings(BaseSettings):
    """How finished images are read from the results stream."""

    model_config = ENV

    # Consumer name inside the `bot` group; keep it stable so a restarted bot picks up the
    # entries it had read but not yet acknowledged.
    consumer_name: str = "bot-1"
    # How long one XREADGROUP call blocks; results arrive the moment they are written.
    read_block_ms: int = Field(default=5_000, ge=10)
    read_count: int = Field(default=32, ge=1)
    # How long the bot keeps the "who asked" record of a job; a result that could not be
    # sent by then is dropped (logged).
    context_ttl_s: int = Field(default=86_400, ge=60)
    # Tries per round at sending one result through 5xx, timeouts and 429s; after that the
    # result stays pending and a later round (see claim_idle_s) tries again.
    send_attempts: int = Field(default=5, ge=1, le=20)
    # A result pending this long on any bot consumer (one that is gone, or this bot after
    # a failed round) is taken over and sent again.
    claim_idle_s: float = Field(default=60.0, gt=0)
    # How often the bot looks for such results and for jobs whose worker died.
    sweep_interval_s: float = Field(default=5.0, gt=0)


@dataclass(frozen=True, slots=True)
class Settings:
    telegram: TelegramSettings
    redis: RedisSettings
    queue: QueueSettings
    prompts: PromptSettings
    delivery: DeliverySettings


def load_settings() -> Settings:
    """Read every section from the environment and `.env`."""
    return Settings(
        telegram=TelegramSettings(),  # bot_token comes from the environment
        redis=RedisSettings(),
        queue=QueueSettings(),
        prompts=PromptSettings(),
        delivery=DeliverySettings(),
    )
