"""Test-time augmentation: which views of a batch a mode averages, and how to make each view.

Each view's logits are cached on their own (evaluate/cache.py), so `flip` reuses the
plain view that `none` computed, and `flip-shift` reuses both. `flip-shift` is airbench94's
6-view TTA (tta_level 2): half the weight on the centred image and its mirror, half on the
two one-pixel diagonal translations (reflect padding) and their mirrors, each translation
mirrored after it is made (`shift-ul-hflip` is the mirror of `shift-ul`), as airbench does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# The TTA registry: mode -> [(view name, weight)]; weights sum to 1. Its names are the valid
# values of the recipe key data.tta and of --tta.
_PLAN: dict[str, list[tuple[str, float]]] = {
    "none": [("plain", 1.0)],
    "flip": [("plain", 0.5), ("hflip", 0.5)],
    "flip-shift": [("plain", 0.25), ("hflip", 0.25), ("shift-ul", 0.125), ("shift-dr", 0.125),
                   ("shift-ul-hflip", 0.125), ("shift-dr-hflip", 0.125)],
}
MODES = tuple(_PLAN)


def check_mode(mode: str) -> str:
    if mode not in _PLAN:
        raise ValueError(f"unknown TTA mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def views(mode: str) -> list[tuple[str, float]]:
    """The (view, weight) pairs that make up a TTA mode."""
    return list(_PLAN[check_mode(mode)])


def combine(view_logits: dict[str, np.ndarray], mode: str) -> np.ndarray:
    """Weighted mean of the views' logits in float32."""
    out = None
    for name, w in views(mode):
        part = w * np.asarray(view_logits[name], dtype=np.float32)
        out = part if out is None else out + part
    return out


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) pixels, filling the border by reflection (as airbench does)."""
    import torch.nn.functional as F

    p = max(abs(dy), abs(dx))
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    h, w = x.shape[-2:]
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


def apply(view: str, x: torch.Tensor) -> torch.Tensor:
    """One view of a normalized NCHW batch: a shift (one pixel per 32 of input size), then the
    mirror when the name ends in `hflip`."""
    s = max(1, round(x.shape[-1] / 32))
    shift, mirror = view.removesuffix("hflip").rstrip("-") or "plain", view.endswith("hflip")
    if shift == "shift-ul":
        x = _shift(x, -s, -s)
    elif shift == "shift-dr":
        x = _shift(x, s, s)
    elif shift != "plain":
        raise ValueError(f"unknown TTA view {view!r}")
    return x.flip(-1) if mirror else x
