"""The figures of `kagglebench bench`, each measured side by side with its baseline.

(a) `loader`: images/s of kagglebench's BatchPipeline vs the seeds' per-sample torchvision
pipeline. (b) `training`: kagglebench's `train_one_epoch` over the BatchPipeline vs the seeds'
plain fp32 NCHW loop over (a)'s baseline. (c) `flops_per_image` / `matmul_flops`: the
efficiency figure. (d) `predict` (in child processes, for peak RSS): memory-mapped, one file
at a time vs the DS-542 starter. (e) `reensemble`: three members over cached float16 logits.
(f) `startup`: `kagglebench --help`. Timings exclude one warm-up step or batch on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kagglebench.bench import baselines
from kagglebench.data.pipeline import CIFAR100_MEAN, CIFAR100_STD

MEAN, STD = CIFAR100_MEAN, CIFAR100_STD


# -- data -------------------------------------------------------------------------------------
def write_train_folder(root: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A `cifar-100-python` folder of `n` random training images, written by kagglebench's
    CIFAR-100 writer (Python 2-style pickles that torchvision's CIFAR100 class reads too);
    returns (images, labels)."""
    from kagglebench.data.writers import write_cifar100

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    fine = rng.integers(0, 100, n)
    test = (images[:10], fine[:10], fine[:10] // 5)
    write_cifar100(root / "cifar-100-python", (images, fine, fine // 5), test,
                   [f"class{i}" for i in range(100)], [f"super{i}" for i in range(20)])
    return images, fine.astype(np.int64)


def write_ood_folder(root: Path, per_file: int, files: int = 19, seed: int = 0) -> Path:
    """A DS-542-shaped OOD folder (`files` x `per_file` images) through kagglebench's writer."""
    from kagglebench.data.writers import write_ood_file

    rng = np.random.default_rng(seed)
    for k in range(files):
        write_ood_file(root / f"distortion{k:02d}.npy",
                       rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8))
    return root


def _pipeline(images: np.ndarray, labels: np.ndarray, batch: int, channels_last: bool = False) -> Any:
    from kagglebench.data.pipeline import BatchPipeline

    return BatchPipeline(images, labels, batch, shuffle=True, drop_last=True, seed=0, crop_padding=4,
                         hflip=True, mean=MEAN, std=STD, size=None, channels_last=channels_last)


# -- (a) input pipeline -----------------------------------------------------------------------
def _rate(batches: Any) -> dict[str, float]:
    """Images/s over an iterator of (x, y), the first batch (start-up) excluded."""
    it = iter(batches)
    next(it)
    t0, n = time.perf_counter(), 0
    for _, y in it:
        n += len(y)
    return {"images": n, "seconds": time.perf_counter() - t0,
            "images_per_s": n / max(1e-9, time.perf_counter() - t0)}


def loader(root: Path, images: np.ndarray, labels: np.ndarray, batch: int = 128, rounds: int = 1
           ) -> dict[str, Any]:
    """One pass of each side per round, the sides alternating (so a change in the machine's
    load hits both), and the best pass of each side."""
    base, ours = [], []
    for _ in range(rounds):
        base.append(_rate(baselines.seed_loader(root, MEAN, STD, batch_size=batch)))
        ours.append(_rate(_pipeline(images, labels, batch)))
    b, o = (max(r, key=lambda x: x["images_per_s"]) for r in (base, ours))
    return {"baseline": b, "kagglebench": o, "rounds": rounds,
            "speedup": o["images_per_s"] / max(1e-9, b["images_per_s"])}


# -- (b) training -----------------------------------------------------------------------------
MODELS = {"simplecnn-3block": ["model=simplecnn-3block"],
          "resnet18": ["model=resnet18", "model.cifar_stem=true"]}


def bench_recipe(model: str, batch: int, channels_last: bool) -> Any:
    """The seed 000 recipe with the model swapped and the optimizer matched to the baseline's
    (SGD, Nesterov momentum 0.9, weight decay 5e-4, constant lr 0.05)."""
    from kagglebench.config import load_recipe

    return load_recipe("simplecnn-3block", [*MODELS[model], f"batch_size={batch}", "optim.name=sgd",
                                            "optim.lr=0.05", "optim.momentum=0.9", "optim.nesterov=true",
                                            "optim.weight_decay=5e-4", "schedule.name=none",
                                            f"train.channels_last={str(channels_last).lower()}"])


def kagglebench_train(recipe: Any, images: np.ndarray, labels: np.ndarray, steps: int, *, rounds: int = 1,
                      between: Callable[[], Any] | None = None) -> dict[str, Any]:
    """kagglebench's own loop (`train.loop.train_one_epoch`) over the BatchPipeline: one
    untimed warm-up step, then `rounds` timings of `steps` steps ("seconds" is the best),
    calling `between()` between two timings."""
    from kagglebench.models import build_model
    from kagglebench.train import build, loop
    from kagglebench.train.optim import create_optimizer

    torch.manual_seed(0)
    raw = build_model(recipe.model, 100, 32)
    cl = recipe.train.channels_last
    if cl:
        raw = raw.to(memory_format=torch.channels_last)
    parts = loop.Parts(model=raw, raw=raw, device=torch.device("cpu"),
                       optimizer=create_optimizer(build.param_groups(raw, recipe), recipe.optim))
    pipe = _pipeline(images, labels, recipe.train.batch_size, cl)
    schedule = loop.Schedule(recipe, len(pipe), len(pipe) * 100)
    state = loop.TrainState()
    kw = {"schedule": schedule, "num_classes": 100, "log_every": 10}
    loop.train_one_epoch(parts, state, recipe, islice(iter(pipe), 1), **kw)
    times = []
    for r in range(rounds):
        if r and between is not None:
            between()
        t0 = time.perf_counter()
        out = loop.train_one_epoch(parts, state, recipe, islice(iter(pipe), steps), **kw)
        times.append(time.perf_counter() - t0)
    return {"images": steps * recipe.train.batch_size, "seconds": min(times), "rounds": times,
            "train_loss": out["train_loss"]}


def baseline_train(recipe: Any, root: Path, steps: int) -> dict[str, float]:
    from kagglebench.models import build_model

    torch.manual_seed(0)
    model = build_model(recipe.model, 100, 32)
    return baselines.plain_train(model, baselines.seed_loader(root, MEAN, STD, recipe.train.batch_size),
                                 steps)


def training(model: str, root: Path, images: np.ndarray, labels: np.ndarray, *, steps: int,
             batch: int, channels_last: bool, ablation: bool = False) -> dict[str, Any]:
    """Images/s and projected seconds per 50,000-image epoch, both loops, same batch and steps;
    with `ablation`, also kagglebench's loop with the other memory format."""
    recipe = bench_recipe(model, batch, channels_last)
    out: dict[str, Any] = {"batch_size": batch, "steps": steps, "channels_last": channels_last}
    runs = [("baseline", lambda: baseline_train(recipe, root, steps)),
            ("kagglebench", lambda: kagglebench_train(recipe, images, labels, steps))]
    if ablation:
        # What each change buys: the batched loader alone (NCHW), then channels_last on top.
        other = bench_recipe(model, batch, not channels_last)
        runs.append((f"kagglebench_{'nchw' if channels_last else 'channels_last'}",
                     lambda: kagglebench_train(other, images, labels, steps)))
    for side, fn in runs:
        res = fn()
        rate = res["images"] / max(1e-9, res["seconds"])
        out[side] = {"images_per_s": rate, "s_per_epoch": 50_000 / rate, "seconds": res["seconds"]}
    out["speedup"] = out["kagglebench"]["images_per_s"] / max(1e-9, out["baseline"]["images_per_s"])
    return out


# -- (c) efficiency -----------------------------------------------------------------------------
def flops_per_image(model: str, batch: int = 8) -> float:
    """Training FLOPs per image (forward + backward), counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    from kagglebench.models import build_model

    net = build_model(bench_recipe(model, batch, False).model, 100, 32)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 100, (batch,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    return counter.get_total_flops() / batch


def efficiency(model: str, images: np.ndarray, labels: np.ndarray, *, batch: int, steps: int, rounds: int,
               channels_last: bool, matmul_n: int = 2048) -> dict[str, Any]:
    """Achieved training FLOP/s of kagglebench's loop over the measured matmul FLOP/s, the two
    timed alternately (matmul, training, matmul, ...) and the best of each taken, so that a
    change in the machine's load hits both sides of the ratio."""
    peaks = [matmul_flops(matmul_n)]
    res = kagglebench_train(bench_recipe(model, batch, channels_last), images, labels, steps, rounds=rounds,
                            between=lambda: peaks.append(matmul_flops(matmul_n)))
    peaks.append(matmul_flops(matmul_n))
    per_image = flops_per_image(model)
    rate = res["images"] / max(1e-9, res["seconds"])
    return {"train_flops_per_image": per_image, "images_per_s": rate, "achieved_flops_per_s": per_image * rate,
            "matmul_flops_per_s": max(peaks), "efficiency": per_image * rate / max(peaks),
            "matmul_rounds": peaks, "train_rounds_s": res["rounds"], "steps": steps}


def matmul_flops(n: int = 2048, repeats: int = 3) -> float:
    """The device's measured fp32 matmul FLOP/s: best of `repeats` timings of n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / 4)
    return 2 * n ** 3 / best


# -- (d) prediction over the OOD folder ---------------------------------------------------------
def predict(ood_dir: Path, tmp: Path, batch: int = 512) -> dict[str, Any]:
    """Both ways in their own child processes (so each one's peak RSS is its own)."""
    torch.manual_seed(0)
    weights = tmp / "predict-model.pt"
    torch.save(predict_model().state_dict(), weights)
    out: dict[str, Any] = {"model": PREDICT_MODEL}
    for way in ("starter", "kagglebench"):
        preds = tmp / f"predict-{way}.npy"
        proc = subprocess.run([sys.executable, "-m", "kagglebench.bench._child", way, str(ood_dir), str(weights),
                               str(batch), str(preds)], capture_output=True, text=True, check=False,
                              env=_child_env())
        if proc.returncode != 0:
            raise RuntimeError(f"prediction child ({way}) failed:\n{proc.stderr[-2000:]}")
        out[way] = json.loads(proc.stdout)
    a, b = np.load(tmp / "predict-starter.npy"), np.load(tmp / "predict-kagglebench.npy")
    # kagglebench caches float16 logits, so a near-tie may round the other way: compare, not equate.
    out["agreement"] = float((a == b).mean()) if len(a) == len(b) else 0.0
    out["speedup"] = out["kagglebench"]["images_per_s"] / max(1e-9, out["starter"]["images_per_s"])
    return out


PREDICT_MODEL = "linear probe on 4x4-pooled pixels"


class _OneThread(torch.nn.Module):
    """Runs the wrapped module single-threaded. The probe's ops are tiny; split over OpenMP
    threads on a shared machine they waited on descheduled threads (a 512 x 192 x 100 matmul
    took 35 ms), and that noise, paid equally by both ways, drowned the input path (d) measures."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from kagglebench.devices import one_cpu_thread

        with one_cpu_thread():
            return self.inner(x)


def predict_model() -> torch.nn.Module:
    """A tiny classifier (about 20 kFLOP per image), so that prediction measures the input path
    (reading, converting, normalizing, batching) rather than the network."""
    return _OneThread(torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten(),
                                          torch.nn.Linear(3 * 8 * 8, 100)))


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# -- (e) re-ensembling --------------------------------------------------------------------------
def reensemble(rows: int = 950_000, members: int = 3, classes: int = 100, chunk: int = 50_000) -> dict[str, Any]:
    """Softmax, weighted combination and argmax of `members` cached float16 logit matrices
    with kagglebench.ensemble's functions, a DS-542 file (50,000 rows) at a time so the
    float64 probabilities never exceed a few hundred MB."""
    from kagglebench.ensemble import combine, softmax

    rng = np.random.default_rng(0)
    logits = [rng.standard_normal((rows, classes), dtype=np.float32).astype(np.float16) for _ in range(members)]
    weights = [1.0 / members] * members
    t0 = time.perf_counter()
    labels = np.empty(rows, dtype=np.int64)
    for i in range(0, rows, chunk):
        probs = [softmax(z[i:i + chunk]) for z in logits]
        labels[i:i + chunk] = combine(probs, weights).argmax(axis=1)
    seconds = time.perf_counter() - t0
    return {"rows": rows, "members": members, "seconds": seconds, "rows_per_s": rows / max(1e-9, seconds)}


# -- (f) start-up -------------------------------------------------------------------------------
def startup(repeats: int = 5, argv: Sequence[str] = ("--help",)) -> dict[str, Any]:
    """Best and median wall time of `python -m kagglebench --help` in a fresh process."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kagglebench", *argv], capture_output=True, check=True,
                       env=_child_env())
        times.append(time.perf_counter() - t0)
    return {"best_s": min(times), "median_s": float(np.median(times)), "repeats": repeats}
