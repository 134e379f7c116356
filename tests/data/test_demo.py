"""The demo competition: a complete workspace, deterministic, learnable, nothing left on failure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from kagglebench.data import demo, formats
from kagglebench.errors import UserError
from kagglebench.workspace import Workspace


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_workspace_contents(demo_ws):
    ws = Workspace(demo_ws)
    assert ws.profile.name == "demo" and ws.competition == "kagglebench-demo"
    train = ws.train_data()
    assert train.images.shape == (1000, 32, 32, 3) and len(train.classes) == 10
    assert np.bincount(train.labels).tolist() == [100] * 10
    coarse = formats.load_cifar100(ws.data_path("train"), label_kind="coarse")
    assert coarse.classes == ["plain_circles", "plain_squares"]
    assert ws.test_size() == 19 * 5 * 20
    key = ws.answer_key()
    assert key is not None and ws.data_path("test") not in key.parents
    assert len(key.read_text().splitlines()) == 19 * 5 * 20 + 1


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = {"classes": 4, "train": 40, "test": 2}
    a = digest(demo.write_demo(tmp_path / "a", seed=7, **kw))
    b = digest(demo.write_demo(tmp_path / "b", seed=7, **kw))
    assert a == b and "data/ood-test/distortion18.npy" in a
    # A different seed draws different images (checked on the generator: a build costs seconds).
    assert not np.array_equal(demo.generate(40, 4, 7, 0)[0], demo.generate(40, 4, 8, 0)[0])


def test_failure_leaves_no_partial_folder(tmp_path, monkeypatch):
    from kagglebench.data import corruptions

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corruptions, "corrupt", boom)
    with pytest.raises(RuntimeError):
        demo.write_demo(tmp_path / "ws", classes=3, train=30, test=2)
    assert list(tmp_path.iterdir()) == []


def test_bad_sizes_and_existing_folder(tmp_path):
    with pytest.raises(UserError, match="--classes"):
        demo.write_demo(tmp_path / "x", classes=101)
    with pytest.raises(UserError, match="too few"):
        demo.write_demo(tmp_path / "x", classes=10, train=5)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        demo.write_demo(tmp_path / "full", classes=3, train=30, test=1)
    assert (tmp_path / "full" / "f").read_text() == "mine"


def test_mean_colour_says_little_about_the_class():
    from sklearn.linear_model import LogisticRegression

    x, y = demo.generate(800, 10, seed=1, stream=0)
    xv, yv = demo.generate(300, 10, seed=1, stream=1)
    def feat(a):
        return a.reshape(len(a), -1, 3).mean(1)

    acc = LogisticRegression(max_iter=1000).fit(feat(x), y).score(feat(xv), yv)
    assert acc < 0.3


def test_class_names_group_into_coarse_classes():
    fine, coarse, coarse_of = demo.class_names(100)
    assert len(set(fine)) == 100 and len(coarse) == 20
    assert np.bincount(coarse_of).tolist() == [5] * 20
