"""CUDA graph stand-ins for the CPU, to drive the engine's capture decisions in tests.

`ReplayedOnCpu` keeps a real graph's contract (static input buffers, one output tensor that
each replay overwrites) and replays by running the function again. `WrongReplay` answers
something else, as a graph whose capture went subtly wrong would; `failing_capture` and
`broken_device_capture` raise as capture can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from worker.graphs import Graph

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class ReplayedOnCpu(Graph):
    def _record(self, fn: Callable[..., torch.Tensor], pool: Any) -> torch.Tensor:
        self.fn, self.replays = fn, 0
        return fn(*self.inputs)

    def replay(self) -> None:
        self.output.copy_(self.fn(*self.inputs))
        self.replays += 1


class WrongReplay(ReplayedOnCpu):
    def replay(self) -> None:
        super().replay()
        self.output.add_(0.25)


def failing_capture(
    fn: Callable[..., torch.Tensor], example: Sequence[torch.Tensor], pool: Any, shared: int = 0
) -> Graph:
    raise RuntimeError("operation not permitted when stream is capturing")


def broken_device_capture(
    fn: Callable[..., torch.Tensor], example: Sequence[torch.Tensor], pool: Any, shared: int = 0
) -> Graph:
    raise RuntimeError("CUDA error: an illegal memory access was encountered")
