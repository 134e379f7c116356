"""Trackers mirror the metric stream to TensorBoard event files and offline W&B runs."""

from __future__ import annotations

import builtins
import sys
import types

import pytest

from kagglebench.errors import UserError
from kagglebench.train.tracking import Trackers


def _recipe(wandb=False, tensorboard=False):
    """A recipe with the tracking section set: the real one when config.py is there."""
    try:
        from kagglebench.config import load_recipe
    except ImportError:
        tracking = types.SimpleNamespace(wandb=wandb, tensorboard=tensorboard, wandb_project="kb-test")
        return types.SimpleNamespace(name="demo-cnn", tracking=tracking)
    return load_recipe("demo-cnn", [f"tracking.wandb={str(wandb).lower()}",
                                     f"tracking.tensorboard={str(tensorboard).lower()}",
                                     "tracking.wandb_project=kb-test"])


def _hide_module(monkeypatch, name):
    real_import = builtins.__import__

    def fake_import(mod, *a, **kw):
        if mod == name or mod.startswith(name + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(mod, *a, **kw)

    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_nothing_requested_means_no_trackers(tmp_path):
    with Trackers(_recipe(), tmp_path, "run-1") as t:
        t.log({"train_loss": 1.0}, step=1)
        assert t.active == []
    assert not (tmp_path / "tensorboard").exists()


def test_tensorboard_event_file_holds_the_logged_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Trackers(_recipe(tensorboard=True), tmp_path, "run-1") as t:
        assert t.active == ["tensorboard"]
        for step in range(1, 4):
            t.log({"train_loss": 1.0 / step, "val_acc": 0.2 * step, "note": "text is skipped",
                   "bad": float("nan")}, step=step)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["train_loss", "val_acc"]
    loss = acc.Scalars("train_loss")
    assert [e.step for e in loss] == [1, 2, 3]
    assert loss[2].value == pytest.approx(1 / 3)


def test_tensorboard_missing_is_a_one_line_error(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "tensorboard")
    with pytest.raises(UserError) as e:
        Trackers(_recipe(tensorboard=True), tmp_path, "run-1")
    assert "pip install tensorboard" in str(e.value) and "\n" not in str(e.value)


def test_wandb_missing_is_a_one_line_error(tmp_path, monkeypatch):
    _hide_module(monkeypatch, "wandb")
    with pytest.raises(UserError) as e:
        Trackers(_recipe(wandb=True), tmp_path, "run-1")
    assert "pip install wandb" in str(e.value) and e.value.where == "tracking.wandb"


def test_wandb_offline_writes_a_local_run(tmp_path, monkeypatch, capfd):
    pytest.importorskip("wandb")
    import psutil

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with Trackers(_recipe(wandb=True), tmp_path, "run-1") as t:
        assert t.active == ["wandb"]
        t.log({"train_loss": 0.5, "val_acc": 0.75}, step=1)
        t.log({"train_loss": 0.25}, step=2)
    runs = list((tmp_path / "wandb").glob("offline-run-*-run-1"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb")), "the offline run holds no history file"
    assert capfd.readouterr().out == ""  # `train --json` keeps stdout for its JSON document
    assert [p for p in psutil.Process().children(recursive=True)  # wandb's helper process is gone
            if p.pid not in before and _alive(p)] == []


def _alive(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
