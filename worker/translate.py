"""Russian prompts drawn as meant: Cyrillic runs translated to English before the text encoders.

SDXL Turbo's two CLIP encoders know English only, so `рыжая лиса в снегу` would draw something
unrelated. A prompt is cut into pieces at commas, semicolons, full stops and line breaks, and
within a piece at what must stay as typed (Latin words, anything in quotes, `--flags`); the
Cyrillic runs left (with the numbers inside them) are translated by a MarianMT model
(`TRANSLATE_MODEL_ID`, opus-mt-ru-en by default) and put back in order. All runs of one
micro-batch go through one greedy `generate` call with a bounded number of new tokens, and
translations are remembered (LRU), so a repeated prompt costs nothing and the same prompt and
seed keep giving the same pixels. A translator that fails leaves the prompt as typed.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

import torch
from prometheus_client import Counter
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from common.metrics import NAMESPACE
from worker.faults import is_device_failure
from worker.startup import load_optional

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from worker.config import TranslateSettings

log = logging.getLogger(__name__)

TRANSLATIONS = Counter(
    "translations", "Prompts with new Cyrillic text, by outcome: translated (through the "
    "model), failed (drawn as typed). Repeats come from the cache and are not counted.",
    ["outcome"], namespace=NAMESPACE, subsystem="worker",
)  # fmt: skip

CYRILLIC: Final = re.compile(r"[\u0400-\u04FF]")
# Where a prompt's pieces end; the separators themselves stay as typed.
_PIECES: Final = re.compile(r"([,;.\n]+)")
# Inside a piece, what is never translated: quoted text, --flags (with their value), words with
# Latin letters (names, English words, model jargon) and numbers. Everything else is kept too
# unless it belongs to a run that holds Cyrillic.
_KEPT: Final = re.compile(
    r"\"[^\"]*\"|«[^»]*»|“[^”]*”|'[^']*'|--[\w-]+(?:\s+[^\s,;.]+)?|[\w'-]*[A-Za-z][\w'-]*"
    r"|\b\d+\b"
)
CACHE_SIZE: Final = 1024
# New tokens per run at most: a runaway generation costs a bounded time.
MAX_NEW_TOKENS: Final = 64


def pieces(prompt: str) -> list[tuple[str, bool]]:
    """The prompt as (text, translate?) pieces that join back to it exactly."""
    out: list[tuple[str, bool]] = []
    for chunk in _PIECES.split(prompt):
        if not chunk or _PIECES.fullmatch(chunk):
            out.append((chunk, False))
            continue
        position = 0
        for kept in _KEPT.finditer(chunk):
            out.extend(_runs(chunk[position : kept.start()]))
            out.append((kept.group(), False))
            position = kept.end()
        out.extend(_runs(chunk[position:]))
    return [(text, translate) for text, translate in out if text]


def _runs(text: str) -> list[tuple[str, bool]]:
    """A stretch without kept parts: its Cyrillic core translated, the spaces and punctuation
    around it kept as typed (so that the run joins its neighbours as before)."""
    if not CYRILLIC.search(text):
        return [(text, False)]
    stripped = text.strip(" \t-–—:()[]!?")
    start = text.index(stripped)
    return [
        (text[:start], False),
        (stripped, True),
        (text[start + len(stripped) :], False),
    ]


class Translator:
    """A seq2seq model (MarianMT) with its tokenizer, on the worker's device."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: torch.device,
        cache_size: int = CACHE_SIZE,
        max_new_tokens: int = MAX_NEW_TOKENS,
    ) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_new_tokens = max_new_tokens
        self.cache_size = cache_size
        self._known: OrderedDict[str, str] = OrderedDict()
        self.generate_calls = 0

    def translate(self, prompts: Sequence[str]) -> list[str]:
        """Each prompt with its Cyrillic runs in English; one model call for all new runs."""
        split = [pieces(prompt) for prompt in prompts]
        runs = [text for parts in split for text, translate in parts if translate]
        missing = [run for run in dict.fromkeys(runs) if run not in self._known]
        failed = False
        if missing:
            try:
                self._remember(missing, self._generate(missing))
            except Exception as exc:
                if is_device_failure(exc):
                    raise
                log.warning(
                    "translation failed (%s): %d prompt(s) drawn as typed", exc, len(split)
                )
                failed = True
        out = []
        for prompt, parts in zip(prompts, split, strict=True):
            fresh = any(t and text in missing for text, t in parts)
            joined = self._joined(parts)
            if fresh:
                TRANSLATIONS.labels("failed" if failed or joined is None else "translated").inc()
            out.append(prompt if joined is None else joined)
        for run in runs:
            if run in self._known:
                self._known.move_to_end(run)
        return out

    def lookup(self, prompt: str) -> str | None:
        """The prompt as it was drawn if every Cyrillic run of it is known, else None (it has
        none, or its translation failed): no model call, nothing counted."""
        parts = pieces(prompt)
        if not any(translate for _, translate in parts):
            return None
        return self._joined(parts)

    def _joined(self, parts: list[tuple[str, bool]]) -> str | None:
        if any(t and text not in self._known for text, t in parts):
            return None
        return "".join(self._known[text] if t else text for text, t in parts)

    @torch.inference_mode()
    def _generate(self, runs: list[str]) -> list[str]:
        self.generate_calls += 1
        batch = self.tokenizer(runs, return_tensors="pt", padding=True, truncation=True)
        batch = {key: value.to(self.device) for key, value in batch.items()}
        tokens = self.model.generate(
            **batch, num_beams=1, do_sample=False, max_new_tokens=self.max_new_tokens
        )
        texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]

    def _remember(self, runs: Iterable[str], texts: Iterable[str]) -> None:
        for run, text in zip(runs, texts, strict=True):
            if not text:  # nothing came back: that run stays unknown, its prompt as typed
                continue
            self._known[run] = text
        while len(self._known) > self.cache_size:
            self._known.popitem(last=False)

    def warm_up(self) -> None:
        """One translation, so the first user's prompt does not pay for lazy initialisation."""
        self._generate(["рыжая лиса в снегу"])


def load_translator(
    settings: TranslateSettings, device: torch.device, dtype: torch.dtype
) -> Translator | None:
    """The translator from a hub id or a `save_pretrained` directory; None when turned off."""
    if not settings.translate_model_id:
        log.info("TRANSLATE_MODEL_ID is empty: prompts reach the text encoders as typed")
        return None
    model_id = settings.translate_model_id
    log.info("loading translator %s on %s", model_id, device)
    tokenizer, model = load_optional(
        "TRANSLATE_MODEL_ID",
        model_id,
        lambda: (
            AutoTokenizer.from_pretrained(model_id),
            AutoModelForSeq2SeqLM.from_pretrained(model_id, dtype=dtype),
        ),
    )
    return Translator(model.to(device).eval(), tokenizer, device)
