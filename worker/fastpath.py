"""Speed switches applied once to loaded models (layout, fused attention, tiny decoder,
compile), and the last stage of every image: uint8 on the device, then JPEG or PNG."""

from __future__ import annotations

import importlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
from diffusers import AutoencoderKL, AutoencoderTiny
from diffusers.models.attention_processor import FusedAttnProcessor2_0
from PIL import Image

from worker.faults import is_device_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from worker.config import CompileMode, SpeedSettings

log = logging.getLogger(__name__)

# AutoencoderKL or AutoencoderTiny; diffusers is untyped for mypy here.
Decoder: TypeAlias = Any


def fuse_qkv(module: Any) -> None:
    """One projection matmul for q, k and v (k and v in cross-attention) in every block."""
    module.fuse_qkv_projections()
    # FusedAttnProcessor2_0 runs the fused projections through PyTorch's SDPA kernels.
    module.set_attn_processor(FusedAttnProcessor2_0())


def tune(pipe: Any, decoder: Decoder, speed: SpeedSettings, device: torch.device) -> None:
    """Apply the layout and attention switches in place, before any compile."""
    if speed.fuse_qkv:
        fuse_qkv(pipe.unet)
        if isinstance(decoder, AutoencoderKL):
            fuse_qkv(decoder)
    # NHWC lets cuDNN use its tensor-core convolutions without transposes; on the CPU the
    # oneDNN kernels are at least as fast in NCHW, so the switch only acts on CUDA.
    if speed.channels_last and device.type == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)
        decoder.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        # Shapes never change between calls, so autotuning each convolution once pays off.
        torch.backends.cudnn.benchmark = True


def load_tiny_decoder(model_id: str, dtype: torch.dtype, device: torch.device) -> AutoencoderTiny:
    """TAESD-XL: a distilled decoder for SDXL latents, safe in float16."""
    tiny: AutoencoderTiny = AutoencoderTiny.from_pretrained(model_id, dtype=dtype)
    return tiny.to(device).eval()


def compiled(module: torch.nn.Module, mode: CompileMode) -> Any:
    """`torch.compile` with static shapes: each batch size gets its own specialised kernels.

    Only modes without CUDA graphs: the engine captures its own graphs around these.
    """
    compile_mode = None if mode == "default" else mode
    return torch.compile(module, mode=compile_mode, dynamic=False)


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Decoder output in [-1, 1] to uint8 NCHW, on the device: 4x fewer bytes to copy back."""
    return ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)


def to_png(pixels: torch.Tensor) -> list[bytes]:
    """uint8 NCHW images to lossless PNG bytes, in order."""
    out: list[bytes] = []
    for row in pixels.permute(0, 2, 3, 1).cpu().numpy():
        buffer = io.BytesIO()
        Image.fromarray(row).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


class JpegEncoder:
    """Pillow in a few threads (it releases the GIL while encoding), or nvJPEG on the GPU.

    nvJPEG needs torchvision built for the CUDA of torch; one that cannot encode on this
    device (a CPU-only build, a mismatched one) is found by `probe` at warm-up, or by the
    first encode that fails, and Pillow takes over for good.
    """

    def __init__(
        self,
        quality: int,
        gpu: bool,
        device: torch.device,
        gpu_encode: Callable[..., Any] | None = None,
    ) -> None:
        self.quality = quality
        self._device = device
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jpeg")
        self._gpu_encode: Callable[..., Any] | None = gpu_encode if gpu else None
        if gpu and gpu_encode is None and device.type == "cuda":
            try:
                io_module = importlib.import_module("torchvision.io")
                self._gpu_encode = io_module.encode_jpeg
            except ImportError:
                log.info("torchvision is not installed: JPEGs are encoded with Pillow")

    @property
    def on_gpu(self) -> bool:
        return self._gpu_encode is not None

    def probe(self) -> None:
        """Encode one small picture on the device now, so a GPU encoder that cannot work is
        replaced by Pillow before the first user's picture."""
        if self._gpu_encode is not None:
            self.encode(torch.zeros((1, 3, 16, 16), dtype=torch.uint8, device=self._device))

    def encode(self, pixels: torch.Tensor) -> list[bytes]:
        """uint8 NCHW images (on any device) to JPEG bytes, in order."""
        if self._gpu_encode is not None:
            try:
                encoded = self._gpu_encode(list(pixels), quality=self.quality)
                return [bytes(data.cpu().numpy().tobytes()) for data in encoded]
            except (RuntimeError, NotImplementedError) as exc:
                if is_device_failure(exc):
                    raise
                log.warning("GPU JPEG encoding failed (%s): JPEGs are encoded with Pillow", exc)
                self._gpu_encode = None
        rows = pixels.permute(0, 2, 3, 1).cpu().numpy()
        if len(rows) == 1:
            return [self._pillow(rows[0])]
        return list(self._pool.map(self._pillow, rows))

    def _pillow(self, row: Any) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(row).save(buffer, format="JPEG", quality=self.quality)
        return buffer.getvalue()
