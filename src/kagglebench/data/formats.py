"""Readers for the competition data formats (REFERENCE.md section 2), all returning `Dataset`.

Every reader gives uint8 images N x H x W x 3 (memory-mapped where the file allows it),
int64 labels or None, class names from the data's own metadata, and optional ids.
Broken input raises UserError naming the file and what is wrong. Writers live in
`kagglebench.data.writers`.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.errors import UserError

STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
OOD_DISTORTIONS = 19
OOD_SEVERITIES = 5
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_STL_BYTES = 3 * 96 * 96


@dataclass
class Dataset:
    """Images (uint8 N,H,W,3; may be a memmap), labels (int64 or None), class names, ids."""

    images: np.ndarray
    labels: np.ndarray | None
    classes: list[str]
    ids: list[str] | None
    format: str
    path: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class Format:
    """A data format: its reader and, for a folder that holds several splits, the file of each."""

    name: str
    load: Callable[..., Dataset]
    split_files: dict[str, str] = field(default_factory=dict)   # split -> file inside the folder
    summarise: Callable[[Path], dict[str, Any]] | None = None   # `data check` without loading it whole

    def splits(self, path: str | os.PathLike) -> list[str]:
        """The splits present in the folder `path`, in the format's order."""
        return [s for s, f in self.split_files.items() if (Path(path) / f).exists()]


# The format registry: name -> Format (`register_format` on each reader below).
FORMATS: dict[str, Format] = {}


def register_format(name: str, summarise: Callable[[Path], dict[str, Any]] | None = None,
                    **split_files: str) -> Callable:
    """Decorator: a reader `load(path, **options) -> Dataset` becomes the format `name`."""
    def deco(load: Callable[..., Dataset]) -> Callable[..., Dataset]:
        FORMATS[name] = Format(name, load, dict(split_files), summarise)
        return load
    return deco


def has_split(path: str | os.PathLike, fmt: str, split: str) -> bool:
    """Whether the folder `path` in format `fmt` holds `split` (e.g. CIFAR's test file)."""
    return Path(path).is_dir() and split in FORMATS[fmt].splits(path)


# --- detection -------------------------------------------------------------------------

def detect_format(path: str | os.PathLike) -> str:
    """Name the format of `path` (a format's own folder or file); UserError if unknown."""
    if str(path) in ("digits", "sklearn:digits"):
        return "digits"
    p = Path(path)
    if not p.exists():
        raise UserError(p, "no such file or folder")
    if p.is_file():
        if p.suffix == ".pkl" or "nolabel" in p.name:
            return "nyu-pickle"
        if p.name in ("train", "test", "meta"):
            return "cifar100"
        if p.name.startswith(("data_batch", "test_batch")):
            return "cifar10"
        raise UserError(p, "not a data file kagglebench knows (expected a folder such as "
                        "cifar-10-batches-py, cifar-100-python, stl10_binary, ood-test, an "
                        "image-class folder tree, or a .pkl test file)")
    names = {c.name for c in p.iterdir()}
    if "batches.meta" in names or any(n.startswith("data_batch") for n in names):
        return "cifar10"
    if "meta" in names and ("train" in names or "test" in names):
        return "cifar100"
    if any(n.endswith("_X.bin") for n in names):
        return "stl10"
    if any(n.startswith("distortion") and n.endswith(".npy") for n in names):
        return "ds542-ood"
    if any(c.is_dir() and not c.name.startswith(".") for c in p.iterdir()):
        return "imagefolder"
    raise UserError(p, "no data format recognised in this folder (expected CIFAR batches, "
                    "STL-10 .bin files, distortionNN.npy files or one sub-folder per class)")


def load(path: str | os.PathLike, fmt: str | None = None, **kw: Any) -> Dataset:
    """Load `path` as `fmt` (detected when None). Keyword options depend on the format:
    split ("train"/"test"), label_kind ("fine"/"coarse"), classes (STL-10 subset),
    size (ImageFolder), distortion (DS-542 OOD file index)."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise UserError(fmt, f"unknown data format; known formats: {', '.join(FORMATS)}")
    return FORMATS[fmt].load(path, **kw)


# --- helpers -----------------------------------------------------------------------------

def _need(path: Path) -> Path:
    if not path.exists():
        raise UserError(path, "file not found")
    return path


def _unpickle(path: Path) -> dict:
    try:
        with open(_need(path), "rb") as f:
            obj = pickle.load(f, encoding="bytes")
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, ImportError, MemoryError) as e:
        raise UserError(path, f"cannot be read as a pickle (truncated or corrupt?): {e}") from None
    if not isinstance(obj, dict):
        raise UserError(path, f"expected a pickled dict, found {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _key(d: dict, key: str, path: Path) -> Any:
    if key not in d:
        raise UserError(path, f"missing key {key!r} (found {', '.join(map(str, d)) or 'none'})")
    return d[key]


def _names(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _planar_to_nhwc(data: Any, path: Path) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype != np.uint8:
        raise UserError(path, f"image data has dtype {arr.dtype}, expected uint8")
    if arr.ndim != 2 or arr.shape[1] != 3072:
        raise UserError(path, f"image data has shape {arr.shape}, expected (N, 3072)")
    return np.ascontiguousarray(arr.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _labels(values: Any, n: int, num_classes: int, path: Path) -> np.ndarray:
    labels = np.asarray(values, dtype=np.int64).reshape(-1)
    if len(labels) != n:
        raise UserError(path, f"{len(labels)} labels for {n} images")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.max() if labels.max() >= num_classes else labels.min())
        raise UserError(path, f"label {bad} out of range 0..{num_classes - 1}")
    return labels


# --- CIFAR -------------------------------------------------------------------------------

@register_format("cifar10", train="data_batch_1", test="test_batch")
def load_cifar10(path: str | os.PathLike, split: str = "train") -> Dataset:
    """A `cifar-10-batches-py` folder: data_batch_* (train) or test_batch (test)."""
    root = Path(path)
    if root.is_file():
        root, files = root.parent, [root]
    elif split == "train":
        files = sorted(root.glob("data_batch_*"))
        if not files:
            raise UserError(root / "data_batch_1", "file not found")
    else:
        files = [_need(root / "test_batch")]
    classes = _names(_key(_unpickle(root / "batches.meta"), "label_names", root / "batches.meta"))
    images, labels = [], []
    for f in files:
        d = _unpickle(f)
        images.append(_planar_to_nhwc(_key(d, "data", f), f))
        labels.append(_labels(_key(d, "labels", f), len(images[-1]), len(classes), f))
    return Dataset(np.concatenate(images), np.concatenate(labels), classes, None, "cifar10",
                   str(root), {"split": split, "files": [f.name for f in files]})


@register_format("cifar100", train="train", test="test")
def load_cifar100(path: str | os.PathLike, split: str = "train",
                  label_kind: str = "fine") -> Dataset:
    """A `cifar-100-python` folder: `train` or `test`, fine (100) or coarse (20) labels."""
    root = Path(path)
    if root.is_file():
        root, split = root.parent, root.name
    meta = _unpickle(root / "meta")
    fine = _names(_key(meta, "fine_label_names", root / "meta"))
    coarse = _names(_key(meta, "coarse_label_names", root / "meta"))
    f = root / split
    d = _unpickle(f)
    images = _planar_to_nhwc(_key(d, "data", f), f)
    fine_labels = _labels(_key(d, "fine_labels", f), len(images), len(fine), f)
    coarse_labels = _labels(d.get("coarse_labels", np.zeros(len(images))), len(images),
                            len(coarse), f)
    labels, classes = (coarse_labels, coarse) if label_kind == "coarse" else (fine_labels, fine)
    ids = _names(d["filenames"]) if "filenames" in d else None
    info = {"split": split, "label_kind": label_kind, "coarse_labels": coarse_labels,
            "coarse_classes": coarse}
    return Dataset(images, labels, classes, ids, "cifar100", str(root), info)


# --- STL-10 -----------------------------------------------------------------------------

@register_format("stl10", train="train_X.bin", test="test_X.bin", unlabeled="unlabeled_X.bin")
def load_stl10(path: str | os.PathLike, split: str = "train",
               classes: list[str] | None = None) -> Dataset:
    """An `stl10_binary` folder; `classes` keeps a subset, relabelled 0..k-1 in STL-10 order."""
    root = Path(path)
    xfile = _need(root / f"{split}_X.bin")
    size = xfile.stat().st_size
    if size % _STL_BYTES:
        raise UserError(xfile, f"size {size} bytes is not a whole number of 3x96x96 images "
                        "(truncated?)")
    raw = np.memmap(xfile, dtype=np.uint8, mode="r").reshape(-1, 3, 96, 96)
    # Column-major per channel: (N, C, W, H) on disk, so the last two axes swap.
    images = raw.transpose(0, 3, 2, 1)
    names_file = root / "class_names.txt"
    names = names_file.read_text().split() if names_file.exists() else list(STL10_CLASSES)
    yfile = root / f"{split}_y.bin"
    labels = None
    if yfile.exists():
        labels = _labels(np.fromfile(yfile, dtype=np.uint8).astype(np.int64) - 1, len(images),
                         len(names), yfile)
    info: dict[str, Any] = {"split": split}
    if classes:
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise UserError(root, f"unknown STL-10 class {unknown[0]!r}; classes: {', '.join(names)}")
        if labels is None:
            raise UserError(yfile, "file not found (needed to pick a class subset)")
        keep_ids = sorted(names.index(c) for c in classes)
        mask = np.isin(labels, keep_ids)
        remap = np.full(len(names), -1, dtype=np.int64)
        remap[keep_ids] = np.arange(len(keep_ids))
        images, labels = np.ascontiguousarray(images[mask]), remap[labels[mask]]
        names = [names[i] for i in keep_ids]
        info["subset"] = names
    return Dataset(images, labels, names, None, "stl10", str(root), info)


# --- ImageFolder ---------------------------------------------------------------------------

def _image_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)


def decode_images(files: list[Path], size: int | None = None) -> tuple[np.ndarray, bool]:
    """Decode image files with Pillow to uint8 NHWC; all resized to `size` (or the first
    image's size when they differ). Returns (images, whether any were resized)."""
    from PIL import Image, UnidentifiedImageError

    out, resized, target = [], False, None
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                target = target or ((size, size) if size else im.size)
                if im.size != target:
                    im, resized = im.resize(target, Image.BILINEAR), True
                out.append(np.asarray(im, dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as e:
            raise UserError(f, f"cannot be decoded as an image: {e}") from None
    if not out:
        return np.zeros((0, size or 32, size or 32, 3), np.uint8), False
    return np.stack(out), resized


@register_format("imagefolder")
def load_imagefolder(path: str | os.PathLike, size: int | None = None) -> Dataset:
    """A tree `root/<class>/<image>`; classes sorted by folder name (torchvision's rule).
    A flat folder of images loads as an unlabelled set whose ids are the file stems."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(root, "folder not found")
    class_dirs = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
    if not class_dirs:
        files = _image_files(root)
        if not files:
            raise UserError(root, "no images and no class sub-folders found")
        images, resized = decode_images(files, size)
        return Dataset(images, None, [], [f.stem for f in files], "imagefolder", str(root),
                       {"resized": resized, "labelled": False})
    files, labels = [], []
    for i, c in enumerate(class_dirs):
        found = _image_files(c)
        files += found
        labels += [i] * len(found)
    if not files:
        raise UserError(root, "the class sub-folders hold no images")
    images, resized = decode_images(files, size)
    ids = [str(f.relative_to(root)) for f in files]
    return Dataset(images, np.asarray(labels, np.int64), [c.name for c in class_dirs], ids,
                   "imagefolder", str(root), {"resized": resized, "labelled": True})


# --- DS-542 OOD folder -----------------------------------------------------------------------

def ood_files(path: str | os.PathLike) -> list[Path]:
    """The `distortionNN.npy` files of an OOD folder, in order; UserError if any is missing.
    (`missing_last` says whether a full DS-542 set is incomplete at the end.)"""
    root = Path(path)
    if not root.is_dir():
        raise UserError(root, "folder not found")
    files = sorted(root.glob("distortion*.npy"))
    if not files:
        raise UserError(root, "no distortionNN.npy files in this folder")
    expected = [root / f"distortion{i:02d}.npy" for i in range(len(files))]
    for e in expected:
        _need(e)
    return expected


def missing_last(files: list[Path]) -> UserError | None:
    """The error for a DS-542 folder whose files stop short of distortion18.npy (a folder missing
    its last files still looks whole: the ids are counted from the files), else None."""
    if not files or len(files) >= OOD_DISTORTIONS:
        return None
    first_missing = files[0].parent / f"distortion{len(files):02d}.npy"
    return UserError(first_missing, f"file not found: a DS-542 test folder has {OOD_DISTORTIONS} files, "
                                    f"distortion00.npy .. distortion{OOD_DISTORTIONS - 1:02d}.npy, and "
                                    f"{len(files)} are here; its submission could never have the rows "
                                    "the competition scores")


def open_ood_file(file: Path) -> np.ndarray:
    """Memory-map one OOD .npy (uint8 N,32,32,3 with N a multiple of 5)."""
    try:
        arr = np.load(_need(file), mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(file, f"cannot be read as a .npy array (truncated or corrupt?): {e}") from None
    if arr.dtype != np.uint8:
        raise UserError(file, f"dtype {arr.dtype}, expected uint8")
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.shape[0] % OOD_SEVERITIES:
        raise UserError(file, f"shape {arr.shape}, expected (5*N, H, W, 3) uint8 images")
    return arr


def ood_ids(file_index: int, per_severity: int) -> list[str]:
    """Ids of one distortion file: distortion{NN}_{severity}_{i}, severity-major."""
    return [f"distortion{file_index:02d}_{s}_{i}" for s in range(1, OOD_SEVERITIES + 1)
            for i in range(per_severity)]


def iter_ood(path: str | os.PathLike) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """(file index, ids, memmapped images) for each distortion file, one at a time.

    Read the images with `read_rows` (plain file reads): pages touched through the map stay
    resident for as long as the map is referenced."""
    for k, f in enumerate(ood_files(path)):
        arr = open_ood_file(f)
        yield k, ood_ids(k, len(arr) // OOD_SEVERITIES), arr
        del arr               # this generator's reference must not keep the map past its turn


def read_rows(arr: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows start:stop of `arr` as an ordinary in-memory array.

    For a memory-mapped .npy (open_ood_file) the rows are read from the file with a plain
    read at their offset, never through the map: pages read through a map count in the
    process's resident memory until the map is closed, which over the DS-542 folder added up
    to one 154 MB file or more per file read. Anything else is sliced.
    """
    import mmap

    stop = min(stop, len(arr))
    if isinstance(arr, np.memmap) and isinstance(arr.base, mmap.mmap) and arr.filename \
            and arr.flags.c_contiguous and stop > start:
        row = arr.itemsize * int(np.prod(arr.shape[1:]))
        with open(arr.filename, "rb") as f:
            f.seek(int(arr.offset) + start * row)
            out = np.fromfile(f, dtype=arr.dtype, count=(stop - start) * row // arr.itemsize)
        return out.reshape(stop - start, *arr.shape[1:])
    return np.asarray(arr[start:stop])


def summarise_ood(path: Path) -> dict[str, Any]:
    """`data check` of a DS-542 OOD folder, one distortion file at a time (shapes must agree)."""
    files, first = 0, ()
    for k, _ids, arr in iter_ood(path):
        files += 1
        if k and arr.shape != first:
            raise UserError(Path(path) / f"distortion{k:02d}.npy",
                            f"shape {arr.shape} differs from distortion00.npy's {first}")
        first = arr.shape
    short = missing_last(ood_files(path))
    if short:
        raise short
    return {"splits": {"test": {"images": files * first[0], "shape": list(first[1:])}}, "distortions": files,
            "severities": OOD_SEVERITIES, "per_severity": first[0] // OOD_SEVERITIES}


@register_format("ds542-ood", summarise=summarise_ood)
def load_ood(path: str | os.PathLike, distortion: int | None = None) -> Dataset:
    """One distortion file (memory-mapped), or the whole folder when it is small (< 512 MB)."""
    files = ood_files(path)
    if distortion is not None:
        arr, picked = open_ood_file(files[distortion]), [distortion]
    else:
        total = sum(f.stat().st_size for f in files)
        if total > 512 * 2**20:
            raise UserError(path, f"{total / 2**30:.1f} GB is too large to load at once; "
                            "read it one distortion file at a time")
        arrays = [open_ood_file(f) for f in files]
        arr, picked = np.concatenate(arrays), list(range(len(files)))
    per = len(arr) // (OOD_SEVERITIES * len(picked))
    ids = [i for k in picked for i in ood_ids(k, per)]
    return Dataset(arr, None, [], ids, "ds542-ood", str(path),
                   {"files": len(files), "per_severity": per, "severities": OOD_SEVERITIES})


# --- NYU unlabeled test pickle ---------------------------------------------------------------

@register_format("nyu-pickle")
def load_nyu_pickle(path: str | os.PathLike) -> Dataset:
    """The NYU test pickle {b"data", b"ids"}; info["layout"] says which image layout was found."""
    p = Path(path)
    d = _unpickle(p)
    data = np.asarray(_key(d, "data", p))
    if data.dtype != np.uint8:
        raise UserError(p, f"image data has dtype {data.dtype}, expected uint8")
    if data.ndim == 4 and data.shape[3] == 3:
        layout, images = "NHWC", np.ascontiguousarray(data)
    elif data.ndim == 4 and data.shape[1] == 3:
        layout, images = "NCHW", np.ascontiguousarray(data.transpose(0, 2, 3, 1))
    elif data.ndim == 2 and data.shape[1] == 3072:
        layout, images = "channel-planar", _planar_to_nhwc(data, p)
    else:
        raise UserError(p, f"image data has shape {data.shape}; expected (N, 32, 32, 3) or "
                        "(N, 3072)")
    ids = [str(i.decode() if isinstance(i, bytes) else i) for i in _key(d, "ids", p)]
    if len(ids) != len(images):
        raise UserError(p, f"{len(ids)} ids for {len(images)} images")
    return Dataset(images, None, [], ids, "nyu-pickle", str(p), {"layout": layout})


# --- scikit-learn digits ---------------------------------------------------------------------

@register_format("digits")
def load_digits(path: str | os.PathLike = "digits", size: int = 32) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images) as uint8 RGB `size` x `size`."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    gray = (x[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    images = np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=3))
    return Dataset(images, d.target.astype(np.int64), [str(i) for i in range(10)], None,
                   "digits", "sklearn:digits", {"source": "sklearn.datasets.load_digits"})
