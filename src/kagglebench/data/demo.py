"""The demo competition: procedurally drawn images written as a complete kagglebench workspace.

Each fine class is a (shape, texture) pair; fine classes come in groups of five sharing a
shape and a texture family, which form the coarse classes as in CIFAR-100. Colour, position,
scale, rotation, background, clutter and noise are random nuisances, so mean colour says
next to nothing about the class while a small CNN learns it in a few epochs.

`write_demo` writes, in the real formats: a CIFAR-100 `train`/`test`, an OOD test folder in
the DS-542 layout (19 corruptions x 5 severities of a held-out draw, through
`kagglebench.data.corruptions`), a `sample_submission.csv`, and an answer key kept outside
the data folder. Same arguments, same bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from kagglebench.errors import UserError

SHAPES = ["circle", "square", "triangle", "cross", "ring", "diamond", "star", "hexagon",
          "crescent", "ellipse"]
# The first five textures form the "plain" coarse groups, the last five the "patterned" ones.
TEXTURES = ["solid", "striped", "dotted", "checkered", "outlined",
            "ringed", "speckled", "gridded", "halved", "glowing"]
FAMILIES = np.array([[220, 40, 40], [240, 140, 30], [230, 210, 40], [50, 180, 60],
                     [40, 200, 210], [40, 80, 220], [150, 60, 200], [150, 150, 150]], np.float32)
COMPETITION = "kagglebench-demo"
MAX_CLASSES = len(SHAPES) * len(TEXTURES)
_SS = 2  # supersampling factor: draw at 64x64, average down to 32x32 (anti-aliasing)
_CHUNK = 500


def class_names(n: int) -> tuple[list[str], list[str], np.ndarray]:
    """(fine names, coarse names, coarse index of each fine class) for `n` classes."""
    fine, coarse_of = [], []
    for k in range(n):
        shape, tex = _class_parts(k)
        fine.append(f"{TEXTURES[tex]}_{SHAPES[shape]}")
        coarse_of.append(k // 5)
    coarse = [f"{'plain' if c < 10 else 'patterned'}_{SHAPES[c % 10]}s"
              for c in range(max(coarse_of) + 1)]
    return fine, coarse, np.asarray(coarse_of, np.int64)


def _class_parts(k: int) -> tuple[int, int]:
    coarse = k // 5
    return coarse % 10, (coarse // 10) * 5 + k % 5


def _shape_mask(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r = np.hypot(u, v)
    a = np.arctan2(v, u)
    name = SHAPES[shape]
    if name == "circle":
        return r < 0.85
    if name == "square":
        return np.maximum(abs(u), abs(v)) < 0.7
    if name == "triangle":
        return (v > -0.55) & (abs(u) < (0.85 - v) * 0.62)
    if name == "cross":
        return ((abs(u) < 0.28) & (abs(v) < 0.9)) | ((abs(v) < 0.28) & (abs(u) < 0.9))
    if name == "ring":
        return (r < 0.9) & (r > 0.5)
    if name == "diamond":
        return abs(u) + abs(v) < 0.95
    if name == "star":
        return r < 0.55 + 0.35 * np.cos(5 * a)
    if name == "hexagon":
        return np.maximum(abs(u) * 0.866 + abs(v) * 0.5, abs(v)) < 0.78
    if name == "crescent":
        return (r < 0.85) & (np.hypot(u - 0.4, v) > 0.6)
    return (u / 0.95) ** 2 + (v / 0.5) ** 2 < 1  # ellipse


def _texture(tex: int, u: np.ndarray, v: np.ndarray, shape_mask_inner: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """1 where the primary colour shows, 0 where the secondary one does."""
    r = np.hypot(u, v)
    name = TEXTURES[tex]
    if name == "solid":
        t = np.ones_like(u)
    elif name == "striped":
        t = np.sin(u * np.pi / 0.22) > 0
    elif name == "dotted":
        t = np.hypot((u % 0.5) - 0.25, (v % 0.5) - 0.25) > 0.14
    elif name == "checkered":
        t = (np.floor(u / 0.35) + np.floor(v / 0.35)) % 2 == 0
    elif name == "outlined":
        t = ~shape_mask_inner
    elif name == "ringed":
        t = np.sin(r * np.pi / 0.2) > 0
    elif name == "speckled":
        n = len(u)
        coarse = rng.random((n, 16, 16)) > 0.5
        t = coarse.repeat(u.shape[1] // 16, 1).repeat(u.shape[2] // 16, 2)
    elif name == "gridded":
        t = (abs(u % 0.45 - 0.225) > 0.07) & (abs(v % 0.45 - 0.225) > 0.07)
    elif name == "halved":
        t = u > 0
    else:  # glowing: bright centre fading to the secondary colour
        t = np.clip(1.1 - r, 0, 1)
    return np.asarray(t, np.float32)


def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one uint8 32x32x3 image per label (a fine-class index)."""
    n, size = len(labels), 32 * _SS
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    gy, gx = np.meshgrid(g, g, indexing="ij")
    # Background: a random colour family, a linear gradient and a few clutter blobs.
    bg = FAMILIES[rng.integers(0, len(FAMILIES), n)] * rng.uniform(0.3, 1.1, (n, 1)).astype(np.float32)
    grad = rng.uniform(-0.4, 0.4, (n, 2)).astype(np.float32)
    img = bg[:, None, None, :] * (1 + grad[:, 0, None, None, None] * gx[None, ..., None]
                                  + grad[:, 1, None, None, None] * gy[None, ..., None])
    for _ in range(2):
        c = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        rad = rng.uniform(0.05, 0.25, n).astype(np.float32)
        blob = np.hypot(gx - c[:, 0, None, None], gy - c[:, 1, None, None]) < rad[:, None, None]
        col = rng.uniform(0, 255, (n, 3)).astype(np.float32)
        img = np.where(blob[..., None], col[:, None, None, :], img)
    # The object: random centre, scale and rotation; the shape frame carries the texture.
    cx, cy = rng.uniform(-0.3, 0.3, (2, n)).astype(np.float32)
    scale = rng.uniform(0.4, 0.7, n).astype(np.float32)
    th = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    dx, dy = gx - cx[:, None, None], gy - cy[:, None, None]
    cos, sin, s = np.cos(th)[:, None, None], np.sin(th)[:, None, None], scale[:, None, None]
    u, v = (dx * cos + dy * sin) / s, (-dx * sin + dy * cos) / s
    mask = np.zeros((n, size, size), bool)
    tex = np.zeros((n, size, size), np.float32)
    for k in np.unique(labels):
        sel = labels == k
        shape, texture = _class_parts(int(k))
        mask[sel] = _shape_mask(shape, u[sel], v[sel])
        inner = _shape_mask(shape, u[sel] / 0.6, v[sel] / 0.6)
        tex[sel] = _texture(texture, u[sel], v[sel], inner, rng)
    c1 = FAMILIES[rng.integers(0, len(FAMILIES), n)] + rng.normal(0, 18, (n, 3)).astype(np.float32)
    c2 = c1 * rng.uniform(0.15, 0.45, (n, 1)).astype(np.float32)
    fg = (c1[:, None, None, :] * tex[..., None] + c2[:, None, None, :] * (1 - tex[..., None]))
    img = np.where(mask[..., None], fg, img)
    img = img.reshape(n, 32, _SS, 32, _SS, 3).mean(axis=(2, 4))
    img += rng.uniform(2, 14, (n, 1, 1, 1)).astype(np.float32) * rng.standard_normal(img.shape, np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def generate(n: int, classes: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` balanced, shuffled images and labels; `stream` separates train/test/OOD draws."""
    rng = np.random.default_rng([seed, stream])
    labels = rng.permutation(np.arange(n) % classes).astype(np.int64)
    images = np.empty((n, 32, 32, 3), np.uint8)
    for i, start in enumerate(range(0, n, _CHUNK)):
        stop = min(n, start + _CHUNK)
        images[start:stop] = draw(labels[start:stop], np.random.default_rng([seed, stream, i]))
    return images, labels


def _check_sizes(classes: int, train: int, test: int) -> None:
    if not 2 <= classes <= MAX_CLASSES:
        raise UserError("--classes", f"{classes} is out of range: the demo has 2 to {MAX_CLASSES} classes")
    if train < 2 * classes:
        raise UserError("--train", f"{train} images is too few for {classes} classes (need at "
                        f"least {2 * classes})")
    if test < 1:
        raise UserError("--test", f"{test} must be at least 1")


def write_demo(dir: str | os.PathLike, classes: int = 10, train: int = 5000, test: int = 100,
               seed: int = 0, ood: bool = True) -> Path:
    """Write a complete demo workspace at `dir` (which must not exist or be empty).

    Built in a temporary folder beside `dir` and renamed at the end, so a failure leaves
    nothing behind. `test` is the size of the labelled test split and of each OOD severity.
    """
    _check_sizes(classes, train, test)
    target = Path(dir).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(target, "already exists and is not empty; pick a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _build(tmp, classes, train, test, seed, ood)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _build(root: Path, classes: int, train: int, test: int, seed: int, ood: bool) -> None:
    from kagglebench.data import writers
    from kagglebench.workspace import write_settings

    fine, coarse, coarse_of = class_names(classes)
    xtr, ytr = generate(train, classes, seed, 0)
    xte, yte = generate(test, classes, seed, 1)
    data = root / "data"
    writers.write_cifar100(data / "cifar-100-python", (xtr, ytr, coarse_of[ytr]),
                           (xte, yte, coarse_of[yte]), fine, coarse)
    settings = {"competition": COMPETITION, "profile": "demo",
                "data": {"train": "data/cifar-100-python", "classes": fine},
                "demo": {"seed": seed, "classes": classes, "train": train, "test": test}}
    if ood:
        names, rows = _write_ood(data / "ood-test", classes, test, seed)
        ids = [r[0] for r in rows]
        writers.write_csv(data / "sample_submission.csv", ["id", "label"], [(i, 0) for i in ids])
        writers.write_csv(root / "answer-key" / "ood_answers.csv", ["id", "label"], rows)
        settings["data"].update(test="data/ood-test", sample_submission="data/sample_submission.csv",
                                answer_key="answer-key/ood_answers.csv")
        settings["submission"] = {"id_col": "id", "label_col": "label", "rows": len(ids)}
        settings["demo"]["corruptions"] = names
    write_settings(root, settings)


def _write_ood(folder: Path, classes: int, n: int, seed: int) -> tuple[list[str], list[tuple]]:
    """19 distortion files of 5 severities each, from a held-out draw; returns the corruption
    names (distortionNN is names[NN]) and the answer-key rows in submission order."""
    from kagglebench.data import corruptions, writers
    from kagglebench.data.formats import ood_ids

    base, labels = generate(n, classes, seed, 2)
    names = list(corruptions.CORRUPTIONS)[:19]
    rows: list[tuple] = []
    for k, name in enumerate(names):
        sev = [corruptions.corrupt(base, name, s, seed * 1000 + k * 10 + s) for s in range(1, 6)]
        writers.write_ood_file(folder / f"distortion{k:02d}.npy", np.concatenate(sev))
        rows += list(zip(ood_ids(k, n), np.tile(labels, 5).tolist()))
    return names, rows
