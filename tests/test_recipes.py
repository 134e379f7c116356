"""Every built-in recipe loads and builds its model; `kagglebench recipes` lists them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torchvision import models as tvm

from kagglebench.config import list_recipes, load_recipe
from kagglebench.models import build_model, count_parameters, default_input_size, weights_for

RECIPES = [name for name, _ in list_recipes()]


@pytest.fixture(scope="module")
def seeded_torch_home(tmp_path_factory):
    """TORCH_HOME with generated (random) ImageNet weights for every pretrained recipe."""
    home = tmp_path_factory.mktemp("torch")
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    needed = {(r.model.name, r.model.weights) for r in map(load_recipe, RECIPES) if r.model.pretrained}
    for model_name, weights_name in needed:
        url = weights_for(model_name, weights_name).url
        torch.save(getattr(tvm, model_name)(weights=None).state_dict(), ckpt / url.rsplit("/", 1)[1])
    return home


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_builds_its_model(name, seeded_torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(seeded_torch_home))
    monkeypatch.setenv("KAGGLEBENCH_OFFLINE", "1")
    recipe = load_recipe(name)
    size = recipe.data.input_size or 32   # 0 = the images' own size; the CIFAR-style competitions are 32
    num_classes = len(recipe.data.classes) or 100
    model = build_model(recipe.model, num_classes, input_size=size)
    if recipe.model.max_params:
        assert count_parameters(model) <= recipe.model.max_params
    if recipe.model.name.startswith("resnet") and not recipe.model.pretrained:
        return   # the big from-scratch ResNets are exercised in tests/models
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, num_classes)
    assert size >= 8 and default_input_size(recipe.model.name) > 0


def test_recipes_command_lists_every_recipe():
    r = subprocess.run([sys.executable, "-m", "kagglebench", "recipes"], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["RECIPE", "MODEL", "DESCRIPTION"]
    assert len(lines) == len(RECIPES) + 1
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows["resnet50-imagenet"] == "resnet50" and rows["demo-cnn"] == "demo-cnn"
    assert rows["se-resnet-5m"] == "se-resnet"


def test_recipes_command_shows_one_recipe_and_refuses_unknown_names():
    r = subprocess.run([sys.executable, "-m", "kagglebench", "recipes", "se-resnet-5m"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and "max_params = 5000000" in r.stdout and "lookahead = true" in r.stdout
    r = subprocess.run([sys.executable, "-m", "kagglebench", "recipes", "se-resnet"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("kagglebench: error: recipe se-resnet:") and "se-resnet-5m" in r.stderr
