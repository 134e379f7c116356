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
    spec = formats.FORMATS[fmt]
    if spec.summarise is not None:         # a format read file by file (larger than memory)
        summary.update(spec.summarise(p))
    elif spec.split_files and p.is_dir():   # a folder holding several splits (CIFAR, STL-10)
        for split in spec.splits(p) or [next(iter(spec.split_files))]:
            ds = formats.load(p, fmt, split=split)
            splits[split] = _split_summary(ds)
        summary["class_names"] = ds.classes
        if "coarse_classes" in ds.info:
            summary["coarse_classes"] = len(ds.info["coarse_classes"])
    else:
        ds = formats.load(p, fmt)
        splits["all" if ds.labels is not None else "test"] = _split_summary(ds)
        summary["class_names"] = ds.classes
        if "layout" in ds.info:
            summary["layout"] = ds.info["layout"]
        if ds.info.get("resized"):
            summary["resized"] = True
    empty = [split for split, d in summary["splits"].items() if d["images"] == 0]
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
