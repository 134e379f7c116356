"""`kagglebench bench`: kagglebench's speed against the seeds' own way, side by side in one run.

    result = run_bench("quick")        # "full", "quick", or "tiny" (the tests' size)
    print(format_table(result))

Every figure is a ratio measured in the same process on the same generated data (issue 7,
BENCHMARKS.md): the absolute numbers move with the machine's load, the ratios much less.
Importing this package imports torch; the CLI imports it inside its command.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GOALS = {"time_to_accuracy_speedup": 10.0, "loader_speedup": 12.0, "train_speedup_cpu": 1.25, "train_speedup_gpu": 5.0,
         "efficiency_cpu": 0.65, "efficiency_gpu": 0.30, "predict_speedup": 1.5,
         "predict_peak_rss_bytes": 1.5e9, "reensemble_s": 5.0, "startup_s": 0.5}


@dataclass(frozen=True)
class Size:
    """How much work each figure does."""
    loader_images: int      # training images generated (loader and training read the same set)
    batch: int              # batch size of the loader and of both training loops
    steps: dict             # timed training steps per model
    ood_per_file: int       # images per distortion file (19 files; DS-542 has 50,000)
    ensemble_rows: int      # cached logit rows per member (DS-542 has 950,000)
    startup_repeats: int
    ablation: bool = False  # also time kagglebench's loop with the other memory format
    eff_rounds: int = 3     # (c): alternating matmul / training timings, best of each
    eff_steps: dict | None = None   # (c): training steps per timing (default: the (b) steps)
    loader_rounds: int = 3  # (a): alternating passes of each side, best of each
    matmul_n: int = 2048    # (c): size of the square matmul that measures the peak (1024 ran
                            # 25-30% slower than 2048 in a side-by-side check here)
    tta: dict | None = None  # (g): demo data (classes, train, test) and the sides' overrides


# (g) on the demo competition. The seed side always trains for its recipe's 50 epochs except at
# the tests' size; kagglebench's candidates get the epochs their one-cycle schedules run over.
# `fast` (airbench94) at batch 32 (its 1,024 is larger than the data) with airbench's lr per
# example: 1.5 x 32 / 1024, its own 9.9 epochs.
TTA_CANDIDATES = {"demo-cnn": ["epochs=20"], "fast": ["batch_size=32", "lr=0.046875"]}


SIZES = {
    "full": Size(20_000, 128, {"simplecnn-3block": 16, "resnet18": 5}, 50_000, 950_000, 7, True,
                 3, {"simplecnn-3block": 4, "resnet18": 2},
                 tta={"classes": 10, "train": 1000, "test": 500, "seed": [], "candidates": TTA_CANDIDATES}),
    "quick": Size(5_120, 128, {"simplecnn-3block": 12, "resnet18": 3}, 2_500, 950_000, 5, False,
                  2, {"simplecnn-3block": 3, "resnet18": 1},
                  tta={"classes": 10, "train": 500, "test": 250, "seed": [], "candidates": TTA_CANDIDATES}),
    "tiny": Size(64, 4, {"simplecnn-3block": 1, "resnet18": 1}, 10, 2_000, 1, False, 1, None, 1, 256,
                 tta={"classes": 4, "train": 64, "test": 32, "seed": ["epochs=2"],
                      "candidates": {"demo-cnn": ["epochs=2", "batch_size=16"],
                                     "fast": ["epochs=1", "batch_size=16", "lr=0.0234375"]}}),
}

# kagglebench's training configuration on the CPU, chosen by profiling (BENCHMARKS.md): on this
# AVX-512 CPU oneDNN's channels_last (NHWC) convolutions beat NCHW ones (about 1.2x SimpleCNN,
# 1.6x ResNet-18 per step); the full run's ablation row re-measures it.
CPU_CHANNELS_LAST = True


def machine() -> dict[str, Any]:
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "device": "cpu",
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_bench(size: str = "quick", *, log: Callable[[str], None] = lambda s: None,
              workdir: str | None = None) -> dict[str, Any]:
    """Measure (a)-(g) at `size`; returns the JSON document `kagglebench bench --json` prints."""
    from kagglebench.bench import measure

    sz = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="kagglebench-bench-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        images, labels = measure.write_train_folder(tmp, sz.loader_images)
        out: dict[str, Any] = {"size": size, "machine": machine(), "settings": asdict(sz), "goals": GOALS}
        log(f"(a) input pipeline over {len(images)} images, {sz.loader_rounds} passes each side")
        out["loader"] = measure.loader(tmp, images, labels, sz.batch, rounds=sz.loader_rounds)
        out["train"] = {}
        for model, steps in sz.steps.items():
            log(f"(b) training {model}: {steps} steps of {sz.batch} images, both loops")
            out["train"][model] = measure.training(model, tmp, images, labels, steps=steps, batch=sz.batch,
                                                   channels_last=CPU_CHANNELS_LAST, ablation=sz.ablation)
        log(f"(c) efficiency: matmul and training timed alternately, {sz.eff_rounds} rounds each")
        out["efficiency"] = _efficiency(out["train"], images, labels, sz)
        log(f"(d) prediction over a 19 x {sz.ood_per_file:,}-image OOD folder, both ways")
        ood = measure.write_ood_folder(tmp / "ood-test", sz.ood_per_file)
        out["predict"] = measure.predict(ood, tmp)
        log(f"(e) re-ensembling 3 members over {sz.ensemble_rows:,} cached logits")
        out["reensemble"] = measure.reensemble(sz.ensemble_rows)
        log("(f) start-up of `kagglebench --help`")
        out["startup"] = measure.startup(sz.startup_repeats)
        out["time_to_accuracy"] = _time_to_accuracy(tmp, sz, log)
    out["loader_speedup"] = out["loader"]["speedup"]
    out["train_speedup"] = min(t["speedup"] for t in out["train"].values())
    out["predict_speedup"] = out["predict"]["speedup"]
    out["time_to_accuracy_speedup"] = out["time_to_accuracy"]["speedup"]
    return out


def _time_to_accuracy(tmp: Path, sz: Size, log: Callable[[str], None]) -> dict[str, Any]:
    """(g) on a demo workspace written for it (see bench/timetoacc.py)."""
    from kagglebench.bench import timetoacc
    from kagglebench.data.demo import write_demo
    from kagglebench.workspace import Workspace

    g = sz.tta
    root = write_demo(tmp / "tta-ws", classes=g["classes"], train=g["train"], test=g["test"], seed=0, ood=False)
    log(f"(g) time to accuracy on the demo ({g['train']} training images, {g['classes']} classes): "
        f"seed-style {timetoacc.SEED_RECIPE} vs kagglebench's {', '.join(g['candidates'])}, epochs alternating")
    return timetoacc.measure(root / "data", Workspace(root), g["classes"], candidates=tuple(g["candidates"]),
                             overrides=g["candidates"], seed_overrides=g["seed"], log=log)


def _efficiency(train: dict[str, Any], images: Any, labels: Any, sz: Size) -> dict[str, Any]:
    """(c) per model, from its own alternating matmul / training timings; the baseline's share
    uses its (b) rate over the best matmul rate seen in the whole figure."""
    from kagglebench.bench import measure

    out: dict[str, Any] = {}
    for model in train:
        steps = (sz.eff_steps or sz.steps)[model]
        out[model] = measure.efficiency(model, images, labels, batch=sz.batch, steps=steps,
                                        rounds=sz.eff_rounds, channels_last=CPU_CHANNELS_LAST,
                                        matmul_n=sz.matmul_n)
    peak = max(e["matmul_flops_per_s"] for e in out.values())
    out["matmul_flops_per_s"] = peak
    for model, t in train.items():
        out[model]["baseline_efficiency"] = out[model]["train_flops_per_image"] * t["baseline"]["images_per_s"] / peak
    return out


def _mark(ok: bool) -> str:
    return "yes" if ok else "NO"


def format_table(r: dict[str, Any]) -> str:
    """The human-readable table `kagglebench bench` prints."""
    g, m = r["goals"], r["machine"]
    lines = [f"kagglebench bench ({r['size']}) on {m['cores']} CPU cores, torch {m['torch']}, "
             f"{m['torch_threads']} threads" + (f", GPU {m['gpu']}" if m["gpu"] else ", no GPU"),
             "", f"{'figure':<36}{'baseline':>14}{'kagglebench':>14}{'ratio':>9}  goal met",
             "-" * 82]
    ld = r["loader"]
    lines.append(f"{'(a) input pipeline, images/s':<36}{ld['baseline']['images_per_s']:>14,.0f}"
                 f"{ld['kagglebench']['images_per_s']:>14,.0f}{ld['speedup']:>8.1f}x  "
                 f"{_mark(ld['speedup'] >= g['loader_speedup'])} (>= {g['loader_speedup']:g}x)")
    for model, t in r["train"].items():
        b, k = t["baseline"], t["kagglebench"]
        lines.append(f"{'(b) train ' + model + ', images/s':<36}{b['images_per_s']:>14,.1f}"
                     f"{k['images_per_s']:>14,.1f}{t['speedup']:>8.2f}x  "
                     f"{_mark(t['speedup'] >= g['train_speedup_cpu'])} (>= {g['train_speedup_cpu']:g}x)")
        lines.append(f"{'    s/epoch (50,000 images)':<36}{b['s_per_epoch']:>14,.0f}{k['s_per_epoch']:>14,.0f}")
        for side in [s for s in t if s.startswith("kagglebench_")]:
            label = "    kagglebench " + side.split("_", 1)[1].replace("_", " ") + ", images/s"
            lines.append(f"{label:<36}{'':>14}{t[side]['images_per_s']:>14,.1f}"
                         f"{t[side]['images_per_s'] / b['images_per_s']:>8.2f}x")
    eff = r["efficiency"]
    lines.append(f"{'(c) matmul peak, GFLOP/s':<36}{'':>14}{eff['matmul_flops_per_s'] / 1e9:>14,.1f}")
    for model in r["train"]:
        e = eff[model]
        lines.append(f"{'    ' + model + ' of peak':<36}{e['baseline_efficiency']:>14.0%}{e['efficiency']:>14.0%}"
                     f"{'':>9}  {_mark(e['efficiency'] >= g['efficiency_cpu'])} (>= {g['efficiency_cpu']:.0%})")
    p = r["predict"]
    lines.append(f"{'(d) predict OOD folder, images/s':<36}{p['starter']['images_per_s']:>14,.0f}"
                 f"{p['kagglebench']['images_per_s']:>14,.0f}{p['speedup']:>8.1f}x  "
                 f"{_mark(p['speedup'] >= g['predict_speedup'])} (>= {g['predict_speedup']:g}x)")
    rss_ok = p["kagglebench"]["peak_rss_bytes"] < g["predict_peak_rss_bytes"]
    lines.append(f"{'    peak RSS, MB':<36}{p['starter']['peak_rss_bytes'] / 1e6:>14,.0f}"
                 f"{p['kagglebench']['peak_rss_bytes'] / 1e6:>14,.0f}{'':>9}  {_mark(rss_ok)} (< 1500 MB)"
                 f" over {p['kagglebench']['images']:,} images")
    e = r["reensemble"]
    lines.append(f"{'(e) re-ensemble 3 members, s':<36}{'':>14}{e['seconds']:>14.2f}{'':>9}  "
                 f"{_mark(e['seconds'] < g['reensemble_s'])} (< {g['reensemble_s']:g} s) over {e['rows']:,} rows")
    s = r["startup"]
    lines.append(f"{'(f) kagglebench --help, s (best)':<36}{'':>14}{s['best_s']:>14.2f}{'':>9}  "
                 f"{_mark(s['best_s'] < g['startup_s'])} (< {g['startup_s']:g} s)")
    lines += _tta_lines(r["time_to_accuracy"], g)
    lines += ["", "Ratios are measured side by side in this run; absolute figures move with the machine's load."]
    return "\n".join(lines)


def _tta_lines(t: dict[str, Any], g: dict[str, Any]) -> list[str]:
    s = t["seed"]
    lines = [f"{'(g) time to ' + format(t['target_acc'], '.1%') + ' val acc, s':<36}{s['seconds']:>14,.1f}"
             + (f"{t['seconds_to_target']:>14,.1f}{t['speedup']:>8.1f}x  "
                f"{_mark(t['speedup'] >= g['time_to_accuracy_speedup'])} (>= {g['time_to_accuracy_speedup']:g}x)"
                if t["speedup"] else f"{'not reached':>14}{'':>9}  NO")]
    lines.append(f"{'    seed ' + s['recipe'] + ', ended at':<36}{s['final_val_acc']:>14.1%}"
                 f"  after {s['epochs']} epochs (batch {s['batch_size']})")
    for name, k in t["kagglebench"].items():
        hit = k["reached"]
        when = f"reached it in epoch {hit['epoch']}" if hit else "did not reach it"
        lines.append(f"{'    kagglebench ' + name + ', ended at':<36}{'':>14}{k['final_val_acc']:>14.1%}"
                     f"  after {k['epochs']} epochs; {when}")
    return lines
