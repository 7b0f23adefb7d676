"""Settings sections read the documented variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import OFFICIAL_API_URL
from bot.config import load_settings as load_bot_settings
from worker.config import load_settings as load_worker_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Run where no developer's .env can leak in.
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "REDIS_URL", "TELEGRAM_API_URL", "MODEL_ID", "DEVICE"):
        monkeypatch.delenv(name, raising=False)


def test_bot_settings_defaults_and_secret_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:secret-token-of-the-bot-1234")
    settings = load_bot_settings()
    assert settings.telegram.telegram_api_url == OFFICIAL_API_URL
    assert settings.redis.redis_url == "redis://localhost:6379/0"
    assert settings.telegram.bot_token.get_secret_value() == "123:secret-token-of-the-bot-1234"
    assert "secret-token" not in repr(settings)
    assert settings.prompts.prompt_max_length == 500


def test_bot_settings_read_env_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "BOT_TOKEN=1:abcdefghijklmnopqrstuvwxyz\nTELEGRAM_API_URL=http://127.0.0.1:8081\nQUEUE_NAME=q2\n"
    )
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/3")
    settings = load_bot_settings()
    assert settings.telegram.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.redis.redis_url == "redis://redis:6379/3"
    assert settings.queue.queue_name == "q2"


def test_bot_refuses_to_start_without_token() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        load_bot_settings()


def test_worker_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_worker_settings()
    assert settings.model.model_id == "stabilityai/sdxl-turbo"
    assert settings.model.device == "auto"
    monkeypatch.setenv("MODEL_ID", "/models/turbo")
    monkeypatch.setenv("DEVICE", "cpu")
    settings = load_worker_settings()
    assert (settings.model.model_id, settings.model.device) == ("/models/turbo", "cpu")
    monkeypatch.setenv("DEVICE", "tpu")
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        load_worker_settings()


@pytest.mark.parametrize(
    ("raw", "chats"),
    [("0", ()), ("", ()), ("-1001", (-1001,)), ("-1003, -1001;-1002", (-1003, -1001, -1002))],
)
def test_storage_chats_are_one_or_several_ids_in_order(
    monkeypatch: pytest.MonkeyPatch, raw: str, chats: tuple[int, ...]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "1:abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("STORAGE_CHAT_ID", raw)
    assert load_bot_settings().play.storage_chat_id == chats
