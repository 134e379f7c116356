"""Workspaces: finding them, profiles, seeded splits, the test set in submission order."""

from __future__ import annotations

import numpy as np
import pytest

from kagglebench.competitions import profiles
from kagglebench.data import formats, writers
from kagglebench.errors import UserError
from kagglebench.workspace import Workspace, find_workspace, init_workspace

RNG = np.random.default_rng(1)


def imgs(n, size=32):
    return RNG.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_find_workspace_from_subfolder_flag_and_env(demo_ws, tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLEBENCH_WORKSPACE", raising=False)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(demo_ws / "data" / "ood-test")
    assert find_workspace().root == demo_ws.resolve()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="not inside a kagglebench workspace"):
        find_workspace()
    assert find_workspace(str(demo_ws)).root == demo_ws.resolve()
    monkeypatch.setenv("KAGGLEBENCH_WORKSPACE", str(demo_ws))
    assert find_workspace().root == demo_ws.resolve()
    with pytest.raises(UserError, match="not a kagglebench workspace"):
        find_workspace(str(tmp_path))


def test_broken_settings_file(fresh_ws):
    (fresh_ws / "kagglebench.toml").write_text('profile = "nope"\n')
    with pytest.raises(UserError, match="unknown profile 'nope'"):
        Workspace(fresh_ws)
    (fresh_ws / "kagglebench.toml").write_text("profile = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        Workspace(fresh_ws)


def test_split_is_seeded_stratified_and_disjoint(demo_ws):
    ws = Workspace(demo_ws)
    tr, va = ws.split(0.1, seed=3)
    tr2, va2 = ws.split(0.1, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert not np.array_equal(va, ws.split(0.1, seed=4)[1])
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 1000
    assert np.bincount(ws.train_data().labels[va]).tolist() == [10] * 10


def test_iter_test_in_submission_order(demo_ws):
    ws = Workspace(demo_ws)
    fmt = ws.submission_format()
    assert (fmt.id_col, fmt.label_col, fmt.num_classes, fmt.rows) == ("id", "label", 10, 1900)
    assert fmt.ids[0] == "distortion00_1_0" and fmt.ids[-1] == "distortion18_5_19"
    seen, chunks = [], 0
    for ids, x in ws.iter_test(chunk=64):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and len(ids) == len(x) <= 64
        seen += ids
        chunks += 1
    assert seen == list(fmt.ids) and chunks == 19 * 2
    ood3 = formats.load(ws.data_path("test"), distortion=3).images
    first = next(x for ids, x in ws.iter_test(chunk=100) if ids[0] == "distortion03_1_0")
    np.testing.assert_array_equal(first, ood3[:100])


def test_sample_submission_order_wins(fresh_ws):
    sample = fresh_ws / "data" / "sample_submission.csv"
    lines = sample.read_text().splitlines()
    sample.write_text("\n".join([lines[0]] + lines[1:][::-1]) + "\n")
    ws = Workspace(fresh_ws)
    ids, x = next(ws.iter_test(chunk=5))
    assert ids[0] == "distortion18_5_19"
    np.testing.assert_array_equal(x[0], formats.load(ws.data_path("test"), distortion=18).images[-1])
    sample.write_text(lines[0] + "\nnot_an_id,0\n" + "\n".join(lines[2:]) + "\n")
    with pytest.raises(UserError, match="'not_an_id' is not in the test data"):
        Workspace(fresh_ws).test_size()


def test_init_nyu_profile_with_pickle_beside(tmp_path):
    x, y = imgs(30), np.arange(30) % 10
    data = writers.write_cifar10(tmp_path / "cifar-10-batches-py", (x, y), (x[:5], y[:5]),
                                 [f"k{i}" for i in range(10)], 2)
    writers.write_nyu_pickle(tmp_path / "cifar_test_nolabels.pkl", imgs(6), [10, 11, 12, 13, 14, 15],
                             layout="planar")
    ws = init_workspace(tmp_path / "ws", "nyu-dl-sp24", data=str(data), competition="x-comp")
    fmt = ws.submission_format()
    assert (fmt.id_col, fmt.label_col, fmt.rows, fmt.ids[0]) == ("ID", "Labels", 6, "10")
    assert ws.competition == "x-comp" and ws.classes()[0] == "k0"
    assert ws.labelled_test() is not None and len(ws.labelled_test()) == 5


def test_init_stl10_five_classes(tmp_path):
    root = writers.write_stl10(tmp_path / "stl10_binary", "train", imgs(20, 96), np.arange(20) % 10)
    writers.write_stl10(root, "test", imgs(10, 96), np.arange(10))
    ws = init_workspace(tmp_path / "ws", "stl10-5class", data=str(root))
    assert ws.classes() == ["car", "deer", "horse", "monkey", "truck"]
    assert len(ws.train_data()) == 10 and ws.test_size() == 5


def test_init_imagefolder_and_digits(tmp_path):
    tree = writers.write_imagefolder(tmp_path / "train", imgs(6), np.array([0, 1] * 3), ["a", "b"])
    writers.write_imagefolder(tmp_path / "test", imgs(3), None, ids=["p", "q", "r"])
    ws = init_workspace(tmp_path / "ws", "imagefolder", data=str(tree))
    assert list(ws.submission_format().ids) == ["p", "q", "r"]
    dg = init_workspace(tmp_path / "dg", "digits")
    assert len(dg.train_data()) + dg.test_size() == 1797


def test_init_refuses_wrong_data_and_leaves_nothing(tmp_path):
    data = writers.write_cifar10(tmp_path / "c10", (imgs(4), np.arange(4)), (imgs(2), np.arange(2)),
                                 [str(i) for i in range(10)], 1)
    with pytest.raises(UserError, match="expects cifar100"):
        init_workspace(tmp_path / "ws", "ds542-sp25", data=str(data))
    with pytest.raises(UserError, match="needs its test set"):
        init_workspace(tmp_path / "ws", "nyu-dl-sp24", data=str(data))
    with pytest.raises(UserError, match="unknown profile"):
        init_workspace(tmp_path / "ws", "kaggle")
    assert not (tmp_path / "ws").exists()
    assert {"ds542-sp25", "nyu-dl-sp24", "stl10-5class", "demo", "digits"} <= set(profiles())
