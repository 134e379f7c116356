"""The local out-of-distribution estimate: the corruption suite over a seeded subset of the validation split.

The hidden leaderboard of the DS-542 challenge scores CIFAR-100-C-like corrupted images
(19 corruptions x 5 severities). We corrupt a seeded subset of the run's own validation
images the same way (kagglebench.data.corruptions) and report accuracy per corruption and
severity and their mean: the local stand-in for the leaderboard score, with a 95% interval
from a bootstrap over the base images (all 95 blocks share them; see evaluate/intervals.py).
The subset size trades precision for time: on a CPU the default (200 images) keeps a small
model's run to about a minute and states the interval (about +-5 points for a mid-range
accuracy), not a small one; `--ood-samples` sets it; on a GPU the whole split is cheap.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.evaluate import intervals

CPU_DEFAULT_SAMPLES = 200   # x 95 blocks = 19,000 images: about a minute for a small CNN on 2 cores
DEFAULT_SEED = 0


def default_samples(device: str, n_val: int) -> int:
    """How many validation images the suite corrupts when the user does not say."""
    return n_val if str(device).startswith("cuda") else min(n_val, CPU_DEFAULT_SAMPLES)


def subset(n_val: int, n: int, seed: int) -> np.ndarray:
    """Sorted positions (into the validation split) of the seeded OOD subset."""
    if n >= n_val:
        return np.arange(n_val)
    return np.sort(np.random.default_rng(seed).choice(n_val, size=n, replace=False))


def suite() -> list[tuple[str, int]]:
    """(corruption, severity) blocks in the order their logits are stored."""
    from kagglebench.data.corruptions import CORRUPTIONS

    return [(c, s) for c in CORRUPTIONS for s in range(1, 6)]


def suite_fingerprint() -> str:
    """Changes whenever the corruption code changes, so cached OOD logits are recomputed."""
    from kagglebench.data import corruptions

    # a package (data/corruptions/) or a single module: hash every source file it is made of
    files = sorted(Path(p).glob("*.py") for p in getattr(corruptions, "__path__", []))
    paths = [f for group in files for f in group] or [Path(inspect.getfile(corruptions))]
    h = hashlib.sha256()
    for f in sorted(paths):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def block_seed(seed: int, corruption_idx: int, severity: int) -> int:
    return seed * 1_000_003 + corruption_idx * 10 + severity


def blocks(images: np.ndarray, seed: int, device: str = "cpu") -> Iterator[tuple[str, int, Any]]:
    """Corrupted copies of `images` (uint8 NHWC), one block per corruption and severity.

    On a GPU the subset is moved there once and corrupted in place (corrupt_torch), so the
    suite never round-trips through host memory; on the CPU blocks are numpy arrays.
    """
    from kagglebench.data import corruptions

    if str(device).startswith("cuda"):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        fn = corruptions.corrupt_torch
    else:
        x, fn = images, corruptions.corrupt
    for ci, name in enumerate(corruptions.CORRUPTIONS):
        for sev in range(1, 6):
            yield name, sev, fn(x, name, sev, block_seed(seed, ci, sev))


def index(n: int) -> list[tuple[str, int, int, int]]:
    """(corruption, severity, start, stop) row ranges of the OOD logits for a subset of n images."""
    return [(c, s, i * n, (i + 1) * n) for i, (c, s) in enumerate(suite())]


def table(logits: np.ndarray, labels: np.ndarray, idx: list[tuple[str, int, int, int]]) -> dict[str, Any]:
    """Accuracy per corruption and severity, per severity, per corruption, and the overall mean."""
    preds = np.asarray(logits, dtype=np.float32).argmax(axis=1)
    right = preds == np.asarray(labels)
    acc: dict[str, dict[str, float]] = {}
    for c, s, a, b in idx:
        acc.setdefault(c, {})[str(s)] = float(right[a:b].mean())
    by_sev = {str(s): float(np.mean([acc[c][str(s)] for c in acc])) for s in range(1, 6)}
    by_corr = {c: float(np.mean(list(v.values()))) for c, v in acc.items()}
    # the interval resamples base images: each carries its 95 corrupted copies (evaluate/intervals.py)
    ci = list(intervals.accuracy_ci(right, blocks=len(idx))) if idx else None
    return {"ood": acc, "by_severity": by_sev, "by_corruption": by_corr,
            "ood_acc": float(right.mean()), "ood_ci": ci, "samples": int(idx[0][3] - idx[0][2]) if idx else 0}
