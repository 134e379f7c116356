"""The seed recipes say what their reports say: validation on the test split, OneCycle's momentum,
fine-tuning that needs its starting weights, and comments that separate stated from chosen values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kagglebench.config import builtin_recipe_path, load_recipe
from kagglebench.errors import UserError
from kagglebench.store import Store
from kagglebench.train import checkpoints
from kagglebench.train.optim import momentum_at
from kagglebench.train.runner import train_run
from kagglebench.workspace import Workspace

SEEDS = {"000": ["simplecnn-3block", "resnet34-scratch", "resnet34-imagenet"],
         "001": ["simplecnn-1conv", "resnet50-scratch", "resnet50-imagenet"],
         "002": ["resnet152-imagenet"], "003": ["se-resnet-5m"],
         "004": ["convnet96", "convnet96-stl10", "lenet5", "mlp-4layer", "twolayer-mlp"]}
SEED_RECIPES = [r for rs in SEEDS.values() for r in rs]


@pytest.mark.parametrize("name", SEED_RECIPES)
def test_seed_recipes_pad_with_zeros_and_say_what_is_stated_and_chosen(name):
    r = load_recipe(name)
    assert r.data.pad_mode == "zeros"          # torchvision RandomCrop(padding=...) fills with 0
    text = builtin_recipe_path(name).read_text()
    own = text if "base =" not in text else text + builtin_recipe_path("convnet96").read_text()
    assert "states" in own and "Chosen here" in own


@pytest.mark.parametrize("seed,val_split", [("000", "fraction"), ("001", "fraction"), ("002", "fraction"),
                                            ("003", "test"), ("004", "test")])
def test_each_seed_validates_as_its_report_did(seed, val_split):
    for name in SEEDS[seed]:
        d = load_recipe(name).data
        assert d.val_split == val_split
        if val_split == "fraction":
            assert d.val_fraction == 0.2       # the DS-542 starter's 80/20 split


def test_se_resnet_5m_is_the_reports_run():
    r = load_recipe("se-resnet-5m")
    t = r.train
    assert (t.early_stopping_patience, t.early_stopping_metric, t.epochs) == (80, "val_loss", 200)
    assert (t.cutmix_alpha, t.mix_prob, t.grad_clip, t.batch_size) == (1.0, 0.5, 0.1, 128)
    assert (r.optim.lr, r.optim.momentum, r.optim.weight_decay, r.optim.lookahead) == (0.1, 0.9, 5e-4, True)


def test_seed_004_resizes_then_augments_with_torchs_onecycle():
    for name in SEEDS["004"]:
        r = load_recipe(name)
        assert r.data.input_size == 96 and r.data.random_resized_crop > 0 and r.data.hflip and r.data.vflip
        assert r.schedule.name == "onecycle" and r.schedule.cycle_momentum


def test_recipes_command_shows_the_parameter_count_and_patience():
    r = subprocess.run([sys.executable, "-m", "kagglebench", "recipes", "se-resnet-5m"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "4,697,742 parameters" in r.stdout and "early_stopping_patience = 80" in r.stdout


def test_convnet96_stl10_refuses_to_train_from_scratch_silently(small_ws: Path):
    ws = Workspace(small_ws)
    classes = ws.train_data().classes[:5]
    recipe = load_recipe("convnet96-stl10", ["data.classes=" + ",".join(classes), "batch_size=2"])
    with pytest.raises(UserError, match="model.init_from"):
        train_run(ws, recipe, stop_after_steps=1)
    with Store(ws.db_path) as store:
        assert store.list_runs() == []          # nothing recorded
    res = train_run(ws, load_recipe("convnet96-stl10", ["data.classes=" + ",".join(classes), "batch_size=2",
                                                        "model.requires_init_from=false"]), stop_after_steps=1)
    assert res["status"] == "stopped"


def test_val_split_test_trains_on_everything_and_validates_on_the_test_split(small_ws: Path):
    ws = Workspace(small_ws)
    res = train_run(ws, load_recipe("demo-cnn", ["data.val_split=test", "epochs=1", "batch_size=16"]))
    assert res["status"] == "finished" and res["best_val_acc"] is not None
    cfg = json.loads((ws.runs_dir / res["id"] / "config.json").read_text())
    assert cfg["split"]["val_split"] == "test"
    assert cfg["split"]["n_train"] == len(ws.train_data()) and cfg["split"]["n_val"] == len(ws.labelled_test())
    from kagglebench.evaluate import cache
    from kagglebench.runs import Run

    src = cache.make_source(Run.open(ws, res["id"]), "val")   # evaluation rebuilds the same validation set
    assert src.n == len(ws.labelled_test())
    assert (src.labels == ws.labelled_test().labels).all()


def test_the_trainer_cycles_momentum_as_torchs_onecycle(small_ws: Path):
    ws = Workspace(small_ws)
    recipe = load_recipe("demo-cnn", ["schedule.cycle_momentum=true", "epochs=2", "batch_size=16"])
    res = train_run(ws, recipe, stop_after_steps=7)
    ckpt = checkpoints.load(checkpoints.resolve(ws, res["id"], "last"))
    steps_per_epoch = len(ws.train_data()) * 9 // 10 // 16
    total = steps_per_epoch * 2
    got = ckpt["optimizer"]["param_groups"][0]["momentum"]
    assert got == pytest.approx(momentum_at(6, schedule=recipe.schedule, total_steps=total))
    assert got != 0.9 and 0.85 <= got <= 0.95     # not the recipe's fixed 0.9


def test_reproduction_table_outside_a_workspace_says_not_measured_here(tmp_path: Path):
    r = subprocess.run([sys.executable, "-m", "kagglebench", "recipes", "--table", "--json"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, check=False,
                       env={**__import__("os").environ, "KAGGLEBENCH_WORKSPACE": ""})
    assert r.returncode == 0, r.stderr
    rows = {row["recipe"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(SEED_RECIPES)
    assert rows["se-resnet-5m"]["report_acc"] == "93.67% test" and rows["se-resnet-5m"]["report_params"] == 4_697_742
    assert rows["resnet50-imagenet"]["report_kaggle"] == "~46%"
    assert rows["resnet152-imagenet"]["report_kaggle"] == "~48%"
    assert all(row["measured_real"] == "not measured here" for row in rows.values())
    text = subprocess.run([sys.executable, "-m", "kagglebench", "recipes", "--table"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**__import__("os").environ, "KAGGLEBENCH_WORKSPACE": ""}).stdout
    assert text.splitlines()[0].split()[:4] == ["SEED", "RECIPE", "DATA", "REPORT"]
    assert "convnet96-stl10" in text and "89.55% test" in text


def test_every_seed_recipe_has_its_demo_figure():
    """recipes/demo_measured.json (tools/seed_recipes_on_demo.py) holds a demo run of every seed
    recipe, each trained from scratch, and the table shows it."""
    from kagglebench.reproduction import demo_measured, table_rows

    runs = demo_measured()["runs"]
    assert set(runs) == set(SEED_RECIPES)
    for name, r in runs.items():
        assert 0 <= r["val_acc"] <= 1 and r["epochs"] >= 1 and "model.pretrained=false" in r["overrides"], name
    assert all(row["measured_demo"].endswith(" ep") for row in table_rows())


def test_reproduction_table_shows_the_workspaces_own_finished_run(tmp_path: Path):
    """In a workspace holding a seed's data (here a small CIFAR-100 folder, seed 004's), the
    table shows the best finished run of that seed's recipe as measured on real data."""
    import numpy as np

    from kagglebench.data import writers
    from kagglebench.reproduction import table_rows
    from kagglebench.workspace import init_workspace

    rng = np.random.default_rng(0)
    def split(n):
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 100, np.arange(n) % 20
    data = writers.write_cifar100(tmp_path / "cifar-100-python", split(64), split(20),
                                  [f"c{i}" for i in range(100)], [f"s{i}" for i in range(20)])
    ws = init_workspace(tmp_path / "ws", "cifar100", data=str(data))
    res = train_run(ws, load_recipe("twolayer-mlp", ["epochs=1", "batch_size=16"]))
    assert res["status"] == "finished"
    rows = {row["recipe"]: row for row in table_rows(ws)}
    assert rows["twolayer-mlp"]["measured_real"] == f"{res['best_val_acc']:.2%} val (run {res['id']})"
    assert rows["se-resnet-5m"]["measured_real"] == "not measured here"   # CIFAR-10's, not this data
