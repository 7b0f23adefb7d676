"""Worker settings: model, device and queue, built by `load_settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from common.config import ENV, QueueSettings, RedisSettings


class ModelSettings(BaseSettings):
    """Which weights to load and where to run them."""

    model_config = ENV

    # Hub id, or a local directory written by `save_pretrained`.
    model_id: str = "stabilityai/sdxl-turbo"
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    # auto: float16 on CUDA and MPS, float32 on CPU (CPU half precision is slow and lossy).
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    # Weight variant on the hub ("fp16" halves the download); auto picks fp16 for a hub id
    # loaded in float16 and none for a local directory.
    model_variant: str = "auto"
    # Optional replacement VAE, e.g. madebyollin/sdxl-vae-fp16-fix, which decodes in float16
    # without overflowing. Without it a float16 pipeline decodes in float32.
    vae_id: str = ""
    warmup: bool = True
    jpeg_quality: int = Field(default=95, ge=50, le=100)


@dataclass(frozen=True, slots=True)
class Settings:
    model: ModelSettings
    redis: RedisSettings
    queue: QueueSettings


def load_settings() -> Settings:
    """Read every section from the environment and `.env`."""
    return Settings(model=ModelSettings(), redis=RedisSettings(), queue=QueueSettings())
