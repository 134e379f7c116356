"""`kagglebench demo [DIR]`: the whole pipeline on the built-in demo competition.

Builds the demo competition (or reuses it), trains three short runs, evaluates each with
the local out-of-distribution estimate, writes their reports, ensembles the top three,
writes the submission CSV and dry-runs the submission, scoring it against the demo's
answer key — the loop a student repeats on a real competition, in a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Three short runs that differ the way a student's first runs do: a second seed and a
# regularised variant. Short enough that the whole demo takes a few minutes on 2 CPU cores.
DEMO_RUNS = [
    ("demo-cnn", "demo-cnn", []),
    ("demo-cnn-seed1", "demo-cnn", ["seed=1"]),
    ("demo-cnn-mixup", "demo-cnn", ["seed=2", "train.mixup_alpha=0.2"]),
]
OOD_SAMPLES = 200  # validation images per corruption and severity for the local OOD estimate


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="run the whole pipeline on the demo competition",
                       description="Build the demo competition in DIR (or reuse it), train three short runs, "
                                   "evaluate them with the local out-of-distribution estimate, write their "
                                   "reports, ensemble the top three and dry-run the submission, scored "
                                   "against the demo's answer key. Takes a few minutes on a CPU.")
    p.add_argument("dir", nargs="?", default="demo-workspace", metavar="DIR",
                   help="where the demo workspace lives (default: ./demo-workspace)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the recipe's)")
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(f"\n== {msg}", file=sys.stderr, flush=True)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}%"


def run(args: argparse.Namespace) -> int:
    from kagglebench.config import load_recipe
    from kagglebench.data.demo import write_demo
    from kagglebench.ensemble import from_request
    from kagglebench.evaluate.report import write_report
    from kagglebench.evaluate.runner import evaluate_run
    from kagglebench.kaggle.submit import submit
    from kagglebench.workspace import find_workspace

    root = Path(args.workspace or args.dir)
    if not (root / "kagglebench.toml").exists():
        _say(f"building the demo competition in {root}")
        write_demo(root)
    ws = find_workspace(str(root))
    print(f"demo competition: {ws.root}", flush=True)
    print(f"  {_describe(ws)}", flush=True)

    from kagglebench.train.runner import train_run

    rows = []
    for name, recipe_name, overrides in DEMO_RUNS:
        extra = [f"epochs={args.epochs}"] if args.epochs else []
        _say(f"training {name} ({recipe_name} {' '.join(overrides + extra)})")
        result = train_run(ws, load_recipe(recipe_name, overrides + extra), name=name)
        if result["status"] != "finished":
            print(f"run {result['id']} ended {result['status']}: {result.get('message') or ''}", file=sys.stderr)
            return 1
        _say(f"evaluating {result['id']} with the local out-of-distribution estimate")
        ev = evaluate_run(ws, result["id"], with_ood=True, ood_samples=OOD_SAMPLES)
        report = write_report(ws, result["id"])
        rows.append((result["id"], (ev["val_acc"], ev["val_ci"]), (ev["ood_acc"], ev["ood_ci"]), report["report"]))

    _say("ensembling the top three runs")
    ens = from_request(ws, top=3)
    _say("writing and dry-running the submission")
    sub = submit(ws, message="kagglebench demo: top-3 ensemble", ensemble="top3", dry_run=True)

    hidden = hidden_score(sub["file"], ws.answer_key())
    print("\n" + _table(rows, ens, sub, hidden))
    print(f"\nsubmission CSV: {sub['file']}")
    print("next: `kagglebench runs`, `kagglebench gui`, or open a run's report.md above")
    return 0


def _describe(ws) -> str:
    train = ws.train_data()
    return (f"{len(train.images):,} training images of {train.images.shape[1]}x{train.images.shape[2]} in "
            f"{len(train.classes)} classes; {ws.test_size():,} test images to predict "
            f"(profile {ws.profile.name})")


def _est(pair: tuple) -> str:
    """`61.2% [57.0, 65.3]`: an accuracy and its 95% interval."""
    from kagglebench.evaluate.intervals import fmt_ci

    acc, ci = pair
    return f"{_pct(acc)} {fmt_ci(ci)}" if acc is not None else "-"


def hidden_score(csv_path: str, key: str | None) -> tuple[float, list[float], int] | None:
    """(score, 95% interval, base images) of the submission on the demo's hidden answer key, the
    interval a bootstrap over the hidden set's base images (ids distortionNN_S_I share image I)."""
    import csv

    import numpy as np

    from kagglebench.evaluate.intervals import bootstrap_ci

    if not key or not Path(key).exists():
        return None
    with open(key, newline="") as f:
        truth = {r[0]: r[1].strip() for i, r in enumerate(csv.reader(f)) if i and len(r) >= 2}
    per_image: dict[str, list[bool]] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        for i, r in enumerate(csv.reader(f)):
            if i and len(r) >= 2 and r[0] in truth:
                per_image.setdefault(r[0].rsplit("_", 1)[-1], []).append(truth[r[0]] == r[1].strip())
    if not per_image:
        return None
    means = np.array([np.mean(v) for v in per_image.values()])
    score = float(np.mean([x for v in per_image.values() for x in v]))
    return score, list(bootstrap_ci(means)), len(means)


def _table(rows: list[tuple], ens, sub: dict, hidden: tuple | None = None) -> str:
    w = 22
    lines = [f"{'':24} {'validation':>{w}} {'local OOD estimate':>{w}}  report",
             f"{'':24} {'(95% interval)':>{w}} {'(95% interval)':>{w}}"]
    for rid, val, ood, report in rows:
        lines.append(f"{rid:24} {_est(val):>{w}} {_est(ood):>{w}}  {report}")
    members = ", ".join(m.run for m in ens.members)
    lines.append(f"{'ensemble (top 3)':24} {_pct(ens.val_acc):>{w}} {_est((ens.ood_acc, ens.ood_ci)):>{w}}  "
                 f"members: {members}")
    if hidden is None:
        lines.append(f"{'dry-run submission':24} {_pct(sub['local_score']):>{w}}")
        return "\n".join(lines)
    score, ci, n = hidden
    lines.append(f"{'dry-run submission':24} {'':>{w}} {_est((score, ci)):>{w}}  scored on the hidden answer key "
                 f"({n} base images x 95; the stand-in for Kaggle's leaderboard)")
    lo, hi = ens.ood_ci or (None, None)
    if lo is not None:
        inside = lo <= score <= hi
        lines.append(f"the dry-run score {'falls inside' if inside else 'falls OUTSIDE'} the ensemble's local OOD "
                     f"interval [{lo:.1%}, {hi:.1%}]" + ("" if inside else
                     f": both are estimates from a few hundred base images, and the hidden score's own "
                     f"interval is {_est((score, ci))}; see README.md, 'A tour'"))
    return "\n".join(lines)
