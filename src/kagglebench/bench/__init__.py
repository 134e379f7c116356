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

GOALS = {"loader_speedup": 12.0, "train_speedup_cpu": 1.25, "train_speedup_gpu": 5.0,
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


SIZES = {
    "full": Size(20_000, 128, {"simplecnn-3block": 16, "resnet18": 5}, 50_000, 950_000, 7, True,
                 3, {"simplecnn-3block": 4, "resnet18": 2}),
    "quick": Size(5_120, 128, {"simplecnn-3block": 12, "resnet18": 3}, 2_500, 950_000, 5, False,
                  2, {"simplecnn-3block": 3, "resnet18": 1}),
    "tiny": Size(64, 4, {"simplecnn-3block": 1, "resnet18": 1}, 10, 2_000, 1, False, 1, None, 1, 256),
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
    """Measure (a)-(f) at `size`; returns the JSON document `kagglebench bench --json` prints."""
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
    out["loader_speedup"] = out["loader"]["speedup"]
    out["train_speedup"] = min(t["speedup"] for t in out["train"].values())
    out["predict_speedup"] = out["predict"]["speedup"]
    return out


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
    lines += ["", "Ratios are measured side by side in this run; absolute figures move with the machine's load."]
    return "\n".join(lines)
