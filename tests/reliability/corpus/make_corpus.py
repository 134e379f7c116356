"""Writes the bad-input corpus in this folder (the files are kept in git; rerun to regenerate).

    python tests/reliability/corpus/make_corpus.py

Every file is small and deterministic. Folders are named after what is wrong with them;
test_bad_inputs.py says, for each, which command reads it and what the error must name.
Good parts (a valid CIFAR-100 folder, a valid OOD folder) are written next to the bad ones so
each case breaks exactly one thing.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N = 4  # images per CIFAR file
RNG = np.random.default_rng(542)


def _pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _cifar100(folder: Path, **changes: object) -> None:
    """A valid cifar-100-python folder of N images, with `changes` applied to the train dict."""
    meta = {b"fine_label_names": [f"c{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"g{i}".encode() for i in range(20)]}
    _pickle(folder / "meta", meta)
    for split in ("train", "test"):
        d = {b"data": RNG.integers(0, 256, (N, 3072), dtype=np.uint8),
             b"fine_labels": [int(x) for x in RNG.integers(0, 100, N)],
             b"coarse_labels": [int(x) for x in RNG.integers(0, 20, N)],
             b"filenames": [f"img{i}.png".encode() for i in range(N)]}
        if split == "train":
            for k, v in changes.items():
                if v is None:
                    d.pop(k.encode())
                else:
                    d[k.encode()] = v
        _pickle(folder / split, d)


def _ood(folder: Path, files: int = 19, per: int = 1, size: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        np.save(folder / f"distortion{k:02d}.npy", RNG.integers(0, 256, (5 * per, size, size, 3), dtype=np.uint8))


def _nyu(path: Path, data: object, ids: object) -> None:
    _pickle(path, {b"data": data, b"ids": ids})


def cifar_cases(root: Path) -> None:
    good = root / "cifar100-good"
    _cifar100(good)
    raw = (good / "train").read_bytes()
    for name, mutate in {
        "cifar100-truncated": lambda f: f.write_bytes(raw[: len(raw) // 2]),
        "cifar100-corrupt": lambda f: f.write_bytes(b"\x80\x02}q\x00garbage" + bytes(RNG.integers(0, 256, 64,
                                                                                                   dtype=np.uint8))),
        "cifar100-empty-file": lambda f: f.write_bytes(b""),
        "cifar100-not-a-dict": lambda f: _pickle(f, [1, 2, 3]),
    }.items():
        shutil.copytree(good, root / name)
        mutate(root / name / "train")
    _cifar100(root / "cifar100-missing-labels", fine_labels=None)
    _cifar100(root / "cifar100-wrong-shape", data=RNG.integers(0, 256, (N, 3000), dtype=np.uint8))
    _cifar100(root / "cifar100-wrong-dtype", data=RNG.random((N, 3072)).astype(np.float32))
    _cifar100(root / "cifar100-label-out-of-range", fine_labels=[0] * (N - 1) + [100])
    _cifar100(root / "cifar100-negative-label", fine_labels=[-1] + [0] * (N - 1))
    _cifar100(root / "cifar100-label-count", fine_labels=[0] * (N - 2))
    _cifar100(root / "cifar100-empty", data=np.zeros((0, 3072), np.uint8), fine_labels=[], coarse_labels=[],
              filenames=[])


def ood_cases(root: Path) -> None:
    _ood(root / "ood-good")
    _ood(root / "ood-missing-file")
    (root / "ood-missing-file" / "distortion05.npy").unlink()
    _ood(root / "ood-truncated")
    f = root / "ood-truncated" / "distortion03.npy"
    f.write_bytes(f.read_bytes()[:100])
    _ood(root / "ood-corrupt")
    (root / "ood-corrupt" / "distortion00.npy").write_bytes(b"not a numpy file at all")
    _ood(root / "ood-wrong-dtype")
    np.save(root / "ood-wrong-dtype" / "distortion07.npy", np.zeros((5, 4, 4, 3), np.float32))
    _ood(root / "ood-wrong-shape")
    np.save(root / "ood-wrong-shape" / "distortion02.npy", np.zeros((5, 4, 4), np.uint8))
    _ood(root / "ood-not-five-severities")
    np.save(root / "ood-not-five-severities" / "distortion00.npy", np.zeros((7, 4, 4, 3), np.uint8))
    _ood(root / "ood-mixed-shapes")
    np.save(root / "ood-mixed-shapes" / "distortion09.npy", np.zeros((10, 4, 4, 3), np.uint8))
    _ood(root / "ood-pickled-objects")
    np.save(root / "ood-pickled-objects" / "distortion01.npy", np.array([{"a": 1}] * 5, dtype=object))


def nyu_cases(root: Path) -> None:
    images = RNG.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    _nyu(root / "nyu-ids-length" / "cifar_test_nolabels.pkl", images, list(range(5)))
    _nyu(root / "nyu-wrong-shape" / "cifar_test_nolabels.pkl", images.reshape(6, 96, 32), list(range(6)))
    _nyu(root / "nyu-wrong-dtype" / "cifar_test_nolabels.pkl", images.astype(np.float64), list(range(6)))
    _pickle(root / "nyu-no-ids" / "cifar_test_nolabels.pkl", {b"data": images})
    good = root / "nyu-truncated" / "cifar_test_nolabels.pkl"
    _nyu(good, images, list(range(6)))
    good.write_bytes(good.read_bytes()[:500])


def other_cases(root: Path) -> None:
    stl = root / "stl10-bad-size"
    stl.mkdir(parents=True, exist_ok=True)
    (stl / "train_X.bin").write_bytes(bytes(3 * 96 * 96 + 17))
    (stl / "train_y.bin").write_bytes(bytes([1]))
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (stl / "class_names.txt").write_text("".join(f"{n}\n" for n in names))
    img = root / "imagefolder-corrupt-image" / "cats"
    img.mkdir(parents=True, exist_ok=True)
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "empty-folder").mkdir(exist_ok=True)
    (root / "empty-folder" / ".keep").write_text("")
    (root / "imagefolder-no-images" / "dogs").mkdir(parents=True, exist_ok=True)
    (root / "imagefolder-no-images" / "dogs" / "notes.txt").write_text("no images here\n")


RECIPES = {
    "unknown-key.toml": 'base = "simplecnn-1conv"\n[train]\nepochz = 3\n',
    "unknown-section.toml": 'base = "simplecnn-1conv"\n[trian]\nepochs = 3\n',
    "syntax-error.toml": 'base = "simplecnn-1conv"\n[train\nepochs = 3\n',
    "wrong-type.toml": 'base = "simplecnn-1conv"\n[train]\nepochs = "ten"\n',
    "nan-lr.toml": 'base = "simplecnn-1conv"\n[optim]\nlr = nan\n',
    "negative-batch.toml": 'base = "simplecnn-1conv"\n[train]\nbatch_size = -8\n',
    "unknown-base.toml": 'base = "no-such-recipe"\n',
    "base-loop.toml": 'base = "base-loop.toml"\n',
    "mean-two-values.toml": 'base = "simplecnn-1conv"\n[data]\nmean = [0.5, 0.5]\n',
    "unknown-model.toml": 'base = "simplecnn-1conv"\n[model]\nname = "resnet9000"\n',
    "binary.toml": None,  # written as bytes below
}


def recipe_cases(root: Path) -> None:
    folder = root / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in RECIPES.items():
        if text is None:
            (folder / name).write_bytes(b"\xff\xfe\x00bad\x00")
        else:
            (folder / name).write_text(text)


def csv_cases(root: Path) -> None:
    """Submissions for the demo workspace of 4 classes and one image per OOD severity (95 rows,
    ids distortionNN_S_0), each wrong in one way."""
    ids = [f"distortion{k:02d}_{s}_0" for k in range(19) for s in range(1, 6)]
    good = [f"{i},{n % 4}" for n, i in enumerate(ids)]
    root.mkdir(parents=True, exist_ok=True)
    cases = {
        "wrong-header.csv": ["ID,Labels", *good],
        "missing-rows.csv": ["id,label", *good[:-3]],
        "extra-rows.csv": ["id,label", *good, "distortion19_1_0,0"],
        "unknown-id.csv": ["id,label", *good[:10], "picture_10,1", *good[11:]],
        "wrong-order.csv": ["id,label", good[1], good[0], *good[2:]],
        "duplicate-id.csv": ["id,label", *good[:5], good[4], *good[6:]],
        "label-out-of-range.csv": ["id,label", *good[:7], f"{ids[7]},4", *good[8:]],
        "negative-label.csv": ["id,label", *good[:2], f"{ids[2]},-1", *good[3:]],
        "label-not-a-number.csv": ["id,label", *good[:3], f"{ids[3]},cat", *good[4:]],
        "three-columns.csv": ["id,label", *good[:9], f"{ids[9]},1,2", *good[10:]],
        "header-only.csv": ["id,label"],
        "empty.csv": [],
    }
    for name, lines in cases.items():
        (root / name).write_text("".join(line + "\n" for line in lines))
    (root / "not-utf8.csv").write_bytes(b"id,label\n" + b"\xff\xfe\x00\x01,\x80\n" * 95)


def main() -> None:
    for child in HERE.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    data = HERE / "data"
    cifar_cases(data)
    ood_cases(data)
    nyu_cases(data)
    other_cases(data)
    recipe_cases(HERE)
    csv_cases(HERE / "csv")
    print(f"wrote {sum(1 for p in HERE.rglob('*') if p.is_file())} files under {HERE}")


if __name__ == "__main__":
    main()
