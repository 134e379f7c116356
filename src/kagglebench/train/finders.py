"""Batch-size finder and learning-rate range test: the two things the seeds tuned by hand.

`find_batch_size` answers "what is the largest batch that fits?". On a GPU it runs
real training steps (forward, backward, optimizer step) at doubling batch sizes
until one runs out of memory, then binary-searches between the last fit and the
first failure. On the CPU an out-of-memory kills the process instead of raising,
so there it measures the memory one sample's activations take (the tensors
autograd saves for backward) at a small batch and asks how many fit in a budget:
a fraction of the RAM psutil reports available.

`lr_range_test` (Smith 2015, "Cyclical learning rates"; the fastai LR finder) raises
the learning rate exponentially over a few hundred steps, records the smoothed
loss, stops once it blows up, and suggests the rate where the loss falls fastest.
`plot_lr_range` draws the curve with matplotlib (Agg) to a PNG.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import psutil
import torch
from torch import nn

if TYPE_CHECKING:
    from kagglebench.config import Recipe
    from kagglebench.workspace import Workspace

ModelFactory = Callable[[], nn.Module]
CPU_RAM_FRACTION = 0.5   # leave room for the data, the store and everything else on the machine
DEFAULT_MAX_BATCH = 4096


class BatchSizeResult(NamedTuple):
    batch_size: int
    limit: str            # what stopped the search: "memory", "max", "data"
    tried: list[tuple[int, bool]]   # (batch, fits) in the order tried
    device: str


class LRRangeResult(NamedTuple):
    lrs: list[float]
    losses: list[float]   # smoothed (bias-corrected exponential moving average)
    suggested_lr: float


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                amp_dtype: torch.dtype | None) -> None:
    opt.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


def _probe_inputs(batch: int, input_size: int, num_classes: int, device: torch.device,
                  channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, 3, input_size, input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, num_classes, (batch,), device=device)


def _fits_cuda(model_factory: ModelFactory, input_size: int, num_classes: int, device: torch.device,
               amp_dtype: torch.dtype | None, channels_last: bool) -> Callable[[int], bool]:
    def fits(batch: int) -> bool:
        model = opt = x = y = None
        try:
            model = model_factory().to(device).train()
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            # Adam keeps two states per weight: a conservative stand-in for any optimizer.
            opt = torch.optim.Adam(model.parameters(), lr=1e-6)
            x, y = _probe_inputs(batch, input_size, num_classes, device, channels_last)
            for _ in range(2):  # the second step holds optimizer state too
                _train_step(model, opt, x, y, amp_dtype)
            torch.cuda.synchronize(device)
            return True
        except (torch.cuda.OutOfMemoryError, RuntimeError) as e:
            if not _is_oom(e):
                raise
            return False
        finally:
            del model, opt, x, y
            torch.cuda.empty_cache()
    return fits


def cpu_memory_estimate(model_factory: ModelFactory, input_size: int, num_classes: int,
                        probe_batch: int = 4) -> tuple[float, float]:
    """(fixed bytes, bytes per sample) of one CPU training step.

    Fixed: weights, gradients and two optimizer states (4x the parameters).
    Per sample: the tensors autograd saves for backward, measured at `probe_batch`,
    plus the input and the same again for the backward pass's transient gradients.
    """
    model = model_factory().train()
    fixed = 4.0 * sum(p.numel() * p.element_size() for p in model.parameters())
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        # Count each storage once: views of the same activation share memory.
        try:
            key = t.untyped_storage().data_ptr()
            saved[key] = max(saved.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:
            pass
        return t

    x, y = _probe_inputs(probe_batch, input_size, num_classes, torch.device("cpu"), False)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    per_sample = 2.0 * sum(saved.values()) / probe_batch + x[0].numel() * x.element_size()
    return fixed, per_sample


def search_batch_size(fits: Callable[[int], bool], *, start: int = 2, max_batch: int = DEFAULT_MAX_BATCH,
                      granularity: int = 8) -> tuple[int, list[tuple[int, bool]]]:
    """Double from `start` until `fits` fails (or `max_batch`), then binary-search the gap.

    Above `granularity` the answer is a multiple of it (GPU kernels like multiples of 8).
    Returns (largest fitting batch or 0, the (batch, fits) trials in order).
    """
    tried: list[tuple[int, bool]] = []

    def check(b: int) -> bool:
        ok = fits(b)
        tried.append((b, ok))
        return ok

    b = max(1, min(start, max_batch))
    if not check(b):
        lo, hi = 0, b
    else:
        lo = b
        while lo < max_batch:
            b = min(lo * 2, max_batch)
            if not check(b):
                break
            lo = b
        hi = b if lo < max_batch else max_batch + 1
    while hi - lo > (granularity if lo >= granularity else 1):
        mid = (lo + hi) // 2
        if mid >= granularity:
            mid -= mid % granularity
        if mid <= lo:
            break
        if check(mid):
            lo = mid
        else:
            hi = mid
    return lo, tried


def find_batch_size(model_factory: ModelFactory, *, input_size: int, num_classes: int,
                    device: str | torch.device = "cpu", max_batch: int = DEFAULT_MAX_BATCH,
                    amp_dtype: torch.dtype | None = None, channels_last: bool = False,
                    budget_bytes: float | None = None) -> BatchSizeResult:
    """The largest training batch for models from `model_factory` on `device`.

    `budget_bytes` (CPU only) defaults to half the RAM psutil reports available now.
    """
    device = torch.device(device)
    if device.type == "cuda":
        fits = _fits_cuda(model_factory, input_size, num_classes, device, amp_dtype, channels_last)
    else:
        fixed, per_sample = cpu_memory_estimate(model_factory, input_size, num_classes)
        budget = budget_bytes if budget_bytes is not None else \
            CPU_RAM_FRACTION * psutil.virtual_memory().available

        def fits(batch: int) -> bool:
            return fixed + per_sample * batch <= budget
    best, tried = search_batch_size(fits, max_batch=max_batch)
    limit = "max" if best >= max_batch else "memory"
    return BatchSizeResult(best, limit, tried, str(device))


def _smooth(losses: list[float], beta: float) -> list[float]:
    avg, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** i))
    return out


def suggest_lr(lrs: list[float], losses: list[float]) -> float:
    """The rate to train at, read off a smoothed LR range curve.

    When the loss clearly falls (by over 2%) before its minimum: the rate where it falls
    fastest against log(lr). When it never clearly falls (a hard task, too few steps): a
    tenth of the last rate before the loss rises 2% above its minimum, the usual rule of
    thumb for "just below where training becomes unstable". Skips the first tenth of the
    curve, where the moving average is still settling.
    """
    n = len(lrs)
    if n < 3:
        return lrs[0] if lrs else float("nan")
    best = int(np.argmin(losses))
    skip = n // 10
    if best - skip >= 2 and losses[skip] - losses[best] > 0.02 * abs(losses[skip]):
        lr = np.log10(np.asarray(lrs[skip:best + 1]))
        slope = np.gradient(np.asarray(losses[skip:best + 1]), lr)
        return float(10 ** lr[int(np.argmin(slope))])
    limit = losses[best] + 0.02 * abs(losses[best])
    edge = next((i for i in range(best, n) if losses[i] > limit), n) - 1
    return float(max(lrs[0], lrs[max(edge, 0)] / 10))


def lr_range_test(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  make_optimizer: Callable[[Iterable[nn.Parameter]], Any] | None = None, *,
                  min_lr: float = 1e-7, max_lr: float = 10.0, num_iter: int = 100,
                  beta: float = 0.98, diverge: float = 4.0,
                  loss_fn: Callable[..., torch.Tensor] | None = None) -> LRRangeResult:
    """Train `model` on `batches` (cycled) while the lr grows from min_lr to max_lr exponentially.

    Stops early when the smoothed loss exceeds `diverge` x its best so far, or turns NaN.
    The model's weights are changed: pass a fresh model.
    """
    if not 0 < min_lr < max_lr:
        raise ValueError("need 0 < min_lr < max_lr")
    loss_fn = loss_fn or nn.functional.cross_entropy
    opt = make_optimizer(model.parameters()) if make_optimizer else \
        torch.optim.SGD(model.parameters(), lr=min_lr, momentum=0.9)
    gamma = (max_lr / min_lr) ** (1 / max(1, num_iter - 1))
    lrs: list[float] = []
    raw: list[float] = []
    smooth: list[float] = []
    best = math.inf
    model.train()
    it = iter(())
    for i in range(num_iter):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(batches)
            x, y = next(it)
        lr = min_lr * gamma ** i
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        lrs.append(lr)
        raw.append(value)
        smooth = _smooth(raw, beta)
        best = min(best, smooth[-1])
        if i > 5 and smooth[-1] > diverge * best:
            break
    return LRRangeResult(lrs, smooth, suggest_lr(lrs, smooth))


def plot_lr_range(result: LRRangeResult, out: str | os.PathLike, title: str = "LR range test") -> Path:
    """Write the loss-vs-lr curve with the suggestion marked as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    ax.plot(result.lrs, result.losses, color="tab:blue")
    ax.axvline(result.suggested_lr, color="tab:red", linestyle="--",
               label=f"suggested lr = {result.suggested_lr:.2g}")
    ax.set_xscale("log")
    if result.losses:
        # The blow-up at the end would flatten the interesting part: cap the axis near the start.
        low, start = min(result.losses), result.losses[0]
        ax.set_ylim(low - 0.05 * (start - low + 1e-3), max(start, low) + 0.5 * (start - low + 1e-3))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    from kagglebench.atomic import replacing

    with replacing(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return out


# ------------------------------------------------------------------ a recipe in a workspace

def _recipe_model_factory(recipe: Recipe, num_classes: int, size: int) -> ModelFactory:
    import dataclasses

    from kagglebench.models import build_model

    # Memory does not depend on the weights' values: skip downloads and other runs' checkpoints.
    cfg = dataclasses.replace(recipe.model, pretrained=False, init_from="")
    return lambda: build_model(cfg, num_classes, size)


def recipe_batch_size(ws: Workspace, recipe: Recipe, *, max_batch: int = DEFAULT_MAX_BATCH,
                      budget_bytes: float | None = None) -> BatchSizeResult:
    """`find_batch_size` for a recipe's model, input size, precision and device in a workspace.

    Never more than the training split holds (a larger batch would be one partial step).
    """
    from kagglebench.runs import split_indices
    from kagglebench.train import build

    device = build.device_of(recipe)
    ds = ws.train_data()
    split = split_indices(ws, recipe.data)        # the split the run would train on
    num_classes = len(split.classes)
    size = recipe.data.input_size or int(ds.images.shape[1])
    n_train = len(split.train)
    res = find_batch_size(_recipe_model_factory(recipe, num_classes, size), input_size=size,
                          num_classes=num_classes, device=device, max_batch=min(max_batch, n_train),
                          amp_dtype=build.amp_dtype(recipe.train.amp, device),
                          channels_last=recipe.train.channels_last, budget_bytes=budget_bytes)
    if res.limit == "max" and n_train <= max_batch:
        res = res._replace(limit="data")
    return res


def recipe_lr_range(ws: Workspace, recipe: Recipe, *, min_lr: float = 1e-7, max_lr: float = 10.0,
                    num_iter: int = 100) -> LRRangeResult:
    """`lr_range_test` with the recipe's model (weights and init included), optimizer,
    augmentation, label smoothing and batch size, on the workspace's training split."""
    from functools import partial

    from kagglebench.data.pipeline import BatchPipeline, prepare_eval
    from kagglebench.models import build_model, init_from_data
    from kagglebench.train import build
    from kagglebench.train.augment import create_augment
    from kagglebench.train.optim import create_optimizer

    t, d = recipe.train, recipe.data
    device = build.device_of(recipe)
    build.seed_everything(t.seed, t.deterministic)
    data = build.load_data(ws, recipe, device)
    model = build_model(recipe.model, len(data.classes), data.size)
    if recipe.model.init_from:
        build.init_from(ws, recipe.model.init_from, model)
    model.to(device)
    init_from_data(model, prepare_eval(data.train_x[:512], data.mean, data.std, data.size, device))
    batches = BatchPipeline(data.train_x, data.train_y, min(t.batch_size, len(data.train_y)), shuffle=True,
                            drop_last=True, seed=t.seed, crop_padding=d.crop_padding, hflip=d.hflip,
                            vflip=d.vflip, mean=data.mean, std=data.std, size=data.size,
                            augment=create_augment(d), channels_last=t.channels_last, pad_mode=d.pad_mode)
    return lr_range_test(model, batches, lambda _: create_optimizer(build.param_groups(model, recipe),
                                                                    recipe.optim),
                         min_lr=min_lr, max_lr=max_lr, num_iter=num_iter,
                         loss_fn=partial(nn.functional.cross_entropy, label_smoothing=t.label_smoothing))
