"""CUDA graphs of the single-step functions: one per batch-size bucket, all in one memory pool.

Eager, one image is a few thousand small kernel launches (UNet, decoder) that the host issues
one by one; a graph replays them with one launch. Each graph is captured once, at warm-up, from
example inputs; a call copies its rows into the graph's static inputs, replays, and returns a
view of the static output, which the next replay overwrites (callers copy it out). Graphs are
never replayed concurrently, so sharing one pool costs the memory of the largest, not the sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

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
    """`fn` captured for inputs shaped like `example`: the batch size is the first dimension of
    each input but the last `shared`, which every row uses whole (one input image)."""

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        example: Sequence[torch.Tensor],
        pool: Any,
        shared: int = 0,
    ) -> None:
        # Static inputs: every call copies its rows in; the output is what `replay` rewrites.
        self.inputs = [tensor.clone() for tensor in example]
        self.shared = shared
        self.output = self._record(fn, pool)

    def _record(self, fn: Callable[..., torch.Tensor], pool: Any) -> torch.Tensor:
        side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            output: torch.Tensor = fn(*self.inputs)
        return output

    @property
    def batch(self) -> int:
        return int(self.inputs[0].shape[0])

    def fits(self, inputs: Sequence[torch.Tensor]) -> bool:
        """Same shapes and dtypes apart from the batch size, which may be smaller (padding);
        shared inputs exactly as captured."""
        split = len(self.inputs) - self.shared
        return (
            len(inputs) == len(self.inputs)
            and len(inputs[0]) <= self.batch
            and all(
                (given.shape[1:], given.dtype) == (static.shape[1:], static.dtype)
                for given, static in zip(inputs[:split], self.inputs[:split], strict=True)
            )
            and all(
                (given.shape, given.dtype) == (static.shape, static.dtype)
                for given, static in zip(inputs[split:], self.inputs[split:], strict=True)
            )
        )

    def __call__(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        rows = len(inputs[0])
        split = len(self.inputs) - self.shared
        # Rows past `rows` keep an earlier call's values: computed, then dropped.
        for static, given in zip(self.inputs[:split], inputs[:split], strict=True):
            static[:rows].copy_(given)
        for static, given in zip(self.inputs[split:], inputs[split:], strict=True):
            static.copy_(given)
        self.replay()
        return self.output[:rows]

    def replay(self) -> None:
        self.graph.replay()


# How a graph is made: `Graph` on CUDA; tests give stand-ins (a capture that raises, a graph
# that answers wrongly) to drive the engine's decisions on the CPU.
Capture = Callable[[Callable[..., torch.Tensor], Sequence[torch.Tensor], Any, int], Graph]


class Graphs:
    """Captured graphs by function name, smallest batch first."""

    def __init__(self, device: torch.device, capture: Capture | None = None) -> None:
        self._pool: Any = None
        if capture is None:
            if device.type != "cuda" or not torch.cuda.is_available():
                raise RuntimeError(f"CUDA graphs need a CUDA device, not {device}")
            self._pool = torch.cuda.graph_pool_handle()
        self._capture: Capture = capture or Graph
        self._graphs: dict[str, list[Graph]] = {}

    def capture(
        self,
        name: str,
        fn: Callable[..., torch.Tensor],
        example: Sequence[torch.Tensor],
        shared: int = 0,
    ) -> Graph:
        graph = self._capture(fn, example, self._pool, shared)
        graphs = self._graphs.setdefault(name, [])
        graphs.append(graph)
        graphs.sort(key=lambda each: each.batch)
        return graph

    def sizes(self, name: str) -> list[int]:
        return [graph.batch for graph in self._graphs.get(name, [])]

    def run(self, name: str, inputs: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """The smallest fitting graph's output rows, or None when no graph fits (run eagerly)."""
        for graph in self._graphs.get(name, []):
            if graph.fits(inputs):
                return graph(inputs)
        return None

    def drop(self, name: str) -> None:
        """Forget one function's graphs (it runs eagerly from now on)."""
        self._graphs.pop(name, None)

    def release(self) -> None:
        """Forget every graph: their memory goes back to the allocator's cache."""
        self._graphs.clear()
