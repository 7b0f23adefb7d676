"""Where the models run and in which precision, from the settings' `auto` values."""

from __future__ import annotations

import torch

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_device(name: str) -> torch.device:
    """`auto` prefers CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DEVICE=cuda but no CUDA device is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("DEVICE=mps but MPS is not available")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: float16 on CUDA and MPS, float32 on CPU (CPU half precision is slow and lossy)."""
    if name != "auto":
        return DTYPES[name]
    return torch.float32 if device.type == "cpu" else torch.float16


def resolve_vae_dtype(
    name: str, dtype: torch.dtype, overflows: bool, device: torch.device
) -> torch.dtype:
    """The VAE's precision. `auto` keeps the model's, except where the VAE overflows in float16
    (the published SDXL VAE does: its config says `force_upcast`): bfloat16 on CUDA, which has
    float32's range at half the bytes, and float32 elsewhere."""
    if name != "auto":
        return DTYPES[name]
    if dtype != torch.float16 or not overflows:
        return dtype
    return torch.bfloat16 if device.type == "cuda" else torch.float32


# GPU memory one more image in a batch takes beyond the loaded weights, with the published
# decoder (float16 UNet, bfloat16 VAE: its full-size activations dominate) and with the tiny
# one. Estimates on the safe side, not yet measured: bench/gpu_check.py reports each bucket's
# peak, and a number in MAX_BATCH overrides.
FULL_VAE_BYTES_PER_IMAGE = 2**30
TINY_VAE_BYTES_PER_IMAGE = int(0.35 * 2**30)
# Left free for the safety classifier, the JPEG encoder and the allocator's fragmentation.
HEADROOM_BYTES = int(1.5 * 2**30)
# Where batching stops paying off (measured: full-VAE throughput saturates at 8-16 images,
# tiny-decoder at 32); at 32 a full-VAE upsampler output also reaches 2**31 elements.
FULL_VAE_MAX_BATCH = 16
TINY_VAE_MAX_BATCH = 32
NOT_CUDA_MAX_BATCH = 4


def resolve_max_batch(
    setting: int | str, device: torch.device, tiny_vae: bool, free_bytes: int | None = None
) -> tuple[int, str]:
    """MAX_BATCH as a number, and where it came from (for the log). `auto` on CUDA fills the
    free memory after loading (`free_bytes`, read from the device when None), capped where
    batching stops paying; a number is kept, but never past the full VAE's cap."""
    cap = TINY_VAE_MAX_BATCH if tiny_vae else FULL_VAE_MAX_BATCH
    decoder = "the tiny decoder" if tiny_vae else "the full VAE"
    if setting != "auto":
        value = int(setting)
        if value > cap:
            return cap, f"MAX_BATCH={value} capped at {cap} with {decoder}"
        return value, f"MAX_BATCH={value}"
    if device.type != "cuda":
        return NOT_CUDA_MAX_BATCH, f"MAX_BATCH=auto: {NOT_CUDA_MAX_BATCH} on {device.type}"
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    per_image = TINY_VAE_BYTES_PER_IMAGE if tiny_vae else FULL_VAE_BYTES_PER_IMAGE
    fits = (free_bytes - HEADROOM_BYTES) // per_image
    value = max(1, min(cap, int(fits)))
    return value, (
        f"MAX_BATCH=auto: {value} from {free_bytes / 2**30:.1f} GiB free after loading, "
        f"{per_image / 2**30:.2f} GiB per image with {decoder} (at most {cap})"
    )
