"""Bot settings: one pydantic-settings section per concern, built by `load_settings`.

Longer than the other modules on purpose: thirteen small sections, each read in a glance, kept
in one file so that every setting the bot reads is found (and checked against README and
`.env.example`) in one place.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode

from common.config import BOT_METRICS_PORT, ENV, MetricsSettings, QueueSettings, RedisSettings
from common.protocol import MAX_UPSCALE_STRENGTH, MIN_UPSCALE_STRENGTH

OFFICIAL_API_URL = "https://api.telegram.org"


# A bot token as @BotFather gives it: the bot's id, a colon, the secret (35 characters).
_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


class TelegramSettings(BaseSettings):
    """How the bot reaches the Bot API."""

    model_config = ENV

    bot_token: SecretStr
    # Base URL of the Bot API server; a self-hosted `telegram-bot-api` works the same way.
    telegram_api_url: str = OFFICIAL_API_URL
    polling_timeout_s: int = Field(default=30, ge=0, le=60)
    request_timeout_s: float = Field(default=60.0, gt=0)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # "123456:ABC...", as @BotFather gives it; checked here so that an empty or mangled
        # token is one line naming BOT_TOKEN, not aiogram's traceback. The value never shows.
        if _BOT_TOKEN.fullmatch(value.get_secret_value()) is None:
            raise ValueError("not a bot token from @BotFather")
        return value


# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookSettings(BaseSettings):
    """Webhook mode: Telegram POSTs updates to WEBHOOK_URL instead of the bot polling."""

    model_config = ENV

    # The public HTTPS URL Telegram calls (a reverse proxy ending TLS in front of the bot);
    # its path is the path the bot serves. Empty: long polling.
    webhook_url: str = ""
    # Sent by Telegram with every update; requests without it are refused. Required with a URL.
    webhook_secret: SecretStr = SecretStr("")
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65_535)

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, url: str) -> str:
        if url and not url.startswith("https://"):
            raise ValueError("Telegram calls webhooks over HTTPS only")
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, secret: SecretStr, info: ValidationInfo) -> SecretStr:
        value = secret.get_secret_value()
        if info.data.get("webhook_url") and not value:
            raise ValueError("required with WEBHOOK_URL")
        if value and not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and -")
        return secret

    @property
    def path(self) -> str:
        return urlsplit(self.webhook_url).path or "/"


class PromptSettings(BaseSettings):
    """What the bot accepts as a prompt and how it signs captions."""

    model_config = ENV

    prompt_max_length: int = Field(default=500, ge=1, le=2_000)
    caption_footer: str = "SDXL Turbo · non-commercial use"
    # Whether the worker translates Cyrillic prompts to English in chats that did not choose
    # (a chat's `/settings` switch wins); the worker needs TRANSLATE_MODEL_ID for either.
    translate_default: Literal["on", "off"] = "on"
    # A YAML (or JSON) file of style presets extending or replacing the built-in ones.
    styles_file: str = ""


class DeliverySettings(BaseSettings):
    """How finished images are read from the results stream."""

    model_config = ENV

    # This process's name in the consumer groups; stable across restarts, so a restarted bot
    # picks up the entries it had read but not yet acknowledged. The host name by default:
    # one per container, so compose replicas differ; set it when several bots share a host.
    consumer_name: str = Field(default_factory=socket.gethostname, min_length=1)
    # The name is leased for this long and renewed; a second process with the same name
    # waits this long for a killed one's lease to run out, then refuses to start.
    consumer_lease_s: float = Field(default=15.0, ge=1)
    # How long one XREADGROUP call blocks; results arrive the moment they are written.
    # Kept below the Redis client's 5 s socket timeout.
    read_block_ms: int = Field(default=2_000, ge=10, le=4_000)
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


class PacingSettings(BaseSettings):
    """How fast the bot sends: one budget in Redis, shared by every bot process.

    Telegram allows a bot about 30 messages a second in all, about one a second in one chat
    (short bursts pass) and 20 a minute in one group; sending within that never earns the
    ever longer waits that repeated 429s bring.
    """

    model_config = ENV

    # A local Bot API server (`TELEGRAM_API_URL`) has higher limits; these can follow them.
    pace_total_per_s: int = Field(default=30, ge=1)
    pace_chat_per_s: float = Field(default=1.0, gt=0)
    # Messages one chat may get at once before the per-second pace applies.
    pace_chat_burst: int = Field(default=3, ge=1)
    pace_group_per_min: int = Field(default=20, ge=1)
    # A reply (to a command, a refusal, a notice) waits at most this long for its turn; a
    # chat that busy does not get it, and the bot's intake is not held up meanwhile.
    pace_answer_wait_s: float = Field(default=10.0, gt=0)


IdList = Annotated[frozenset[int], NoDecode]


def _ids(value: Any) -> Any:
    # "1, 2,3" in the environment reads better than a JSON list.
    if isinstance(value, str):
        return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
    return value


ChatList = Annotated[tuple[int, ...], NoDecode]


def _chat_list(value: Any) -> Any:
    # Like `_ids`, in the order given; 0 stands for none, as it always did.
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        return tuple(chat for chat in (int(part) for part in parts if part.strip()) if chat)
    return value


class LimitSettings(BaseSettings):
    """Fair use: how much one user, one group and everyone together may ask for."""

    model_config = ENV

    # `limits` notation; a moving window lets a user spend the whole allowance in a burst.
    user_rate: str = "10/minute"
    user_inflight: int = Field(default=2, ge=1)
    # Telegram allows a bot about 20 messages a minute in one group; photos, status
    # messages and refusals all count, so images stay well below that.
    group_rate: str = "12/minute"
    queue_max_depth: int = Field(default=200, ge=1)
    # Results made but not yet at Telegram (a slow or absent Telegram): past this many, new
    # requests hear "very busy", so the results stream (RESULTS_MAXLEN) never trims one unsent.
    results_backlog_max: int = Field(default=2_000, ge=1)
    # A user who keeps hammering hears "slow down" at most this often.
    refusal_interval_s: int = Field(default=5, ge=1)
    # Pictures a user (in all chats) and a group (all its members) may ask for in a rolling
    # 24 h; 0: no cap. A group's admins may set a lower cap of their own in /settings.
    user_daily: int = Field(default=0, ge=0)
    group_daily: int = Field(default=0, ge=0)
    admin_ids: IdList = frozenset()

    _split_admins = field_validator("admin_ids", mode="before")(_ids)


class AccessSettings(BaseSettings):
    """Who may use the bot at all, and which prompts it refuses."""

    model_config = ENV

    # Empty means everyone; when either is set, only the listed chats/users are served.
    allowed_chat_ids: IdList = frozenset()
    allowed_user_ids: IdList = frozenset()
    # One word or phrase per line (case-insensitive, whole words), or `re:<pattern>`.
    blocklist_file: str = ""

    _split = field_validator("allowed_chat_ids", "allowed_user_ids", mode="before")(_ids)


class FeedbackSettings(BaseSettings):
    """Queue-position messages, languages, and what a group sees (`bot/outbound/aside.py`)."""

    model_config = ENV

    # Minimum seconds between edits of one "in queue: #N" message.
    status_edit_interval_s: float = Field(default=3.0, ge=1.0)
    status_edit_interval_group_s: float = Field(default=10.0, ge=1.0)
    default_locale: str = "en"
    # In groups, answers for one member as ephemeral messages only that member sees.
    ephemeral: Literal["auto", "on", "off"] = "auto"
    # How long a chat whose server refused them gets ordinary messages before the next try.
    ephemeral_retry_s: int = Field(default=3_600, ge=60)
    # 👀 on a group's prompt while it is queued, ⚡ once its picture is sent.
    reactions: bool = True


class PlaySettings(BaseSettings):
    """Buttons under photos, image-to-image and inline mode."""

    model_config = ENV

    # How long the buttons under a photo (and an image-to-image input) keep working.
    image_ttl_s: int = Field(default=7 * 86_400, ge=60)
    # Largest image accepted for image-to-image; Bot API downloads stop at 20 MB anyway.
    max_input_bytes: int = Field(default=10_000_000, ge=10_000, le=20_000_000)
    # Largest picture accepted for image-to-image, in pixels (50 MP: any phone camera); a
    # larger one is refused before it is decoded. A small file can decode to gigabytes.
    max_input_pixels: int = Field(default=50_000_000, ge=1_000_000, le=200_000_000)
    # Inline mode uploads its pictures to one of these chats (private channels or groups the
    # bot can post in) to get file ids for the answer: "id" or "id1,id2,...", each taking
    # `PACE_GROUP_PER_MIN` pictures a minute; empty (or 0) turns inline mode off.
    storage_chat_id: ChatList = ()
    # A user's inline query is drawn only after they stop typing for this long.
    inline_debounce_s: float = Field(default=0.6, ge=0.0, le=5.0)
    # 🔍: how much the image-to-image step at 1024×1024 may change the enlarged picture (low:
    # sharper but the same picture; high: more new detail, less of the original). Kept with
    # each 2× photo, so its 📄 file stays the same pixels after a change.
    upscale_strength: float = Field(default=0.3, ge=MIN_UPSCALE_STRENGTH, le=MAX_UPSCALE_STRENGTH)

    _split_storage = field_validator("storage_chat_id", mode="before")(_chat_list)


Policy = Literal["off", "blur", "block"]


class SafetySettings(BaseSettings):
    """What each chat does with a picture the worker's classifier flagged, unless its admins
    chose otherwise: `block` withholds it, `blur` sends it under a spoiler, `off` as is."""

    model_config = ENV

    safety_group_default: Policy = "block"
    safety_private_default: Policy = "blur"
    # false: no chat may choose `off`, and chats that had chosen it get their default again.
    safety_allow_off: bool = True


class EditSettings(BaseSettings):
    """Editing a prompt redraws its picture in place."""

    model_config = ENV

    # Quick edits in a row: only the newest is drawn, once the user pauses this long.
    edit_debounce_s: float = Field(default=1.0, ge=0.0, le=10.0)
    # Edits of a prompt older than this are ignored, and what the bot keeps to redraw a
    # picture expires after it; Telegram lets a bot edit its messages for 48 hours.
    edit_window_s: int = Field(default=48 * 3600, ge=60)


class BotMetricsSettings(MetricsSettings):
    metrics_port: int = Field(default=BOT_METRICS_PORT, ge=0, le=65_535)


@dataclass(frozen=True, slots=True)
class Settings:
    telegram: TelegramSettings
    webhook: WebhookSettings
    redis: RedisSettings
    queue: QueueSettings
    prompts: PromptSettings
    delivery: DeliverySettings
    limits: LimitSettings
    access: AccessSettings
    feedback: FeedbackSettings
    play: PlaySettings
    safety: SafetySettings
    pacing: PacingSettings
    edits: EditSettings
    metrics: BotMetricsSettings


def load_settings() -> Settings:
    """Read every section from the environment and `.env`."""
    return Settings(
        telegram=TelegramSettings(),  # bot_token comes from the environment
        webhook=WebhookSettings(),
        redis=RedisSettings(),
        queue=QueueSettings(),
        prompts=PromptSettings(),
        delivery=DeliverySettings(),
        limits=LimitSettings(),
        access=AccessSettings(),
        feedback=FeedbackSettings(),
        play=PlaySettings(),
        safety=SafetySettings(),
        pacing=PacingSettings(),
        edits=EditSettings(),
        metrics=BotMetricsSettings(),
    )
