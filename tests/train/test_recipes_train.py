"""Every built-in recipe builds its model and trains one step on tiny demo data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kagglebench.config import list_recipes, load_recipe
from kagglebench.store import Store
from kagglebench.train import checkpoints
from kagglebench.train.runner import train_run
from kagglebench.workspace import Workspace

RECIPES = [name for name, _ in list_recipes()]


def test_the_seed_recipes_are_all_there() -> None:
    expected = {"simplecnn-3block", "resnet34-scratch", "resnet34-imagenet", "simplecnn-1conv",
                "resnet50-scratch", "resnet50-imagenet", "resnet152-imagenet", "se-resnet-5m",
                "twolayer-mlp", "mlp-4layer", "lenet5", "convnet96", "convnet96-stl10"}
    assert expected <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_one_step(name: str, small_demo: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(small_demo, root)
    ws = Workspace(root)
    # Tiny overrides only: the recipe's own model, input size, optimizer, augmentations and
    # loss stay. ImageNet weights are not available offline; the models' tests cover loading them.
    overrides = ["batch_size=2", "train.device=cpu", "model.pretrained=false", "train.compile=false",
                 "model.requires_init_from=false"]   # convnet96-stl10 otherwise asks for its CIFAR run
    recipe = load_recipe(name, overrides)
    if recipe.data.classes:  # e.g. STL-10's five classes: use five of the demo's instead
        overrides.append("data.classes=" + ",".join(ws.train_data().classes[:5]))
        recipe = load_recipe(name, overrides)
    res = train_run(ws, recipe, stop_after_steps=1)
    assert res["status"] == "stopped", res["message"]
    with Store(ws.db_path) as store:
        rows = store.metrics_since(res["id"], scope="step")
    assert rows and rows[-1]["step"] == 1 and math.isfinite(rows[-1]["train_loss"])
    ckpt = checkpoints.load(checkpoints.resolve(ws, res["id"], "last"))
    assert ckpt["step"] == 1 and ckpt["config"]["model"]["name"] == recipe.model.name
    assert len(ckpt["classes"]) == (5 if recipe.data.classes else 10)
