"""Writers for the competition data formats: the demo competition and the tests use them.

Each takes uint8 N x H x W x 3 images and writes the exact on-disk layout that the
matching reader in `kagglebench.data.formats` (and the original datasets) use. Files are
written to a temporary name then renamed, so a failure leaves no half-written file.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kagglebench.atomic import replacing, write_bytes
from kagglebench.data.formats import OOD_SEVERITIES, STL10_CLASSES


def _atomic_bytes(path: Path, data: bytes) -> None:
    write_bytes(path, data)


class _Py2Pickler(pickle._Pickler):
    """Writes `bytes` as Python 2 `str` (the BINSTRING opcodes), as the original CIFAR pickles
    hold them: read back as bytes with encoding="bytes" and as str with encoding="latin1"
    (torchvision's way). Python 3's own protocol-2 pickles would read back as bytes either way."""

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def _pickle(path: Path, obj: dict, py2: bool = True) -> None:
    # Protocol 2 like the original CIFAR files; fixed protocol keeps the bytes reproducible.
    buf = io.BytesIO()
    (_Py2Pickler if py2 else pickle.Pickler)(buf, protocol=2).dump(obj)
    _atomic_bytes(path, buf.getvalue())


def _planar(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.uint8)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def _b(names: Sequence[str]) -> list[bytes]:
    return [n.encode() for n in names]


def write_cifar10(root: str | os.PathLike, train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], classes: Sequence[str],
                  batches: int = 5) -> Path:
    """A `cifar-10-batches-py` folder: data_batch_1..`batches`, test_batch, batches.meta."""
    root = Path(root)
    x, y = train
    for i, idx in enumerate(np.array_split(np.arange(len(x)), batches), start=1):
        _pickle(root / f"data_batch_{i}", {b"batch_label": f"training batch {i} of {batches}".encode(),
                                           b"labels": [int(v) for v in y[idx]],
                                           b"data": _planar(x[idx])})
    _pickle(root / "test_batch", {b"batch_label": b"testing batch 1 of 1",
                                  b"labels": [int(v) for v in test[1]], b"data": _planar(test[0])})
    _pickle(root / "batches.meta", {b"label_names": _b(classes), b"num_vis": 3072,
                                    b"num_cases_per_batch": len(x) // batches})
    return root


def write_cifar100_split(root: str | os.PathLike, split: str, images: np.ndarray,
                         fine: np.ndarray, coarse: np.ndarray) -> Path:
    """One CIFAR-100 split file (`train` or `test`) with fine and coarse labels."""
    path = Path(root) / split
    _pickle(path, {b"filenames": [f"{split}_{i:06d}.png".encode() for i in range(len(images))],
                   b"batch_label": f"{split}ing batch 1 of 1".encode(),
                   b"fine_labels": [int(v) for v in fine],
                   b"coarse_labels": [int(v) for v in coarse], b"data": _planar(images)})
    return path


def write_cifar100(root: str | os.PathLike, train: tuple[np.ndarray, np.ndarray, np.ndarray],
                   test: tuple[np.ndarray, np.ndarray, np.ndarray], fine_names: Sequence[str],
                   coarse_names: Sequence[str]) -> Path:
    """A `cifar-100-python` folder; train/test are (images, fine labels, coarse labels)."""
    root = Path(root)
    write_cifar100_split(root, "train", *train)
    write_cifar100_split(root, "test", *test)
    _pickle(root / "meta", {b"fine_label_names": _b(fine_names),
                            b"coarse_label_names": _b(coarse_names)})
    return root


def write_stl10(root: str | os.PathLike, split: str, images: np.ndarray,
                labels: np.ndarray | None, classes: Sequence[str] = STL10_CLASSES) -> Path:
    """STL-10 binary files for one split (96x96, column-major planes, labels 1-based)."""
    root = Path(root)
    images = np.asarray(images, dtype=np.uint8)
    _atomic_bytes(root / f"{split}_X.bin", np.ascontiguousarray(images.transpose(0, 3, 2, 1)).tobytes())
    if labels is not None:
        _atomic_bytes(root / f"{split}_y.bin", (np.asarray(labels) + 1).astype(np.uint8).tobytes())
    _atomic_bytes(root / "class_names.txt", ("\n".join(classes) + "\n").encode())
    return root


def write_ood_file(path: str | os.PathLike, images: np.ndarray) -> Path:
    """One DS-542 `distortionNN.npy` (uint8 5*N x H x W x 3, severity-major)."""
    path = Path(path)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if len(images) % OOD_SEVERITIES:
        raise ValueError("an OOD file holds 5 severities of the same number of images")
    with replacing(path, suffix=".npy") as tmp:
        np.save(tmp, images, allow_pickle=False)
    return path


def write_nyu_pickle(path: str | os.PathLike, images: np.ndarray, ids: Sequence[int | str],
                     layout: str = "NHWC") -> Path:
    """The NYU unlabeled test pickle; layout "NHWC" or "channel-planar" (N x 3072)."""
    images = np.asarray(images, dtype=np.uint8)
    data = images if layout == "NHWC" else _planar(images)
    # The course's pickle was made with Python 3: it loads with or without encoding="bytes".
    _pickle(Path(path), {b"data": data, b"ids": list(ids)}, py2=False)
    return Path(path)


def write_imagefolder(root: str | os.PathLike, images: np.ndarray, labels: np.ndarray | None,
                      classes: Sequence[str] = (), ids: Sequence[str] | None = None) -> Path:
    """PNG files: `root/<class>/<id>.png` when labelled, else `root/<id>.png`."""
    from PIL import Image

    root = Path(root)
    ids = list(ids) if ids is not None else [f"{i:05d}" for i in range(len(images))]
    for i, img in enumerate(np.asarray(images, dtype=np.uint8)):
        folder = root / classes[int(labels[i])] if labels is not None else root
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(folder / f"{ids[i]}.png", suffix=".png") as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
    return root


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """A small CSV (sample submissions, answer keys), written atomically."""
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in rows]
    _atomic_bytes(Path(path), ("\n".join(lines) + "\n").encode())
    return Path(path)
