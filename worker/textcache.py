"""Text-encoder results kept per prompt, so a regenerated or popular prompt skips both CLIPs."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Sequence

Embedding = tuple[torch.Tensor, torch.Tensor]


class PromptEmbeddings:
    """Least-recently-used cache of (prompt embeddings, pooled embeddings), on the device.

    SDXL Turbo runs without classifier-free guidance, so a prompt's embeddings depend on the
    prompt alone; one entry is 77x2048 + 1280 values (about 320 KB in float16).
    """

    def __init__(self, pipe: Any, device: torch.device, size: int) -> None:
        self._pipe = pipe
        self._device = device
        self.size = size
        self._entries: OrderedDict[str, Embedding] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, prompts: Sequence[str]) -> Embedding:
        """Embeddings for `prompts`, in order; the ones not cached are encoded in one batch."""
        hits = sum(p in self._entries for p in prompts)
        self.hits += hits
        self.misses += len(prompts) - hits
        missing = list(dict.fromkeys(p for p in prompts if p not in self._entries))
        fresh = dict(zip(missing, self._run_encoders(missing), strict=True)) if missing else {}
        rows = [fresh[p] if p in fresh else self._entries[p] for p in prompts]
        for prompt in prompts:
            if prompt in self._entries:
                self._entries.move_to_end(prompt)
        for prompt, entry in fresh.items():
            self._remember(prompt, entry)
        embeds = torch.stack([row[0] for row in rows])
        pooled = torch.stack([row[1] for row in rows])
        return embeds, pooled

    def _run_encoders(self, prompts: list[str]) -> list[Embedding]:
        embeds, _, pooled, _ = self._pipe.encode_prompt(
            prompt=prompts, device=self._device, do_classifier_free_guidance=False
        )
        # Clones, so that one cached row does not keep its whole batch alive.
        return [(embeds[i].clone(), pooled[i].clone()) for i in range(len(prompts))]

    def _remember(self, prompt: str, entry: Embedding) -> None:
        if self.size == 0:
            return
        self._entries[prompt] = entry
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
