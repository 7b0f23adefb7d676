"""Worker settings: model, device and queue, built by `load_settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from common.config import (
    ENV,
    WORKER_METRICS_PORT,
    MetricsSettings,
    QueueSettings,
    RedisSettings,
)


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
    # Optional replacement VAE, e.g. madebyollin/sdxl-vae-fp16-fix, which runs in float16
    # without overflowing.
    vae_id: str = ""
    # auto: the model's dtype, except for a VAE that overflows in float16 (the published SDXL
    # one): bfloat16 on CUDA (float32's range at half the bytes), float32 elsewhere.
    vae_dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    warmup: bool = True
    jpeg_quality: int = Field(default=95, ge=50, le=100)


# Modes with CUDA graphs of their own (reduce-overhead, max-autotune) are left out: the
# engine captures its graphs around the compiled kernels.
CompileMode = Literal["off", "default", "max-autotune-no-cudagraphs"]


class SpeedSettings(BaseSettings):
    """The fast path: each switch is safe to leave at its default."""

    model_config = ENV

    # Jobs waiting together run as one call; 1 turns batching off. `auto`: from the GPU's free
    # memory after loading (`worker.devices.resolve_max_batch`), 4 elsewhere.
    max_batch: Annotated[int, Field(ge=1, le=32)] | Literal["auto"] = "auto"
    # Capture each batch size's UNet-to-pixels work in a CUDA graph at warm-up (CUDA only).
    cuda_graphs: bool = True
    # NHWC tensors let cuDNN pick its fastest convolutions (CUDA only), but PyTorch's CUDA
    # GroupNorm works in NCHW and copies each of the decoder's 30 GroupNorm inputs out and
    # back; an eager run on an H200 was 9 % faster at batch 4-8 with this and fused QKV off,
    # so both stay off until bench/gpu_check.py's A/B says otherwise.
    channels_last: bool = False
    # One matmul instead of three for q, k and v in every attention block.
    fuse_qkv: bool = False
    # torch.compile the UNet and the VAE. Off by default: the CUDA graphs remove the launch
    # overhead without it, while compiling takes minutes at start (once per batch size) and
    # depends on the exact torch/Triton build.
    compile: CompileMode = "off"
    # Swap the VAE decoder for the tiny TAESD-XL decoder: several times faster, slightly softer.
    tiny_vae: bool = False
    tiny_vae_id: str = "madebyollin/taesdxl"
    # Prompts whose text embeddings are kept on the device (0 turns the cache off).
    text_cache_size: int = Field(default=256, ge=0)
    # Encode JPEGs on the GPU with nvJPEG when torchvision is installed; Pillow otherwise.
    gpu_jpeg: bool = True


class SafetySettings(BaseSettings):
    """The image classifier every picture passes before it leaves the worker."""

    model_config = ENV

    # Hub id, or a local directory written by `save_pretrained`; empty turns the check off
    # (no picture is ever flagged, whatever a chat's policy says).
    safety_model_id: str = "Falconsai/nsfw_image_detection"
    # Comma-separated labels of the model that count as unsafe.
    safety_labels: str = "nsfw"
    # A picture is flagged when the probability of an unsafe label reaches this.
    safety_threshold: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def labels(self) -> list[str]:
        return [label.strip() for label in self.safety_labels.split(",") if label.strip()]


class TranslateSettings(BaseSettings):
    """Prompts with Cyrillic text translated to English before the text encoders."""

    model_config = ENV

    # MarianMT (opus-mt-ru-en, CC-BY-4.0) as a hub id or a `save_pretrained` directory; empty
    # turns translation off (prompts reach the text encoders as typed).
    translate_model_id: str = "Helsinki-NLP/opus-mt-ru-en"


class SupervisorSettings(BaseSettings):
    """One worker process per GPU (`worker/supervisor.py`); empty: one worker, this process."""

    model_config = ENV

    # `all` (every visible CUDA device) or device indexes, "0,1,3".
    worker_gpus: str = ""
    # N worker processes without devices of their own (CPU hosts, tests); 0: none.
    worker_processes: int = Field(default=0, ge=0, le=64)


class WorkerMetricsSettings(MetricsSettings):
    metrics_port: int = Field(default=WORKER_METRICS_PORT, ge=0, le=65_535)


@dataclass(frozen=True, slots=True)
class Settings:
    model: ModelSettings
    speed: SpeedSettings
    safety: SafetySettings
    translate: TranslateSettings
    redis: RedisSettings
    queue: QueueSettings
    metrics: WorkerMetricsSettings
    supervisor: SupervisorSettings


def load_settings() -> Settings:
    """Read every section from the environment and `.env`."""
    return Settings(
        model=ModelSettings(),
        speed=SpeedSettings(),
        safety=SafetySettings(),
        translate=TranslateSettings(),
        redis=RedisSettings(),
        queue=QueueSettings(),
        metrics=WorkerMetricsSettings(),
        supervisor=SupervisorSettings(),
    )
