"""`kagglebench find epoch-time`: a few real training steps of a recipe, timed (CPU, tiny data)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from kagglebench.config import load_recipe
from kagglebench.runs import split_indices
from kagglebench.train.timing import recipe_epoch_time
from kagglebench.workspace import Workspace


def _kb(ws, *args):
    return subprocess.run([sys.executable, "-m", "kagglebench", *args], cwd=ws, capture_output=True,
                          text=True, timeout=300)


def _expected_steps(ws: Workspace, recipe) -> int:
    n = len(split_indices(ws, recipe.data).train)
    bs = recipe.train.batch_size
    return n // bs if recipe.train.drop_last else math.ceil(n / bs)


def test_epoch_time_of_a_tiny_recipe(fresh_ws):
    ws = Workspace(fresh_ws)
    # 300 images a batch: 3 steps an epoch here, so 1 + 4 steps run over two epochs
    recipe = load_recipe("demo-cnn", ["batch_size=300", "data.input_size=32"])
    res = recipe_epoch_time(ws, recipe, steps=4, warmup=1)
    assert res.steps_per_epoch == _expected_steps(ws, recipe) == 3
    assert res.steps == 4 and res.warmup_steps == 1 and res.batch_size == 300 and res.device == "cpu"
    for v in (res.seconds_per_step, res.seconds_per_epoch, res.images_per_s):
        assert math.isfinite(v) and v > 0
    assert res.seconds_per_epoch == res.seconds_per_step * res.steps_per_epoch
    assert not (fresh_ws / "runs").exists() or not any((fresh_ws / "runs").iterdir())
    assert not (fresh_ws / "kagglebench.db").exists()     # nothing written: no run, no store


def test_find_epoch_time_command(fresh_ws):
    r = _kb(fresh_ws, "find", "epoch-time", "demo-cnn", "batch_size=64", "--steps", "2", "--warmup", "1", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    recipe = load_recipe("demo-cnn", ["batch_size=64"])
    assert doc["steps_per_epoch"] == _expected_steps(Workspace(fresh_ws), recipe) and doc["batch_size"] == 64
    assert doc["seconds_per_epoch"] > 0 and doc["seconds_per_step"] > 0 and doc["device"] == "cpu"
    assert doc["steps"] == 2 and doc["warmup_steps"] == 1
    r = _kb(fresh_ws, "find", "epoch-time", "demo-cnn", "batch_size=64", "--steps", "2")
    assert r.returncode == 0 and "per epoch" in r.stdout and "measured from 2 steps" in r.stdout


def test_find_epoch_time_bad_input_is_one_line(fresh_ws):
    r = _kb(fresh_ws, "find", "epoch-time", "no-such-recipe")
    assert r.returncode == 2 and r.stderr.startswith("kagglebench: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _kb(fresh_ws, "find", "epoch-time", "demo-cnn", "nosuch.key=1", "--json")
    assert r.returncode == 2 and "nosuch" in json.loads(r.stdout)["error"]["message"]
    r = _kb(fresh_ws, "find", "epoch-time", "demo-cnn", "--steps", "0")
    assert r.returncode == 2 and "kagglebench: error: --steps" in r.stderr
