"""`kagglebench data check`: name a data folder's format and summarise what it holds.

`check(path)` reads every part of the format (so broken files are found now, not in the
middle of a training run) and returns a plain dict; `describe(summary)` turns it into the
few lines the command prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.data import formats
from kagglebench.errors import UserError


def _split_summary(ds: formats.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {"images": len(ds), "shape": list(ds.images.shape[1:])}
    if ds.labels is not None and len(ds.classes):
        counts = np.bincount(ds.labels, minlength=len(ds.classes))
        out.update(classes=len(ds.classes), min_per_class=int(counts.min()),
                   max_per_class=int(counts.max()))
    return out


def check(path: str | os.PathLike) -> dict[str, Any]:
    """Load every part of the data at `path`; UserError on the first broken file."""
    fmt = formats.detect_format(path)
    summary: dict[str, Any] = {"path": str(path), "format": fmt, "splits": {}}
    splits = summary["splits"]
    p = Path(path)
    if fmt in ("cifar10", "cifar100") and p.is_dir():
        loader = formats.load_cifar10 if fmt == "cifar10" else formats.load_cifar100
        present = [s for s, f in (("train", "data_batch_1" if fmt == "cifar10" else "train"),
                                  ("test", "test_batch" if fmt == "cifar10" else "test"))
                   if (p / f).exists()]
        for split in present or ["train"]:
            ds = loader(p, split=split)
            splits[split] = _split_summary(ds)
        summary["class_names"] = ds.classes
        if fmt == "cifar100":
            summary["coarse_classes"] = len(ds.info["coarse_classes"])
    elif fmt == "stl10":
        for split in ("train", "test", "unlabeled"):
            if (p / f"{split}_X.bin").exists():
                ds = formats.load_stl10(p, split)
                splits[split] = _split_summary(ds)
        summary["class_names"] = ds.classes
    elif fmt == "ds542-ood":
        files, first = 0, ()
        for k, _ids, arr in formats.iter_ood(p):
            files += 1
            shape = arr.shape
            if k and shape != first:
                raise UserError(p / f"distortion{k:02d}.npy",
                                f"shape {shape} differs from distortion00.npy's {first}")
            first = shape
        short = formats.missing_last(formats.ood_files(p))
        if short:
            raise short
        splits["test"] = {"images": files * first[0], "shape": list(first[1:])}
        summary.update(distortions=files, severities=formats.OOD_SEVERITIES,
                       per_severity=first[0] // formats.OOD_SEVERITIES)
    else:
        ds = formats.load(p if fmt != "digits" else "digits", fmt)
        splits["all" if ds.labels is not None else "test"] = _split_summary(ds)
        summary["class_names"] = ds.classes
        if "layout" in ds.info:
            summary["layout"] = ds.info["layout"]
        if ds.info.get("resized"):
            summary["resized"] = True
    empty = [split for split, d in splits.items() if d["images"] == 0]
    if empty:  # readable, but nothing to train or predict on
        raise UserError(p, f"the {empty[0]} split holds no images (an empty dataset)")
    return summary


def describe(s: dict[str, Any]) -> str:
    """Human-readable lines for a `check` summary."""
    lines = [f"{s['path']}: {s['format']}"]
    for split, d in s["splits"].items():
        shape = "x".join(map(str, d["shape"]))
        line = f"  {split}: {d['images']} images of {shape}"
        if "classes" in d:
            line += (f", {d['classes']} classes, {d['min_per_class']}-{d['max_per_class']} "
                     "images per class")
        lines.append(line)
    if "distortions" in s:
        lines.append(f"  {s['distortions']} distortion files x {s['severities']} severities x "
                     f"{s['per_severity']} images")
    if "layout" in s:
        lines.append(f"  image layout found: {s['layout']}")
    if s.get("resized"):
        lines.append("  note: images of different sizes were resized to the first one's size")
    names = s.get("class_names") or []
    if names:
        shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        lines.append(f"  classes: {shown}")
    return "\n".join(lines)
