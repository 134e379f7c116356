"""Which device a command runs on, and the single-CPU-thread rule for small CPU work.

`pick_device` is the one rule for `train.device` and every `--device`: auto (or nothing)
means this process's GPU when PyTorch sees one, else the CPU; cpu, cuda, cuda:N and mps are
checked against what this machine has. `one_cpu_thread()` runs a block on one CPU thread
and gives the caller's thread count back: ops of well under a millisecond on small batches
only wait for OpenMP workers when split over threads, and on a shared machine that wait
dominated (BENCHMARKS.md: 2 threads ~1,000 images/s under load, 1 thread ~28,000).
Torch is imported inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from kagglebench.errors import UserError


def pick_device(name: str | None = "auto", *, where: str | None = None, local_rank: int = 0) -> str:
    """The device to use as a string torch accepts; UserError (naming `where`) when it is not here."""
    import torch

    where = where or f"--device {name}"
    if not name or name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "mps") and not re.fullmatch(r"cuda(:\d+)?", name):
        raise UserError(where, "choose cpu, cuda, cuda:N, mps or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(where, "no CUDA GPU is visible to PyTorch here; use cpu (or auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError(where, "no Apple GPU (MPS) is available to PyTorch here; use cpu (or auto)")
    return name


@contextmanager
def one_cpu_thread(active: bool = True) -> Iterator[None]:
    """Run the block on one CPU thread when `active`, then restore the caller's thread count."""
    import torch

    before = torch.get_num_threads()
    if not active or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
