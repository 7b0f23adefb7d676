"""SDXL Turbo-shaped pipelines with random weights, for tests and benchmarks without downloads.

`save_pipeline` writes a directory that `AutoPipelineForText2Image.from_pretrained` loads like
stabilityai/sdxl-turbo. `tiny` is a fast stand-in for tests; `full` has the published
architecture (same shapes, hence the same FLOPs) so GPU timings on it are representative.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Literal

import torch
from accelerate import init_empty_weights
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

from testing.synthetic_configs import PRESETS, SCHEDULER, Config

Preset = Literal["tiny", "full"]

_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"
_MAX_LENGTH = 77


def _configs(preset: str) -> dict[str, Config]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[preset]


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table, in the order CLIP's vocab.json lists it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def _vocab(size: int) -> dict[str, int]:
    """Byte-level BPE vocab: bytes, bytes + </w>, filler up to `size`, then the two specials."""
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols]
    # Filler tokens can never be produced (there are no merges); they only make the embedding
    # tables as large as the real ones, and keep the specials at CLIP's ids 49406/49407.
    tokens += [f"<|unused{i}|>" for i in range(size - len(tokens) - 2)]
    tokens += [_BOS, _EOS]
    if len(tokens) != size:
        raise ValueError(f"vocab size {size} is below the {len(tokens)} tokens a CLIP vocab needs")
    return {token: i for i, token in enumerate(tokens)}


def _tokenizers(vocab_size: int) -> tuple[CLIPTokenizer, CLIPTokenizer]:
    """Tokenizers built from generated vocab.json/merges.txt; SDXL's second one pads with "!"."""
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab_file.write_text(json.dumps(_vocab(vocab_size)), encoding="utf-8")
        # No merges: every byte is a token, so a prompt uses about one token per character.
        merges_file.write_text("#version: 0.2\n", encoding="utf-8")

        def tokenizer(pad_token: str) -> CLIPTokenizer:
            # Files are read here, so the temporary directory may go once both exist.
            return CLIPTokenizer(
                vocab=str(vocab_file),
                merges=str(merges_file),
                pad_token=pad_token,
                model_max_length=_MAX_LENGTH,
            )

        return tokenizer(_EOS), tokenizer("!")


@torch.no_grad()
def _materialize(
    model: torch.nn.Module,
    device: str | torch.device,
    dtype: torch.dtype,
    generator: torch.Generator,
) -> None:
    """Allocate a model built under `init_empty_weights` and fill it with random weights.

    Each tensor is allocated once, in its final dtype and on its final device, and filled once:
    no float32 copy on the CPU first (the layers' own init would make one), so building `full`
    in float16 peaks at its 7 GB and takes about a second on a GPU.
    """
    # init_empty_weights(include_buffers=False) left buffers (CLIP's position_ids) real;
    # to_empty would replace them with garbage, so keep copies.
    buffers = {name: buf.clone() for name, buf in model.named_buffers()}
    # Free on meta; integer buffers keep their dtype. Module.to, not ModelMixin.to: diffusers
    # 0.42 warns about float32-only modules on every dtype cast, even when there are none.
    torch.nn.Module.to(model, dtype=dtype)
    model.to_empty(device=device)
    for name, buf in model.named_buffers():
        buf.copy_(buffers[name])
    for name, param in model.named_parameters():
        if param.ndim >= 2:
            # LeCun-uniform (variance 1/fan_in) keeps activations O(1) through deep stacks, so
            # float16 runs neither overflow nor underflow into NaN or flat images.
            bound = math.sqrt(3.0 / param[0].numel())
            param.uniform_(-bound, bound, generator=generator)
        elif name.endswith("bias"):
            param.zero_()
        else:
            param.fill_(1.0)  # norm scales
    model.eval()


def build_pipeline(
    preset: Preset = "tiny",
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> StableDiffusionXLPipeline:
    """Random-weight SDXL Turbo pipeline; the same seed, dtype and device give the same weights."""
    configs = _configs(preset)
    # include_buffers=False whatever ACCELERATE_INIT_INCLUDE_BUFFERS says: see _materialize.
    with init_empty_weights(include_buffers=False):
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_encoder_2"]))
        unet = UNet2DConditionModel(**configs["unet"])
        vae = AutoencoderKL(**configs["vae"])
    generator = torch.Generator(device=device).manual_seed(seed)
    for model in (text_encoder, text_encoder_2, unet, vae):
        _materialize(model, device, dtype, generator)
    tokenizer, tokenizer_2 = _tokenizers(configs["text_encoder"]["vocab_size"])
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(**SCHEDULER),
    )


def build_tiny_decoder(
    preset: Preset = "tiny",
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> AutoencoderTiny:
    """Random-weight AutoencoderTiny: `full` has madebyollin/taesdxl's shapes (its defaults)."""
    channels = (64,) * 4 if preset == "full" else (8,) * 4
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderTiny(
            encoder_block_out_channels=channels, decoder_block_out_channels=channels
        )
    # Module.to: diffusers' own `to` warns on every dtype cast (see _materialize).
    torch.nn.Module.to(vae, device=device, dtype=dtype)
    return vae.eval()


def _write(pipe: StableDiffusionXLPipeline, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def save_pipeline(
    preset: Preset, out_dir: str | Path, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> Path:
    """Build a pipeline on the CPU and `save_pretrained` it (safetensors) into `out_dir`."""
    return _write(build_pipeline(preset, seed=seed, dtype=dtype), out_dir)


def unet_parameter_count(preset: Preset) -> int:
    """Number of UNet parameters, counted on the meta device without allocating them."""
    with torch.device("meta"):
        unet = UNet2DConditionModel(**_configs(preset)["unet"])
    return sum(p.numel() for p in unet.parameters())


def parameter_counts(pipe: StableDiffusionXLPipeline) -> dict[str, int]:
    """Parameters per model component of a pipeline."""
    return {
        name: sum(p.numel() for p in module.parameters())
        for name, module in pipe.components.items()
        if isinstance(module, torch.nn.Module)
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--out", required=True, type=Path, help="directory to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    args = parser.parse_args(argv)
    pipe = build_pipeline(args.preset, seed=args.seed, dtype=getattr(torch, args.dtype))
    print(_write(pipe, args.out))
    for name, count in parameter_counts(pipe).items():
        print(f"{name}: {count:,} parameters")


if __name__ == "__main__":
    main()
