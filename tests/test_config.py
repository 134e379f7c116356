"""Recipes and overrides: what a user typing `kagglebench train RECIPE key=value` sees."""

from __future__ import annotations

import json

import pytest

from kagglebench.config import (
    Recipe,
    apply_overrides,
    list_recipes,
    load_recipe,
    parse_override,
    recipe_from_dict,
    recipe_to_dict,
    valid_keys,
)
from kagglebench.errors import UserError


def test_shortcuts_and_dotted_keys_override_the_recipe():
    r = load_recipe("simplecnn-3block", ["epochs=3", "batch_size=16", "lr=0.05", "seed=7",
                                         "model=resnet18", "optim.weight_decay=1e-4",
                                         "schedule.name=cosine", "data.mean=[0.5, 0.5, 0.5]",
                                         "train.amp=none", "data.hflip=false"])
    assert (r.train.epochs, r.train.batch_size, r.optim.lr, r.train.seed) == (3, 16, 0.05, 7)
    assert r.model.name == "resnet18"
    assert r.optim.weight_decay == 1e-4 and r.schedule.name == "cosine"
    assert r.data.mean == [0.5, 0.5, 0.5] and r.train.amp == "none" and r.data.hflip is False
    # The recipe's own values stay where not overridden.
    assert r.optim.name == "adam" and r.schedule.step_size == 20


def test_values_are_toml_literals_or_plain_words():
    assert parse_override("lr=1e-3") == ("optim.lr", 1e-3)
    assert parse_override("data.classes=car,deer") == ("data.classes", "car,deer")
    assert parse_override("model.weights=IMAGENET1K_V2") == ("model.weights", "IMAGENET1K_V2")
    r = load_recipe("demo-cnn", ["data.classes=car, deer", "epochs=2.0", "lr=1"])
    assert r.data.classes == ["car", "deer"] and r.train.epochs == 2 and r.optim.lr == 1.0


@pytest.mark.parametrize("override, words", [
    ("optim.lrr=0.1", ["optim.lrr", "did you mean 'optim.lr'", "optim.momentum"]),
    ("epoch=3", ["epoch", "did you mean 'epochs'", "train.batch_size"]),
    ("trian.epochs=3", ["trian.epochs", "model.name", "tracking.wandb"]),
    ("epochs=three", ["train.epochs", "whole number"]),
    ("epochs=0", ["train.epochs", ">= 1"]),
    ("batch_size=-8", ["train.batch_size", ">= 1"]),
    ("lr=-0.1", ["optim.lr", "> 0"]),
    ("lr=nan", ["optim.lr", "finite"]),
    ("lr=inf", ["optim.lr"]),
    ("model.dropout=1.0", ["model.dropout", "< 1"]),
    ("data.hflip=maybe", ["data.hflip", "true or false"]),
    ("optim.name=rmsprop", ["optim.name", "sgd, adam, adamw"]),
    ("data.mean=[0.5, 0.5]", ["data.mean", "3 numbers"]),
    ("data.std=[0.2, 0, 0.2]", ["data.std", "> 0"]),
    ("model.pretrained=1", ["model.pretrained", "true or false"]),
    ("noequals", ["key=value"]),
])
def test_bad_overrides_are_refused_with_the_key_named(override, words):
    with pytest.raises(UserError) as e:
        load_recipe("simplecnn-3block", [override])
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_key_lists_every_valid_key():
    with pytest.raises(UserError) as e:
        load_recipe("demo-cnn", ["nonsense.key=1"])
    for key in valid_keys():
        assert key in str(e.value)


def test_user_toml_inherits_from_a_builtin_and_is_checked(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('base = "resnet50-imagenet"\ndescription = "mine"\nepochs = 4\n'
                    '[optim]\nlr = 3e-4\n[data]\ninput_size = 64\n')
    r = load_recipe(str(mine), ["train.label_smoothing=0.2"])
    assert r.name == "mine" and r.description == "mine"
    assert r.train.epochs == 4 and r.optim.lr == 3e-4 and r.data.input_size == 64
    assert r.model.pretrained and r.model.dropout == 0.3 and r.train.batch_size == 512   # inherited
    assert r.train.label_smoothing == 0.2

    child = tmp_path / "child.toml"
    child.write_text('base = "mine.toml"\n[train]\nbatch_size = 8\n')   # relative to the file
    r2 = load_recipe(str(child))
    assert r2.train.batch_size == 8 and r2.train.epochs == 4

    bad = tmp_path / "bad.toml"
    bad.write_text('base = "demo-cnn"\n[optim]\nmomentun = 0.8\n')
    with pytest.raises(UserError, match=r"bad\.toml.*optim\.momentun.*optim\.momentum"):
        load_recipe(str(bad))


def test_broken_files_and_loops_are_one_line_errors(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('base = "b.toml"\n')
    b.write_text('base = "a.toml"\n')
    with pytest.raises(UserError, match="loop"):
        load_recipe(str(a))
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\nepochs = 3\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_recipe(str(broken))
    with pytest.raises(UserError, match="not found"):
        load_recipe(str(tmp_path / "missing.toml"))
    with pytest.raises(UserError, match="did you mean 'demo-cnn'"):
        load_recipe("demo-cn")


def test_resolved_recipe_round_trips_through_json():
    r = load_recipe("se-resnet-5m", ["data.classes=[\"a\", \"b\"]", "train.ema_decay=0.999"])
    d = json.loads(json.dumps(recipe_to_dict(r)))
    assert recipe_from_dict(d) == r
    assert d["model"]["max_params"] == 5_000_000 and d["optim"]["lookahead"] is True
    d["train"]["bogus"] = 1
    with pytest.raises(UserError, match="train.bogus"):
        recipe_from_dict(d)


def test_apply_overrides_leaves_the_original_alone():
    base = Recipe()
    changed = apply_overrides(base, ["epochs=2"])
    assert base.train.epochs == 10 and changed.train.epochs == 2


def test_every_builtin_recipe_has_a_description_and_a_seed_comment():
    from kagglebench.config import builtin_recipe_path

    names = [n for n, _ in list_recipes()]
    assert {"simplecnn-3block", "resnet34-scratch", "resnet34-imagenet", "simplecnn-1conv",
            "resnet50-scratch", "resnet50-imagenet", "resnet152-imagenet", "se-resnet-5m",
            "twolayer-mlp", "mlp-4layer", "lenet5", "convnet96", "convnet96-stl10", "fast",
            "demo-cnn"} <= set(names)
    for name, desc in list_recipes():
        assert desc and "\n" not in desc, name
        first = builtin_recipe_path(name).read_text().splitlines()[0]
        if name not in ("demo-cnn", "fast", "ds542-robust"):   # ds542-robust follows a paper, not a seed
            assert first.startswith("# Seed 00"), name
