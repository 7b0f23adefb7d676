"""The image safety check: a transformers image classifier run on every decoded batch.

The classifier (`SAFETY_MODEL_ID`, e.g. Falconsai/nsfw_image_detection) runs on the same
device as the pipeline, on the uint8 pixels the engine already holds there, in one call per
batch: its image processor's resize and normalisation are redone with torch ops, so no pixels
go to the host and back. Each image gets a score (the highest probability among the unsafe
`SAFETY_LABELS`) and a verdict against `SAFETY_THRESHOLD`; both travel in the `Result`, and
the bot applies each chat's policy when it sends. The worker holds no chat state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import torch
import torch.nn.functional as F
from transformers import AutoImageProcessor, AutoModelForImageClassification

from worker.metrics import SAFETY_VERDICTS
from worker.startup import load_optional

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from worker.config import SafetySettings

log = logging.getLogger(__name__)

# PIL resampling codes as image processors store them, and the nearest torch mode.
_MODES: Final = {0: "nearest", 2: "bilinear", 3: "bicubic"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One image: the classifier's unsafe score, and whether it reaches the threshold."""

    score: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class Checked:
    """Encoded images with their verdicts; no verdicts when the check is off."""

    images: list[bytes]
    verdicts: list[Verdict]

    @property
    def scores(self) -> tuple[float, ...]:
        return tuple(v.score for v in self.verdicts)

    @property
    def flagged(self) -> tuple[bool, ...]:
        return tuple(v.flagged for v in self.verdicts)

    def one(self, index: int) -> Checked:
        """Image `index` alone, for batches whose images go to different jobs."""
        return Checked([self.images[index]], self.verdicts[index : index + 1])


@dataclass(frozen=True, slots=True)
class Preprocess:
    """The image processor's steps, as read from its config."""

    size: tuple[int, int] | int  # (height, width), or the shortest edge
    crop: tuple[int, int] | None
    mode: str
    rescale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, processor: Any) -> Preprocess:
        config = processor.to_dict()
        size = dict(config.get("size") or {})
        if not config.get("do_resize", True):
            raise ValueError("the safety model's image processor must resize its input")
        if {"height", "width"} <= set(size):
            target: tuple[int, int] | int = (int(size["height"]), int(size["width"]))
        elif "shortest_edge" in size:
            target = int(size["shortest_edge"])
        else:
            raise ValueError(f"unsupported image processor size {size!r}")
        crop = None
        if config.get("do_center_crop") and (crop_size := config.get("crop_size")):
            crop = (int(crop_size["height"]), int(crop_size["width"]))
        normalize = config.get("do_normalize", True)
        rescale = (
            float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
        )
        return cls(
            size=target,
            crop=crop,
            mode=_MODES.get(int(config.get("resample", 2)), "bicubic"),
            rescale=rescale,
            mean=tuple(config["image_mean"]) if normalize else (0.0, 0.0, 0.0),
            std=tuple(config["image_std"]) if normalize else (1.0, 1.0, 1.0),
        )


class SafetyChecker:
    """Scores batches of uint8 NCHW images on the model's device."""

    def __init__(
        self, model: Any, processor: Any, labels: Sequence[str], threshold: float
    ) -> None:
        self.model = model.eval()
        self.threshold = threshold
        self.device: torch.device = model.device
        self.dtype: torch.dtype = model.dtype
        names = {str(name).lower(): int(i) for i, name in model.config.id2label.items()}
        unknown = [label for label in labels if label.lower() not in names]
        if unknown or not labels:
            raise ValueError(
                f"SAFETY_LABELS {list(labels)} must name the model's labels {sorted(names)}"
            )
        self._unsafe = torch.tensor([names[label.lower()] for label in labels], device=self.device)
        self._multi_label = model.config.problem_type == "multi_label_classification"
        self.prep = Preprocess.of(processor)
        self._mean = torch.tensor(self.prep.mean, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(self.prep.std, device=self.device).view(1, -1, 1, 1)

    def _inputs(self, pixels: torch.Tensor) -> torch.Tensor:
        """What the image processor would make of these pixels, computed where they are."""
        x = pixels.to(self.device, torch.float32)
        size = self.prep.size
        if isinstance(size, int):
            height, width = x.shape[-2:]
            scale = size / min(height, width)
            size = (round(height * scale), round(width * scale))
        smooth = self.prep.mode != "nearest"
        x = F.interpolate(x, size=size, mode=self.prep.mode, antialias=smooth)
        if self.prep.crop is not None:
            top = (x.shape[-2] - self.prep.crop[0]) // 2
            left = (x.shape[-1] - self.prep.crop[1]) // 2
            x = x[..., top : top + self.prep.crop[0], left : left + self.prep.crop[1]]
        x = (x * self.prep.rescale - self._mean) / self._std
        return x.to(self.dtype)

    @torch.inference_mode()
    def check(self, pixels: torch.Tensor) -> list[Verdict]:
        """One verdict per image of a uint8 NCHW batch, in order, from one model call."""
        return self.verdicts(self.scores(pixels))

    @torch.inference_mode()
    def scores(self, pixels: torch.Tensor) -> torch.Tensor:
        """Each image's unsafe score, float32 where the model runs: queued, not waited for."""
        logits = self.model(pixel_values=self._inputs(pixels)).logits.float()
        probs = logits.sigmoid() if self._multi_label else logits.softmax(dim=-1)
        scores: torch.Tensor = probs[:, self._unsafe].amax(dim=1)
        return scores

    def verdicts(self, scores: torch.Tensor) -> list[Verdict]:
        return [Verdict(score, score >= self.threshold) for score in scores.tolist()]

    def warm_up(self, batch_sizes: Sequence[int], height: int, width: int) -> float:
        """Run each batch size once, so no user pays first-call costs; returns milliseconds."""
        started = time.perf_counter()
        for size in batch_sizes:
            self.check(torch.zeros(size, 3, height, width, dtype=torch.uint8, device=self.device))
        return (time.perf_counter() - started) * 1000


def load_checker(
    settings: SafetySettings, device: torch.device, dtype: torch.dtype
) -> SafetyChecker | None:
    """The classifier from a hub id or a `save_pretrained` directory; None when turned off."""
    if not settings.safety_model_id:
        log.warning("SAFETY_MODEL_ID is empty: pictures are not checked")
        return None
    model_id = settings.safety_model_id
    log.info("loading safety model %s on %s", model_id, device)
    model, processor = load_optional(
        "SAFETY_MODEL_ID",
        model_id,
        lambda: (
            AutoModelForImageClassification.from_pretrained(model_id, dtype=dtype),
            AutoImageProcessor.from_pretrained(model_id),
        ),
    )
    return SafetyChecker(model.to(device), processor, settings.labels, settings.safety_threshold)


_checker: SafetyChecker | None = None


def set_checker(checker: SafetyChecker | None) -> None:
    global _checker
    _checker = checker


def counted(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts of pictures users asked for, each counted once in the metrics (the
    warm-up's are not)."""
    for verdict in verdicts:
        SAFETY_VERDICTS.labels("flagged" if verdict.flagged else "safe").inc()
    return verdicts


def checked(pixels: torch.Tensor, encode: Callable[[torch.Tensor], list[bytes]]) -> Checked:
    """Encode a decoded batch (uint8 NCHW, on the device) and, when the check is on, score it
    first, while the pixels are still on the device: one classifier call per batch."""
    verdicts = _checker.check(pixels) if _checker is not None else []
    return Checked(encode(pixels), counted(verdicts))


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch on its way to the host: its pixels and scores, copied behind its GPU work."""

    pixels: torch.Tensor
    scores: torch.Tensor | None
    copied: torch.cuda.Event | None

    def finish(self, encode: Callable[[torch.Tensor], list[bytes]]) -> Checked:
        """Wait for this batch's copies only (work queued after them may still run), then
        encode on the host."""
        if self.copied is not None:
            self.copied.synchronize()
        verdicts = (
            [] if self.scores is None or _checker is None else _checker.verdicts(self.scores)
        )
        return Checked(encode(self.pixels), counted(verdicts))


def started(pixels: torch.Tensor, to_host: bool) -> Pending:
    """Score a decoded batch; with `to_host`, queue its copies to pinned host memory without
    waiting, so the device can go on with the next batch while the host encodes this one."""
    scores = _checker.scores(pixels) if _checker is not None else None
    if not to_host or pixels.device.type != "cuda":
        return Pending(pixels, scores, None)
    host = torch.empty(pixels.shape, dtype=pixels.dtype, pin_memory=True)
    host.copy_(pixels, non_blocking=True)
    host_scores = None
    if scores is not None:
        host_scores = torch.empty(scores.shape, dtype=scores.dtype, pin_memory=True)
        host_scores.copy_(scores, non_blocking=True)
    copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
    copied.record()
    return Pending(host, host_scores, copied)
