"""CUDA graphs of the single-step functions: one per batch-size bucket, all in one memory pool.

Eager, one image is a few thousand small kernel launches (UNet, decoder) that the host issues
one by one; a graph replays them with one launch. Each graph is captured once, at warm-up, from
example inputs; a call copies its rows into the graph's static inputs, replays, and returns a
view of the static output, which the next replay overwrites (callers copy it out). Graphs are
never replayed concurrently, so sharing one pool costs the memory of the largest, not the sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# Eager runs on a side stream before capture: cuDNN's autotuning and lazy initialisation
# (cuBLAS handles, workspaces) must not happen inside the graph.
WARMUP_RUNS = 2


def buckets(max_batch: int) -> list[int]:
    """Batch sizes with their own graph: powers of two and the cap; batches pad up to one.

    Logarithmically many graphs keep start-up and memory small; padding costs at most 2x.
    """
    return sorted({min(2**i, max_batch) for i in range(max_batch.bit_length() + 1)})


@dataclass(frozen=True, slots=True)
class WarmUp:
    """One batch size made ready: its graphs captured (CUDA) and a first run."""

    batch: int
    seconds: float
    peak_bytes: int  # CUDA memory allocated at most so far; 0 elsewhere


class Graph:
    """`fn` captured for inputs shaped like `example` (the batch size is the first dimension)."""

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        example: Sequence[torch.Tensor],
        pool: Any,
    ) -> None:
        self.inputs = [tensor.clone() for tensor in example]
        side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            self.output = fn(*self.inputs)

    @property
    def batch(self) -> int:
        return int(self.inputs[0].shape[0])

    def fits(self, inputs: Sequence[torch.Tensor]) -> bool:
        """Same shapes and dtypes apart from the batch size, which may be smaller (padding)."""
        return len(inputs[0]) <= self.batch and all(
            (given.shape[1:], given.dtype) == (static.shape[1:], static.dtype)
            for given, static in zip(inputs, self.inputs, strict=True)
        )

    def __call__(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        rows = len(inputs[0])
        # Rows past `rows` keep an earlier call's values: computed, then dropped.
        for static, given in zip(self.inputs, inputs, strict=True):
            static[:rows].copy_(given)
        self.graph.replay()
        return self.output[:rows]


class Graphs:
    """Captured graphs by function name, smallest batch first."""

    def __init__(self, device: torch.device) -> None:
        if device.type != "cuda" or not torch.cuda.is_available():
            raise RuntimeError(f"CUDA graphs need a CUDA device, not {device}")
        self._pool = torch.cuda.graph_pool_handle()
        self._graphs: dict[str, list[Graph]] = {}

    def capture(
        self, name: str, fn: Callable[..., torch.Tensor], example: Sequence[torch.Tensor]
    ) -> None:
        graphs = self._graphs.setdefault(name, [])
        graphs.append(Graph(fn, example, self._pool))
        graphs.sort(key=lambda graph: graph.batch)

    def sizes(self, name: str) -> list[int]:
        return [graph.batch for graph in self._graphs.get(name, [])]

    def run(self, name: str, inputs: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """The smallest fitting graph's output rows, or None when no graph fits (run eagerly)."""
        for graph in self._graphs.get(name, []):
            if graph.fits(inputs):
                return graph(inputs)
        return None
