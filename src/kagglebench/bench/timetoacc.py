"""(g) time to accuracy, as airbench reports speed: how long until a model is as good as the seeds' one.

The seed side is seed 000's SimpleCNN 3-block trained the way its report trains it (its recipe's
optimizer, schedule, batch size and epochs) through the seeds' per-sample PIL pipeline and plain
fp32 loop (`baselines.seed_epoch`), on the demo competition's CIFAR-100 folder; it ends at
accuracy A on the labelled test split after T seconds of training. kagglebench's side trains
each candidate recipe with kagglebench's own trainer (`train_run`, one epoch per call and
resumed, validation on the same test split) and t is the training time until its validation
accuracy first reaches A. Evaluation (every epoch on both sides) is left out of both times, as
airbench leaves it out; kagglebench's time is what its trainer measured for the steps of each
epoch (the batch pipeline included). The two sides alternate epoch by epoch, so a change in the
machine's load falls on both. Both sides run their training with one torch thread (the seed
side's DataLoader workers are processes of their own, as in the seeds): on a shared machine
two OpenMP threads spend much of a small step waiting for each other, and that noise, paid
unequally by two differently sized steps, would blur the ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

SEED_RECIPE = "simplecnn-3block"
CANDIDATES = ("fast", "demo-cnn")   # kagglebench's recipes for the demo data; the fastest to A counts


def seed_optimizer(model: torch.nn.Module, recipe: Any) -> tuple[Any, Any]:
    """Seed 000's optimizer and schedule as its report writes them: Adam (lr, L2 weight decay)
    and StepLR stepped once per epoch."""
    o, s = recipe.optim, recipe.schedule
    if o.name != "adam" or s.name != "step":
        raise ValueError(f"the seed loop is seed 000's (Adam + StepLR), not {o.name} + {s.name}")
    opt = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)


def seed_style(root: Path, recipe: Any, classes: int) -> Iterator[dict[str, Any]]:
    """The seed loop, one epoch per item: {"epoch", "train_s", "val_acc"}."""
    from kagglebench.bench import baselines
    from kagglebench.models import build_model

    d, t = recipe.data, recipe.train
    torch.manual_seed(t.seed)
    model = build_model(recipe.model, classes, 32)
    opt, sched = seed_optimizer(model, recipe)
    train = baselines.seed_loader(root, d.mean, d.std, batch_size=t.batch_size, drop_last=False,
                                  padding=d.crop_padding)
    test = baselines.seed_test_loader(root, d.mean, d.std)
    for epoch in range(1, t.epochs + 1):
        t0 = time.perf_counter()
        baselines.seed_epoch(model, train, opt)
        sched.step()
        train_s = time.perf_counter() - t0
        yield {"epoch": epoch, "train_s": train_s, "val_acc": baselines.seed_accuracy(model, test)}


def kagglebench_side(ws: Workspace, name: str, overrides: list[str]) -> Iterator[dict[str, Any]]:
    """`name` trained by kagglebench's trainer one epoch at a time (stop after the epoch's last
    step, then resume): {"epoch", "train_s", "val_acc"} per epoch, from the run's epoch records
    (train_s = the epoch's images / its measured images per second)."""
    from kagglebench.config import load_recipe
    from kagglebench.store import Store
    from kagglebench.train.runner import train_run

    recipe = load_recipe(name, ["data.val_split=test", *overrides])
    n = len(ws.train_data())
    bs = recipe.train.batch_size
    steps = n // bs if recipe.train.drop_last else -(-n // bs)
    images = steps * bs if recipe.train.drop_last else n
    run_id = None
    for epoch in range(1, recipe.train.epochs + 1):
        if run_id is None:
            res = train_run(ws, recipe, name=f"bench-{name}", stop_after_steps=steps)
        else:
            res = train_run(ws, run_id=run_id, stop_after_steps=steps * epoch)
        run_id = res["id"]
        if res["status"] not in ("stopped", "finished"):
            raise RuntimeError(f"bench run of {name} ended {res['status']}: {res.get('message')}")
        with Store(ws.db_path) as store:
            row = [r for r in store.metrics_since(run_id, scope="epoch") if r["epoch"] == epoch][-1]
        yield {"epoch": epoch, "train_s": images / row["images_per_s"], "val_acc": row["val_acc"]}
        if res["status"] == "finished":
            return


def first_reaching(curve: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    spent = 0.0
    for row in curve:
        spent += row["train_s"]
        if row["val_acc"] >= target - 1e-12:
            return {"epoch": row["epoch"], "seconds": spent, "val_acc": row["val_acc"]}
    return None


def measure(root: Path, ws: Workspace, classes: int, *, candidates: tuple[str, ...] = CANDIDATES,
            overrides: dict[str, list[str]] | None = None, seed_overrides: list[str] = (),
            log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Both sides, alternating epoch by epoch; the JSON-ready figure (g)."""
    from kagglebench.config import load_recipe

    seed_recipe = load_recipe(SEED_RECIPE, list(seed_overrides))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _measure(root, ws, classes, seed_recipe, candidates, overrides or {}, log)
    finally:
        torch.set_num_threads(threads)


def _measure(root: Path, ws: Workspace, classes: int, seed_recipe: Any, candidates: tuple[str, ...],
             overrides: dict[str, list[str]], log: Callable[[str], None]) -> dict[str, Any]:
    sides: dict[str, Iterator[dict[str, Any]]] = {"seed": seed_style(root, seed_recipe, classes)}
    for name in candidates:
        sides[name] = kagglebench_side(ws, name, overrides.get(name, []))
    curves: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    while sides:
        for key in list(sides):
            row = next(sides[key], None)
            if row is None:
                del sides[key]
                continue
            curves[key].append(row)
            log(f"(g) {key} epoch {row['epoch']}: val_acc {row['val_acc']:.4f} after "
                f"{sum(r['train_s'] for r in curves[key]):.1f} s of training")
    seed = curves.pop("seed")
    target = seed[-1]["val_acc"]
    total = sum(r["train_s"] for r in seed)
    out: dict[str, Any] = {
        "torch_threads": 1,
        "data": {"classes": classes, "train_images": len(ws.train_data()), "val_images": len(ws.labelled_test())},
        "seed": {"recipe": SEED_RECIPE, "epochs": len(seed), "final_val_acc": target, "seconds": total,
                 "batch_size": seed_recipe.train.batch_size, "curve": seed},
        "target_acc": target, "kagglebench": {}}
    best = None
    for name, curve in curves.items():
        hit = first_reaching(curve, target)
        out["kagglebench"][name] = {"epochs": len(curve), "final_val_acc": curve[-1]["val_acc"],
                                    "seconds_total": sum(r["train_s"] for r in curve), "reached": hit,
                                    "curve": curve}
        if hit is not None and (best is None or hit["seconds"] < out["kagglebench"][best]["reached"]["seconds"]):
            best = name
    out["best_recipe"] = best
    out["seconds_to_target"] = out["kagglebench"][best]["reached"]["seconds"] if best else None
    out["speedup"] = total / out["seconds_to_target"] if best else None
    return out
