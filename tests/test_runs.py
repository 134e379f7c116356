"""The Run record: written once by the trainer, opened once by every reader, old shapes migrated on read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kagglebench.config import DataConfig
from kagglebench.errors import UserError
from kagglebench.runs import Run, split_indices
from kagglebench.store import Store
from kagglebench.workspace import Workspace


@pytest.fixture
def ws_run(trained_ws: Path, tmp_path: Path) -> tuple[Workspace, str]:
    dest = tmp_path / "ws"
    shutil.copytree(trained_ws, dest)
    with Store(dest / "kagglebench.db") as st:
        run_id = next(r["id"] for r in st.list_runs() if r["name"] == "seed0")
    return Workspace(dest), run_id


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_open_gives_the_trainers_record(ws_run: tuple[Workspace, str]) -> None:
    ws, run_id = ws_run
    run = Run.open(ws, run_id)
    written = json.loads((run.folder / "config.json").read_text())
    assert run.id == run_id and run.folder == ws.root / "runs" / run_id
    assert run.classes == written["classes"] == ws.train_data().classes
    assert run.recipe.name == "demo-cnn" and run.recipe.train.epochs == 2
    mean, std, size = run.transform
    assert (mean, std, size) == (written["normalization"]["mean"], written["normalization"]["std"], 32)
    assert len(mean) == 3 and run.tta == "none" and run.higher_is_better
    assert run.row["status"] == "finished" and {c["tag"] for c in run.checkpoints} >= {"last"}
    val, labels = run.val()
    assert len(val) == written["split"]["n_val"] == 100
    assert np.array_equal(labels, ws.train_data().labels[val])
    assert run.checkpoint("best").exists() and run.checkpoint("last").name == "last.pt"
    with pytest.raises(UserError, match="no such checkpoint"):
        run.checkpoint(99)


def test_one_split_function_for_training_and_evaluation(demo_ws: Path) -> None:
    ws = Workspace(demo_ws)
    every = split_indices(ws, DataConfig(val_fraction=0.1, split_seed=3))
    assert np.array_equal(every.val, ws.split(0.1, 3)[1]) and every.classes == ws.train_data().classes
    names = ws.train_data().classes
    some = split_indices(ws, DataConfig(val_fraction=0.1, split_seed=3, classes=[names[4], names[1]]))
    assert some.classes == [names[4], names[1]]
    assert set(some.labels[some.train]) == set(some.labels[some.val]) == {0, 1}   # relabelled in the order given
    assert set(some.val) <= set(every.val) and len(some.val) == 20
    with pytest.raises(UserError, match="no class named nope"):
        split_indices(ws, DataConfig(classes=["nope"]))


@pytest.mark.parametrize("shape", ["bare-recipe", "no-file"])
def test_an_old_run_folder_opens_migrated_on_read(ws_run: tuple[Workspace, str], shape: str) -> None:
    from kagglebench.evaluate import cache

    ws, run_id = ws_run
    now = Run.open(ws, run_id)
    labels_now = cache.labels(ws, run_id, "val")
    path = now.folder / "config.json"
    recipe = json.loads(path.read_text())["recipe"]
    if shape == "bare-recipe":          # the first config.json: the recipe itself
        path.write_text(json.dumps(recipe))
    else:                               # no config.json: the store's copy of the recipe
        path.unlink()
    before = _files(ws.root)
    old = Run.open(ws, run_id)
    assert old.recipe == now.recipe and old.classes == now.classes
    assert np.array_equal(old.val()[0], now.val()[0])
    assert np.array_equal(cache.labels(ws, run_id, "val"), labels_now)
    assert _files(ws.root) == before          # migrated in memory: nothing rewritten


def test_a_changed_training_set_is_caught(ws_run: tuple[Workspace, str]) -> None:
    ws, run_id = ws_run
    path = Run.open(ws, run_id).folder / "config.json"
    doc = json.loads(path.read_text())
    doc["split"]["val_indices_sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="training data changed"):
        Run.open(ws, run_id).val()


def test_unknown_run_and_broken_record_are_one_line_errors(ws_run: tuple[Workspace, str]) -> None:
    ws, run_id = ws_run
    with pytest.raises(UserError, match="no such run"):
        Run.open(ws, "nope-0000")
    (Run.open(ws, run_id).folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read the run's config"):
        Run.open(ws, run_id)


def test_opening_a_run_writes_nothing(ws_run: tuple[Workspace, str]) -> None:
    ws, run_id = ws_run
    before = _files(ws.root)
    run = Run.open(ws, run_id)
    run.val()
    run.checkpoint("best")
    assert _files(ws.root) == before


def test_opening_a_run_without_recorded_classes_reads_no_data_until_asked(ws_run: tuple[Workspace, str],
                                                                          monkeypatch) -> None:
    ws, run_id = ws_run
    path = Run.open(ws, run_id).folder / "config.json"
    doc = json.loads(path.read_text())
    doc.pop("classes")                        # an old record: no class names
    path.write_text(json.dumps(doc))
    want = list(ws.train_data().classes)
    fresh = Workspace(ws.root)
    reads = []
    real = type(fresh.profile).read_train
    monkeypatch.setattr(type(fresh.profile), "read_train", lambda self, w: reads.append(1) or real(self, w))
    run = Run.open(fresh, run_id)
    assert reads == [] and run.recorded_classes is None and run.config["train"]["epochs"] == 2
    assert run.normalization["input_size"] == 32
    assert run.classes == want and reads == [1]   # read when asked, once
    assert run.classes is run.classes
