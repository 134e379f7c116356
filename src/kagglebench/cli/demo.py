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
        rows.append((result["id"], ev["val_acc"], ev["ood_acc"], report["report"]))

    _say("ensembling the top three runs")
    ens = from_request(ws, top=3)
    _say("writing and dry-running the submission")
    sub = submit(ws, message="kagglebench demo: top-3 ensemble", ensemble="top3", dry_run=True)

    print("\n" + _table(rows, ens, sub))
    print(f"\nsubmission CSV: {sub['file']}")
    print("next: `kagglebench runs`, `kagglebench gui`, or open a run's report.md above")
    return 0


def _describe(ws) -> str:
    train = ws.train_data()
    return (f"{len(train.images):,} training images of {train.images.shape[1]}x{train.images.shape[2]} in "
            f"{len(train.classes)} classes; {ws.test_size():,} test images to predict "
            f"(profile {ws.profile.name})")


def _table(rows: list[tuple], ens, sub: dict) -> str:
    lines = [f"{'':24} {'validation':>10} {'local OOD':>10}  report"]
    for rid, val, ood, report in rows:
        lines.append(f"{rid:24} {_pct(val):>10} {_pct(ood):>10}  {report}")
    members = ", ".join(m.run for m in ens.members)
    lines.append(f"{'ensemble (top 3)':24} {_pct(ens.val_acc):>10} {_pct(ens.ood_acc):>10}  members: {members}")
    lines.append(f"{'dry-run submission':24} {_pct(sub['local_score']):>10} {'':>10}  "
                 "scored on the hidden demo answer key (the stand-in for Kaggle's leaderboard)")
    return "\n".join(lines)
