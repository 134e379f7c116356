"""`kagglebench predict`: each profile's exact format, validated; test logits cached."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from kagglebench.data import writers
from kagglebench.evaluate.predict import predict_run
from kagglebench.kaggle.formats import validate_csv
from kagglebench.workspace import Workspace, write_settings


def _rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_demo_predictions_match_the_sample_submission(eval_ws, monkeypatch):
    root, run_id = eval_ws
    p = subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(root), "predict", run_id,
                        "--json"], check=False, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    path = Path(out["out"])
    assert path.parent == root / "submissions" and path.exists()
    rows, sample = _rows(path), _rows(root / "data" / "sample_submission.csv")
    assert rows[0] == ["id", "label"] and [r[0] for r in rows] == [r[0] for r in sample]
    assert out["rows"] == len(sample) - 1 == 19 * 5 * 20
    assert validate_csv(path, Workspace(root)) == out["rows"]
    assert 0.0 <= out["local_acc"] <= 1.0
    # a second prediction reads the cached test logits: no model is loaded
    from kagglebench.train import checkpoints

    def no_model(*a, **k):
        raise AssertionError("model loaded although the test logits are cached")

    monkeypatch.setattr(checkpoints, "load_for_inference", no_model)
    again = predict_run(Workspace(root), run_id, out=root / "again.csv")
    assert again["forward_passes"] == 0 and _rows(root / "again.csv") == rows


def _transplant(src_root: Path, run_id: str, dest: Path) -> None:
    """Register the trained run in another workspace (same class count), as if trained there."""
    from kagglebench.store import Store

    shutil.copytree(src_root / "runs" / run_id, dest / "runs" / run_id)
    shutil.rmtree(dest / "runs" / run_id / "logits", ignore_errors=True)
    with Store(src_root / "kagglebench.db") as a, Store(dest / "kagglebench.db") as b:
        run = a.get_run(run_id)
        b.create_run(run_id, name=run["name"], recipe=run["recipe"], config=run["config"],
                     run_dir=run["run_dir"], status="finished")
        for c in a.list_checkpoints(run_id):
            b.add_checkpoint(run_id, c["tag"], epoch=c["epoch"], step=c["step"], path=c["path"],
                             val_acc=c["val_acc"], metric=c["metric"])


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_nyu_and_generic_profiles(trained_eval_ws, tmp_path):
    src, run_id = trained_eval_ws
    classes = [f"c{i}" for i in range(10)]
    y = np.arange(40) % 10
    # NYU: CIFAR-10 training folder + unlabelled pickle; ids come from the pickle
    nyu = tmp_path / "nyu"
    train = writers.write_cifar10(nyu / "cifar-10-batches-py", (_images(40, 0), y), (_images(10, 1), y[:10]),
                                  classes)
    ids = [7, 3, 100, 42, 5, 9]
    writers.write_nyu_pickle(nyu / "cifar_test_nolabels.pkl", _images(6, 2), ids, layout="channel-planar")
    write_settings(nyu, {"profile": "nyu-dl-sp24", "data": {"train": str(train),
                                                            "test": str(nyu / "cifar_test_nolabels.pkl")}})
    _transplant(src, run_id, nyu)
    out = predict_run(Workspace(nyu), run_id)
    rows = _rows(out["out"])
    assert rows[0] == ["ID", "Labels"] and [r[0] for r in rows[1:]] == [str(i) for i in ids]
    assert all(0 <= int(r[1]) < 10 for r in rows[1:])
    # generic: a CIFAR-10 folder whose sample_submission.csv fixes header and id order
    gen = tmp_path / "gen"
    train = writers.write_cifar10(gen / "cifar-10-batches-py", (_images(40, 3), y), (_images(12, 4), y[:12]),
                                  classes)
    order = [str(i) for i in np.random.default_rng(5).permutation(12)]
    writers.write_csv(gen / "sample_submission.csv", ["image_id", "category"], [(i, 0) for i in order])
    write_settings(gen, {"profile": "cifar10", "data": {"train": str(train),
                                                        "sample_submission": str(gen / "sample_submission.csv")}})
    _transplant(src, run_id, gen)
    out = predict_run(Workspace(gen), run_id, out=gen / "mine.csv")
    rows = _rows(out["out"])
    assert rows[0] == ["image_id", "category"] and [r[0] for r in rows[1:]] == order
    assert validate_csv(gen / "mine.csv", Workspace(gen)) == 12
