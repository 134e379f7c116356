"""The CIFAR writers produce Python 2-style pickles, like the original files: readable with
encoding="bytes" (bytes keys, as kagglebench reads them) and with encoding="latin1" (str keys,
as torchvision's CIFAR classes read them)."""

import pickle

import numpy as np

from kagglebench.data import formats, writers


def test_cifar100_pickles_read_both_ways(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    fine, coarse = rng.integers(0, 4, 12), rng.integers(0, 2, 12)
    folder = writers.write_cifar100(tmp_path / "cifar-100-python", (x, fine, coarse), (x, fine, coarse),
                                    ["apple", "bee", "cat", "dog"], ["food", "animal"])
    with open(tmp_path / "cifar-100-python" / "train", "rb") as f:
        as_torchvision = pickle.load(f, encoding="latin1")
    assert {"data", "fine_labels", "coarse_labels", "filenames"} <= set(as_torchvision)
    planar = x.transpose(0, 3, 1, 2).reshape(12, 3072)
    assert np.array_equal(as_torchvision["data"], planar)
    with open(tmp_path / "cifar-100-python" / "meta", "rb") as f:
        assert pickle.load(f, encoding="latin1")["fine_label_names"] == ["apple", "bee", "cat", "dog"]
    ours = formats.load(folder)
    assert np.array_equal(ours.images, x) and ours.classes == ["apple", "bee", "cat", "dog"]
