"""`python -m testing.slow_worker`: the real worker, with every generation SLOW_GENERATION_S late.

Test-only stand-in for a GPU that hangs or a generation that runs long, so tests can kill,
stop or time out a worker in the middle of a job. It prints a line when a generation starts;
nothing under worker/ knows about any of this. Run it with WARMUP=false.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from worker import __main__ as worker_main
from worker.engine import Engine

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from common.protocol import GenerationRequest

_pixels = Engine.pixels


def _slow_pixels(self: Engine, requests: Sequence[GenerationRequest]) -> torch.Tensor:
    print(f"slow generation started pid={os.getpid()}", flush=True)
    # A plain sleep: RQ's job timeout (SIGALRM) interrupts it like it would a Python loop.
    time.sleep(float(os.environ["SLOW_GENERATION_S"]))
    return _pixels(self, requests)


# Every text-to-image path (single jobs, batches, variations, files) makes pixels here.
Engine.pixels = _slow_pixels  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(worker_main.main())
