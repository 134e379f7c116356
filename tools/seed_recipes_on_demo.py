"""Train seed recipes on the demo competition and record what they reach, for `recipes --table`.

The seed systems trained on CIFAR/STL-10, which cannot be downloaded here; the demo competition
(`kagglebench data demo`) is the data kagglebench can measure on. Each recipe trains as written
except: at most EPOCHS epochs, its schedule compressed into them (the reports' 20-200 do not fit a
shared 2-core CPU; --threads 1 keeps a measurement to one core), no ImageNet
weights (none can be downloaded: the pretrained recipes start from scratch here), and
convnet96-stl10 fine-tunes the demo's convnet96 run on 5 of the demo's classes (as seed 004
fine-tuned its CIFAR-100 network on STL-10's 5). Validation is each recipe's own choice
(held-out 20% for seeds 000-002, the labelled test split for 003-004). The figures are merged
into src/kagglebench/recipes/demo_measured.json (recipes not run keep their earlier entry).

    python tools/seed_recipes_on_demo.py [--epochs 3] [--train 1000] [--threads 1] [RECIPE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kagglebench.reproduction import SEED_SYSTEMS, demo_measured_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipes", nargs="*", help="default: every seed recipe")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--test", type=int, default=500)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from kagglebench.config import load_recipe
    from kagglebench.data.demo import write_demo
    from kagglebench.train.runner import train_run
    from kagglebench.workspace import Workspace

    names = args.recipes or [s.recipe for s in SEED_SYSTEMS]
    if "convnet96-stl10" in names and "convnet96" not in names:
        names.insert(names.index("convnet96-stl10"), "convnet96")
    path = demo_measured_path()
    doc = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    doc["setup"] = {
        "summary": f"`kagglebench data demo` with {args.classes} classes, {args.train} training and {args.test} "
                   "labelled test images; each recipe for the epochs listed (its own schedule compressed "
                   "into them); the ImageNet recipes start from scratch (no weights can be downloaded "
                   "here) (tools/seed_recipes_on_demo.py)",
        "classes": args.classes, "train": args.train, "test": args.test,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"}
    with tempfile.TemporaryDirectory(prefix="kb-seeds-demo-") as tmp:
        root = write_demo(Path(tmp) / "ws", classes=args.classes, train=args.train, test=args.test, seed=0, ood=False)
        ws = Workspace(root)
        run_ids: dict[str, str] = {}
        for name in names:
            recipe = load_recipe(name)
            over = [f"epochs={min(args.epochs, recipe.train.epochs)}", "model.pretrained=false"]
            if name == "convnet96-stl10":
                over += ["data.classes=" + ",".join(ws.train_data().classes[:5]),
                         f"model.init_from={run_ids['convnet96']}"]
            t0 = time.perf_counter()
            res = train_run(ws, load_recipe(name, over), name=f"demo-{name}")
            seconds = time.perf_counter() - t0
            run_ids[name] = res["id"]
            print(f"{name}: {res['status']} best val acc {res['best_val_acc']} in {seconds:.0f} s", flush=True)
            if res["status"] != "finished" or res["best_val_acc"] is None:
                continue
            doc["runs"][name] = {"val_acc": res["best_val_acc"], "epochs": res["epochs"],
                                 "seconds": round(seconds, 1), "torch_threads": torch.get_num_threads(),
                                 "overrides": [
                                     o if not o.startswith("model.init_from") else
                                     "model.init_from=<the convnet96 demo run>" for o in over],
                                 "measured": time.strftime("%Y-%m-%d")}
            path.write_text(json.dumps(doc, indent=2) + "\n")   # after each recipe: a long run can stop
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
