"""SDXL's two text encoders over token ids, and their results kept per prompt, so that a
regenerated or popular prompt skips both CLIPs."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Embedding = tuple[torch.Tensor, torch.Tensor]


class TextEncoders:
    """What diffusers' SDXL `encode_prompt` does without guidance or clip skip, split in two:
    tokenising on the host, then pure tensor code from token ids to one packed tensor (the
    penultimate hidden states of both encoders side by side, then the second one's pooled
    projection), which a CUDA graph can hold like the step."""

    def __init__(self, pipe: Any, device: torch.device) -> None:
        self.pipe, self.device = pipe, device
        self.length = int(pipe.tokenizer.model_max_length)
        self.width = int(pipe.text_encoder.config.hidden_size) + int(
            pipe.text_encoder_2.config.hidden_size
        )

    def tokenize(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """Token ids for both encoders, on the device (through pinned memory on CUDA)."""
        out = []
        for tokenizer in (self.pipe.tokenizer, self.pipe.tokenizer_2):
            ids = tokenizer(
                list(prompts),
                padding="max_length",
                max_length=tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            if self.device.type == "cuda":
                ids = ids.pin_memory()
            out.append(ids.to(self.device, non_blocking=True))
        return out

    def __call__(self, ids: torch.Tensor, ids_2: torch.Tensor) -> torch.Tensor:
        first = self.pipe.text_encoder(ids, output_hidden_states=True)
        second = self.pipe.text_encoder_2(ids_2, output_hidden_states=True)
        dtype = self.pipe.text_encoder_2.dtype
        embeds = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
        return torch.cat([embeds.to(dtype).flatten(1), second[0].to(dtype)], dim=1)

    def unpack(self, packed: torch.Tensor) -> Embedding:
        split = self.length * self.width
        embeds = packed[:, :split].reshape(len(packed), self.length, self.width)
        return embeds, packed[:, split:]


class PromptEmbeddings:
    """Least-recently-used cache of (prompt embeddings, pooled embeddings), on the device.

    SDXL Turbo runs without classifier-free guidance, so a prompt's embeddings depend on the
    prompt alone; one entry is 77x2048 + 1280 values (about 320 KB in float16).
    """

    def __init__(
        self,
        encoders: TextEncoders,
        size: int,
        run: Callable[[list[torch.Tensor]], torch.Tensor] | None = None,
    ) -> None:
        """`run` takes the token ids and gives the packed output (the engine's graph of the
        encoders where it has one); the encoders themselves run without it."""
        self.encoders = encoders
        self._run = run or (lambda ids: encoders(*ids))
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
        embeds, pooled = self.encoders.unpack(self._run(self.encoders.tokenize(prompts)))
        # Clones: a graph's output is overwritten by its next replay, and one cached row must
        # not keep its whole batch alive.
        return [(embeds[i].clone(), pooled[i].clone()) for i in range(len(prompts))]

    def _remember(self, prompt: str, entry: Embedding) -> None:
        if self.size == 0:
            return
        self._entries[prompt] = entry
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
