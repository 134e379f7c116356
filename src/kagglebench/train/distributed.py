"""Data-parallel training under torch.distributed, launched by torchrun.

`kagglebench train RECIPE --nproc N` calls `launch`, which re-runs the same command
under `python -m torch.distributed.run --standalone --nproc_per_node N`. Each worker
process calls `setup()` (reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK, joins the
process group: gloo on the CPU, nccl on CUDA), wraps its model with `wrap()` (DDP),
takes its shard of every global batch, and averages metrics with `all_reduce_mean`.
Only rank 0 (`info.is_main`) writes the store, logs and checkpoints.

Without torchrun's variables (or with WORLD_SIZE=1) `setup()` returns rank 0 of 1
and every helper here is a no-op, so the trainer has one code path.

DDP averages gradients over ranks. With the global batch split evenly and each rank's
loss a mean over its own shard, the averaged gradient equals the single-process
gradient over the whole batch: two ranks give the same result as one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kagglebench.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = field(default="cpu", compare=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """This process's place in the job, from torchrun's environment (rank 0 of 1 without it)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise UserError("RANK / WORLD_SIZE / LOCAL_RANK", "torchrun's variables must be integers") from None
    return DistInfo(rank, world, local)


def setup(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun with more than one process.

    `device` is the recipe's train.device ("auto", "cpu", "cuda"): with CUDA each
    process takes the GPU numbered by its LOCAL_RANK and the nccl backend; otherwise gloo.
    """
    import torch
    import torch.distributed as dist

    info = env_info()
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise UserError("train.device", "CUDA was asked for but no GPU is visible to PyTorch")
    dev = "cpu"
    if use_cuda:
        count = torch.cuda.device_count()
        if info.distributed and info.local_rank >= count:
            raise UserError("--nproc", f"{info.local_rank + 1} processes on this machine but only "
                            f"{count} GPU(s): use --nproc {count} or fewer")
        index = info.local_rank if info.distributed else torch.cuda.current_device()
        torch.cuda.set_device(index)
        dev = f"cuda:{index}"
    info = DistInfo(info.rank, info.world_size, info.local_rank, dev)
    if info.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info


def wrap(model: Any, info: DistInfo) -> Any:
    """DistributedDataParallel around `model` (already on its device) when there are several ranks."""
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if info.device.startswith("cuda"):
        index = int(info.device.split(":")[1])
        return DDP(model, device_ids=[index], output_device=index)
    return DDP(model)


def unwrap(model: Any) -> Any:
    """The plain module inside a DDP wrapper (for checkpoints: keys without `module.`)."""
    return getattr(model, "module", model)


def _reduce(value: Any, info: DistInfo, op: str) -> Any:
    if not info.distributed:
        return value
    import torch
    import torch.distributed as dist

    is_tensor = isinstance(value, torch.Tensor)
    t = (value.detach().clone() if is_tensor else torch.tensor(value, dtype=torch.float64))
    t = t.to(info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op != "max" else dist.ReduceOp.MAX)
    if op == "mean":
        t = t / info.world_size
    return t if is_tensor else (t.tolist() if t.dim() else t.item())


def all_reduce_sum(value: Any, info: DistInfo) -> Any:
    """Sum over ranks of a number, list of numbers or tensor (same type back)."""
    return _reduce(value, info, "sum")


def all_reduce_mean(value: Any, info: DistInfo) -> Any:
    """Mean over ranks; for per-rank averages of equal-sized shards (losses, accuracies)."""
    return _reduce(value, info, "mean")


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when it is true on any (a stop request must stop all ranks together)."""
    return bool(_reduce(1.0 if flag else 0.0, info, "max")) if info.distributed else bool(flag)


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (e.g. the run id rank 0 created)."""
    if not info.distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src, device=info.device if info.device != "cpu" else None)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        if info.device.startswith("cuda"):
            dist.barrier(device_ids=[int(info.device.split(":")[1])])
        else:
            dist.barrier()


def cleanup() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_worker(status: int) -> None:
    """End a torchrun worker process with `status`, skipping the interpreter's final teardown.

    Under load, gloo's C++ threads sometimes abort the process (SIGABRT, "terminate called
    without an active exception") while Python finalizes, after all work is done and the
    process group destroyed: torchrun then reports a finished run as failed (one in six times
    with two ranks on a loaded 2-core machine, tests/train/test_distributed.py). A worker's
    records are closed by then, so it flushes its output and leaves with os._exit. Outside
    torchrun (or a world of one) this does nothing and the caller exits as usual."""
    if env_info().world_size > 1 and "TORCHELASTIC_RUN_ID" in os.environ:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """`argv` without `--nproc N` / `--nproc=N` (the workers must not launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch_command(argv: Sequence[str], nproc: int,
                   target: Sequence[str] = ("-m", "kagglebench")) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            *target, *strip_nproc(argv)]


def launch(argv: Sequence[str], nproc: int, target: Sequence[str] = ("-m", "kagglebench")) -> int:
    """Re-run `kagglebench <argv>` as `nproc` torchrun workers on this machine; their exit code.

    SIGTERM is passed on to torchrun, which passes it to the workers, so stopping a
    distributed run from the GUI checkpoints it like a single-process one.
    """
    if nproc < 1:
        raise UserError("--nproc", f"needs at least 1 process (got {nproc})")
    proc = subprocess.Popen(launch_command(argv, nproc, target))
    if threading.current_thread() is not threading.main_thread():
        return proc.wait()

    def forward(signum: int, _frame: Any) -> None:
        proc.send_signal(signum)

    # Ctrl-C already reaches torchrun and the workers (same process group): just keep waiting.
    old = {signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
           signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: None)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
