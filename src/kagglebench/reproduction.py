"""The seed systems and what their reports claim, beside what kagglebench measured.

`SEED_SYSTEMS` lists each system of ../shared/seeds/ with its built-in recipe and the report's
own figures (accuracy, Kaggle score, parameter count where stated). `kagglebench recipes
--table` prints them with kagglebench's measured figures: on real data from the workspace's
own finished runs of that recipe ("not measured here" without one), and on the demo
competition from `recipes/demo_measured.json`, which `tools/seed_recipes_on_demo.py` writes
by training each recipe there. No torch import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


@dataclass(frozen=True)
class SeedSystem:
    seed: str                  # the report's number in ../shared/seeds/
    recipe: str
    data: str                  # what the report trained on
    profile: str               # the kagglebench profile of that data
    classes: int
    report_acc: str            # as the report gives it, with what it measured
    report_kaggle: str = ""    # the report's Kaggle leaderboard figure, where given
    report_params: int = 0     # the report's parameter count, where stated


SEED_SYSTEMS = [
    SeedSystem("000", "simplecnn-3block", "CIFAR-100", "ds542-sp25", 100, "~60% val"),
    SeedSystem("000", "resnet34-scratch", "CIFAR-100", "ds542-sp25", 100, "~49% val"),
    SeedSystem("000", "resnet34-imagenet", "CIFAR-100", "ds542-sp25", 100, "not given"),
    SeedSystem("001", "simplecnn-1conv", "CIFAR-100", "ds542-sp25", 100, "33.61% val, 37.26% test"),
    SeedSystem("001", "resnet50-scratch", "CIFAR-100", "ds542-sp25", 100, "34.68% val, 37.12% test"),
    SeedSystem("001", "resnet50-imagenet", "CIFAR-100", "ds542-sp25", 100, "63.39% val, 64.09% test", "~46%"),
    SeedSystem("002", "resnet152-imagenet", "CIFAR-100", "ds542-sp25", 100, "not given", "~48%"),
    SeedSystem("003", "se-resnet-5m", "CIFAR-10", "nyu-dl-sp24", 10, "93.67% test", "", 4_697_742),
    SeedSystem("004", "twolayer-mlp", "CIFAR-100", "cifar100", 100, "16.04% test"),
    SeedSystem("004", "lenet5", "CIFAR-100", "cifar100", 100, "43.12% test"),
    SeedSystem("004", "mlp-4layer", "CIFAR-100", "cifar100", 100, "24.06% test"),
    SeedSystem("004", "convnet96", "CIFAR-100", "cifar100", 100, "72.1% test"),
    SeedSystem("004", "convnet96-stl10", "STL-10 (5 classes)", "stl10-5class", 5, "89.55% test"),
]
NOT_MEASURED = "not measured here"


def seed_system(recipe: str) -> SeedSystem | None:
    return next((s for s in SEED_SYSTEMS if s.recipe == recipe), None)


def demo_measured_path() -> Path:
    return Path(str(resources.files("kagglebench") / "recipes" / "demo_measured.json"))


def demo_measured() -> dict[str, Any]:
    """{"setup": {...}, "runs": {recipe: {"val_acc", "epochs", "seconds", ...}}} or {} when absent."""
    path = demo_measured_path()
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def workspace_measured(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The best finished run of each seed recipe in `ws` whose data is the seed's own (same
    profile): {recipe: {"val_acc", "id"}}."""
    out: dict[str, dict[str, Any]] = {}
    if ws is None or not Path(ws.db_path).is_file():
        return out
    wanted = {s.recipe: s.profile for s in SEED_SYSTEMS}
    with ws.store() as store:
        for run in store.list_runs():
            recipe, acc = run.get("recipe"), run.get("best_val_acc")
            if run.get("status") != "finished" or acc is None or wanted.get(recipe) != ws.profile.name:
                continue
            if recipe not in out or acc > out[recipe]["val_acc"]:
                out[recipe] = {"val_acc": acc, "id": run["id"]}
    return out


def table_rows(ws: Workspace | None = None) -> list[dict[str, Any]]:
    """One row per seed system: the report's figures and kagglebench's (see the module doc)."""
    demo = demo_measured().get("runs", {})
    real = workspace_measured(ws)
    rows = []
    for s in SEED_SYSTEMS:
        r = real.get(s.recipe)
        d = demo.get(s.recipe)
        rows.append({"seed": s.seed, "recipe": s.recipe, "data": s.data, "report_acc": s.report_acc,
                     "report_kaggle": s.report_kaggle or None,
                     "measured_real": f"{r['val_acc']:.2%} val (run {r['id']})" if r else NOT_MEASURED,
                     "measured_demo": (f"{d['val_acc']:.1%} val, {d['epochs']} ep" if d else NOT_MEASURED),
                     "report_params": s.report_params or None})
    return rows
