"""Every format round-trips through its writer and reader; broken files give a UserError."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from kagglebench.data import formats, writers
from kagglebench.data.check import check, describe
from kagglebench.errors import UserError

RNG = np.random.default_rng(0)


def imgs(n: int, size: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_cifar10_round_trip(tmp_path):
    x, y, xt, yt = imgs(50), np.arange(50) % 10, imgs(10), np.arange(10)
    root = writers.write_cifar10(tmp_path / "cifar-10-batches-py", (x, y), (xt, yt),
                                 [f"c{i}" for i in range(10)])
    assert formats.detect_format(root) == "cifar10"
    ds = formats.load(root)
    assert ds.images.shape == (50, 32, 32, 3) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, x)
    np.testing.assert_array_equal(ds.labels, y)
    np.testing.assert_array_equal(formats.load_cifar10(root, "test").images, xt)
    assert ds.classes[3] == "c3"
    s = check(root)
    assert s["splits"]["train"]["images"] == 50 and s["splits"]["test"]["images"] == 10
    assert "cifar10" in describe(s)


def test_cifar10_planar_layout_matches_reference(tmp_path):
    # REFERENCE.md: 1024 red, then 1024 green, then 1024 blue values, row-major.
    x = imgs(2)
    root = writers.write_cifar10(tmp_path / "c", (x, np.zeros(2, int)), (x, np.zeros(2, int)), ["a"], 1)
    raw = pickle.loads((root / "data_batch_1").read_bytes(), encoding="bytes")[b"data"]
    assert raw.shape == (2, 3072)
    assert raw[1, 1024 + 32 * 5 + 7] == x[1, 5, 7, 1]


def test_cifar100_round_trip_fine_and_coarse(tmp_path):
    x, fine, coarse = imgs(40), np.arange(40) % 4, (np.arange(40) % 4) // 2
    root = writers.write_cifar100(tmp_path / "cifar-100-python", (x, fine, coarse),
                                  (x[:8], fine[:8], coarse[:8]), ["a", "b", "c", "d"], ["ab", "cd"])
    assert formats.detect_format(root) == "cifar100"
    ds = formats.load(root)
    np.testing.assert_array_equal(ds.images, x)
    assert ds.classes == ["a", "b", "c", "d"] and ds.ids[0] == "train_000000.png"
    co = formats.load(root, label_kind="coarse")
    assert co.classes == ["ab", "cd"] and co.labels.max() == 1
    assert check(root)["splits"]["test"]["images"] == 8


def test_stl10_column_major_and_class_subset(tmp_path):
    x, y = imgs(20, 96), np.arange(20) % 10
    root = writers.write_stl10(tmp_path / "stl10_binary", "train", x, y)
    raw = np.fromfile(root / "train_X.bin", np.uint8).reshape(-1, 3, 96, 96)
    assert raw[0, 0, 4, 1] == x[0, 1, 4, 0]  # column-major: column index first
    assert formats.detect_format(root) == "stl10"
    ds = formats.load(root)
    np.testing.assert_array_equal(ds.images, x)
    np.testing.assert_array_equal(ds.labels, y)
    sub = formats.load(root, classes=["truck", "car"])
    assert sub.classes == ["car", "truck"]
    assert len(sub) == 4 and set(sub.labels.tolist()) == {0, 1}
    np.testing.assert_array_equal(sub.images[sub.labels == 1][0], x[9])


def test_imagefolder_tree_and_flat(tmp_path):
    x, y = imgs(6), np.array([0, 1, 0, 1, 0, 1])
    root = writers.write_imagefolder(tmp_path / "tree", x, y, ["cat", "dog"])
    assert formats.detect_format(root) == "imagefolder"
    ds = formats.load(root)
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(ds.images[0], x[0])  # PNG is lossless
    flat = formats.load_imagefolder(writers.write_imagefolder(tmp_path / "flat", x, None))
    assert flat.labels is None and flat.ids[:2] == ["00000", "00001"]
    assert check(root)["splits"]["all"]["min_per_class"] == 3


def test_ood_folder_ids_and_memmap(tmp_path):
    folder = tmp_path / "ood-test"
    data = [imgs(10) for _ in range(19)]  # a DS-542 folder has all 19 (one missing is refused)
    for k, d in enumerate(data):
        writers.write_ood_file(folder / f"distortion{k:02d}.npy", d)
    assert formats.detect_format(folder) == "ds542-ood"
    ds = formats.load(folder, distortion=1)
    assert isinstance(ds.images, np.memmap)
    np.testing.assert_array_equal(ds.images, data[1])
    assert ds.ids[0] == "distortion01_1_0" and ds.ids[-1] == "distortion01_5_1"
    s = check(folder)
    assert (s["distortions"], s["per_severity"], s["splits"]["test"]["images"]) == (19, 2, 190)


@pytest.mark.parametrize("layout,expect", [("NHWC", "NHWC"), ("planar", "channel-planar")])
def test_nyu_pickle_layout_detected(tmp_path, layout, expect):
    x = imgs(5)
    path = writers.write_nyu_pickle(tmp_path / "cifar_test_nolabels.pkl", x, [7, 8, 9, 10, 11],
                                    layout=layout)
    assert formats.detect_format(path) == "nyu-pickle"
    ds = formats.load(path)
    np.testing.assert_array_equal(ds.images, x)
    assert ds.info["layout"] == expect and ds.ids == ["7", "8", "9", "10", "11"]
    assert expect in describe(check(path))


def test_digits_are_32px_rgb():
    ds = formats.load("digits")
    assert ds.images.shape == (1797, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images.max() == 255 and len(ds.classes) == 10


# --- broken input ---------------------------------------------------------------------------

def _cifar10(tmp_path):
    x = imgs(10)
    return writers.write_cifar10(tmp_path / "c10", (x, np.arange(10)), (x, np.arange(10)),
                                 [str(i) for i in range(10)], 1)


def test_truncated_pickle(tmp_path):
    root = _cifar10(tmp_path)
    f = root / "data_batch_1"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(UserError, match="truncated") as e:
        formats.load(root)
    assert e.value.where == str(f)


def test_label_out_of_range(tmp_path):
    x = imgs(4)
    root = writers.write_cifar10(tmp_path / "c10", (x, np.array([0, 1, 2, 12])), (x, np.zeros(4)),
                                 [str(i) for i in range(10)], 1)
    with pytest.raises(UserError, match="label 12 out of range 0..9"):
        formats.load(root)


def test_missing_meta_file(tmp_path):
    root = _cifar10(tmp_path)
    (root / "batches.meta").unlink()
    with pytest.raises(UserError, match="file not found") as e:
        formats.load(root)
    assert e.value.where.endswith("batches.meta")


def test_wrong_shape_in_pickle(tmp_path):
    path = tmp_path / "cifar_test_nolabels.pkl"
    path.write_bytes(pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"ids": [1, 2, 3]}))
    with pytest.raises(UserError, match=r"shape \(3, 100\)"):
        formats.load(path)


@pytest.mark.parametrize("problem", ["truncated", "dtype", "shape"])
def test_broken_ood_file(tmp_path, problem):
    folder = tmp_path / "ood-test"
    f = folder / "distortion00.npy"
    if problem == "truncated":
        writers.write_ood_file(f, imgs(10))
        f.write_bytes(f.read_bytes()[:5000])
    else:
        folder.mkdir()
        np.save(f, np.zeros((10, 32, 32, 3), np.float32) if problem == "dtype"
                else np.zeros((7, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match={"truncated": "truncated", "dtype": "float32",
                                         "shape": "shape"}[problem]) as e:
        check(folder)
    assert e.value.where == str(f)


def test_missing_ood_file_in_sequence(tmp_path):
    folder = tmp_path / "ood-test"
    for k in (0, 2):
        writers.write_ood_file(folder / f"distortion{k:02d}.npy", imgs(5))
    with pytest.raises(UserError, match="file not found") as e:
        check(folder)
    assert e.value.where.endswith("distortion01.npy")


def test_truncated_stl10(tmp_path):
    root = writers.write_stl10(tmp_path / "stl", "train", imgs(2, 96), np.array([1, 2]))
    f = root / "train_X.bin"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(UserError, match="truncated"):
        formats.load(root)


def test_unknown_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(UserError, match="no data format recognised"):
        formats.detect_format(tmp_path)
