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
