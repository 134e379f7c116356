"""Error bars for accuracy estimates, and the paired test behind `kagglebench compare`.

The unit of resampling is the *base image*. Clean accuracy averages one right/wrong per
validation image; the OOD estimate averages 95 of them per image (19 corruptions x 5
severities of the same image), and those 95 are strongly correlated: an image the model
finds hard stays hard under most corruptions. Treating the 95 x n rows as independent
would make the interval about sqrt(95) times too narrow, so every function here first
reduces to one number per base image (`per_image`) and bootstraps over images.

Two runs evaluated on the same images are compared *paired*: the per-image differences
remove the images' shared difficulty, which is most of the noise. The test's verdict
comes from the bootstrap interval of the mean difference (does it exclude zero?), with a
sign-flip permutation p-value beside it; `images_needed` is the number of base images at
which a difference of the observed size would be detected 80% of the time.

All resampling uses scipy.stats with a fixed seed: the same logits give the same interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 4000
SEED = 0
POWER = 0.8


def per_image(correct: np.ndarray, blocks: int = 1) -> np.ndarray:
    """Mean correctness of each base image, from `blocks` stacked blocks of n rows each
    (the OOD logits' layout: block k holds every base image under one corruption and severity)."""
    c = np.asarray(correct, dtype=np.float64).ravel()
    if blocks < 1 or len(c) % blocks:
        raise ValueError(f"{len(c)} rows do not split into {blocks} blocks of equal size")
    return c.reshape(blocks, -1).mean(axis=0)


def bootstrap_ci(values: np.ndarray, level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (one value per base image)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) == 0:
        return (math.nan, math.nan)
    if len(v) == 1 or np.all(v == v[0]):
        return (float(v[0] if len(v) == 1 else v.mean()),) * 2  # no spread to resample
    res = stats.bootstrap((v,), np.mean, n_resamples=resamples, confidence_level=level, method="percentile",
                          vectorized=True, batch=max(1, 4_000_000 // len(v)), rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return (float(lo), float(hi))


def accuracy_ci(correct: np.ndarray, blocks: int = 1, **kw: Any) -> tuple[float, float]:
    """95% interval of an accuracy: bootstrap over base images of `correct` ((blocks x n) rows)."""
    return bootstrap_ci(per_image(correct, blocks), **kw)


def images_needed(diffs: np.ndarray, level: float = LEVEL, power: float = POWER) -> int | None:
    """Base images at which a paired difference the size of mean(diffs), with their spread, would
    be detected (interval excluding zero) with probability `power`; None when the mean is zero."""
    from scipy.stats import norm

    d = np.asarray(diffs, dtype=np.float64)
    mean, sd = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0
    if mean == 0.0:
        return None
    z = norm.ppf(1 - (1 - level) / 2) + norm.ppf(power)
    return max(2, math.ceil((z * sd / abs(mean)) ** 2))


def paired(per_image_a: np.ndarray, per_image_b: np.ndarray, level: float = LEVEL,
           resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Is B better than A on the same base images? (arrays of one score per image, same order)

    Returns {"n", "a", "b", "diff", "diff_ci", "p_value", "verdict", "images_needed", "identical"}, where
    verdict is "B better", "A better" or "cannot tell" (the interval of the difference holds 0).
    """
    from scipy import stats

    a, b = np.asarray(per_image_a, np.float64), np.asarray(per_image_b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need the same images: shapes {a.shape} and {b.shape}")
    d = b - a
    lo, hi = bootstrap_ci(d, level, resamples, seed)
    if np.all(d == 0):
        p = 1.0
    else:
        p = float(stats.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                         n_resamples=resamples, rng=np.random.default_rng(seed + 1)).pvalue)
    verdict = "B better" if lo > 0 else "A better" if hi < 0 else "cannot tell"
    return {"n": len(d), "a": float(a.mean()), "b": float(b.mean()), "diff": float(d.mean()),
            "diff_ci": [lo, hi], "p_value": p, "verdict": verdict, "images_needed": images_needed(d, level),
            "identical": bool(np.all(d == 0))}


def fmt_ci(ci: Any, pct: bool = True) -> str:
    """`[61.2, 66.0]` (percent) for an interval, `-` when there is none."""
    if not ci or any(x is None or (isinstance(x, float) and math.isnan(x)) for x in ci):
        return "-"
    k = 100 if pct else 1
    return f"[{ci[0] * k:.1f}, {ci[1] * k:.1f}]"
