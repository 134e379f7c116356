"""`kagglebench demo`'s closing table: each estimate with its 95% interval, and the dry-run score
on the hidden answer key with its own interval, said to fall inside the ensemble's or not."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np

from kagglebench.cli.demo import _table, hidden_score


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("id", "label"), *rows])


def test_hidden_score_groups_rows_by_base_image(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"distortion{k:02d}_{s}_{i}" for k in range(19) for s in range(1, 6) for i in range(40)]
    truth = rng.integers(0, 10, len(ids))
    right = rng.random(len(ids)) < 0.6
    guess = np.where(right, truth, (truth + 1) % 10)
    _write(tmp_path / "key.csv", zip(ids, truth))
    _write(tmp_path / "sub.csv", zip(ids, guess))
    score, (lo, hi), n = hidden_score(tmp_path / "sub.csv", tmp_path / "key.csv")
    assert n == 40 and score == right.mean() and lo < score < hi
    assert hidden_score(tmp_path / "sub.csv", None) is None


def test_table_prints_intervals_and_says_whether_the_score_falls_inside():
    rows = [("demo-cnn-1", (0.71, [0.67, 0.75]), (0.55, [0.51, 0.596]), "r.md")]
    ens = SimpleNamespace(members=[SimpleNamespace(run="demo-cnn-1")], val_acc=0.72, ood_acc=0.56,
                          ood_ci=[0.52, 0.60])
    text = _table(rows, ens, {"local_score": 0.58}, (0.58, [0.52, 0.64], 100))
    assert "[67.0, 75.0]" in text and "[51.0, 59.6]" in text and "[52.0, 60.0]" in text
    assert "falls inside" in text and "[52.0, 64.0]" in text
    text = _table(rows, ens, {"local_score": 0.45}, (0.45, [0.39, 0.51], 100))
    assert "falls OUTSIDE" in text and "README" in text
