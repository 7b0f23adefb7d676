"""GPU faults the worker survives, and the ones it must not carry on through.

- Out of memory: a batch too large for the memory left is drawn again in halves, after the
  allocator's cache is freed, down to single requests; one that still does not fit fails
  with the error answer (and is not retried: it would not fit again).
- Any other CUDA error (an illegal address, a lost device, an Xid) leaves the CUDA context
  broken for every later call. The worker stops taking jobs, reports not ready and exits
  non-zero, so that its supervisor restarts it; the jobs it held are retried elsewhere.
"""

from __future__ import annotations

import torch

# What CUDA's own errors say; torch raises them as RuntimeError (AcceleratorError).
_DEVICE_FAILURES = ("CUDA error", "illegal memory access", "device-side assert", "CUBLAS_STATUS")


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError)


def is_device_failure(exc: BaseException) -> bool:
    """A CUDA error that leaves the device unusable (out of memory is not one)."""
    if is_out_of_memory(exc) or not isinstance(exc, RuntimeError):
        return False
    return any(text in str(exc) for text in _DEVICE_FAILURES)


def free_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
