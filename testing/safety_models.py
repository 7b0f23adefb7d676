"""Image safety classifiers with random weights, shaped like Falconsai/nsfw_image_detection.

`save_classifier` writes a `save_pretrained` directory that `SAFETY_MODEL_ID` loads like the
hub model: a ViT for image classification with labels `normal` / `nsfw` and its image
processor. `verdict` fixes what it says about every picture through the classifier's bias
("nsfw": flags everything, "normal": flags nothing); None leaves the random head, whose
scores differ from picture to picture. `tiny` is for tests; `base` has ViT-base's shape
(86M parameters, 224×224 input), so timings on it stand for the real model's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

Shape = Literal["tiny", "base"]
Verdict = Literal["nsfw", "normal"]
LABELS = {0: "normal", 1: "nsfw"}

_SHAPES: dict[str, dict[str, int]] = {
    "tiny": {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
    },
    "base": {
        "image_size": 224,
        "patch_size": 16,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}


def build_classifier(
    shape: Shape = "tiny", verdict: Verdict | None = None, seed: int = 0
) -> tuple[ViTForImageClassification, ViTImageProcessor]:
    torch.manual_seed(seed)
    config = ViTConfig(
        **_SHAPES[shape], id2label=LABELS, label2id={v: k for k, v in LABELS.items()}
    )
    model = ViTForImageClassification(config).eval()
    if verdict is not None:
        # Logits become (almost) the bias alone: the same verdict for every picture.
        with torch.no_grad():
            model.classifier.weight.mul_(1e-3)
            model.classifier.bias.copy_(
                torch.tensor([8.0, -8.0] if verdict == "normal" else [-8.0, 8.0])
            )
    size = _SHAPES[shape]["image_size"]
    processor = ViTImageProcessor(size={"height": size, "width": size})
    return model, processor


def save_classifier(
    directory: Path, shape: Shape = "tiny", verdict: Verdict | None = None, seed: int = 0
) -> Path:
    """Write the classifier and its processor with `save_pretrained`; returns the directory."""
    model, processor = build_classifier(shape, verdict, seed)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--shape", choices=sorted(_SHAPES), default="tiny")
    parser.add_argument("--verdict", choices=["nsfw", "normal"], default=None)
    args = parser.parse_args()
    print(save_classifier(args.directory, args.shape, args.verdict))


if __name__ == "__main__":
    main()
