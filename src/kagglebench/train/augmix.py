"""AugMix (Hendrycks et al. 2020) and its Jensen-Shannon consistency loss, batched on the device.

Follows github google-research/augmix (`augmentations.py`, `cifar.py`; a test-only transcription
is tests/reference/augmix.py). Each image gets `width` chains of 1-3 random operations (depth
drawn per chain), mixed with Dirichlet weights, then blended with the clean image by a Beta draw:

    mixed = (1 - m) * x + m * sum_i w_i * chain_i(x),   w ~ Dir(alpha), m ~ Beta(alpha, alpha)

The operations are the original's CIFAR default list (`augmentations.augmentations`). Its
`augmentations_all` adds color, contrast, brightness and sharpness, which AugMix leaves out
because they overlap the test corruptions (CIFAR-C's saturate, contrast, brightness...): they
are not here at all, so no recipe can train on the corruptions it is scored on.

Every draw is per image, as in the original (its Dataset draws per sample). torchvision's v2
AugMix does not fit that: it draws one operation chain per call for the whole batch, and its
magnitudes come from 10 bins (at severity 3 only 0, 1/9 or 2/9 of the maximum, where the
original draws a level uniformly in [0.1, 3) of 10) and it shears about the centre where PIL
shears about the corner. So the chains here are written on whole batches: the five geometric
operations are per-image affine maps sampled bilinearly the way Pillow's C code samples them
(edge pixels clamped, black beyond), posterize, solarize and autocontrast are per-image lookups, and
equalize is torchvision v2's batched functional (per image and channel, as PIL's). Each operation
matches the PIL original on the same image and level to within one grey level (tests).

With the JSD loss the pipeline yields the clean batch and two AugMix views stacked ((3N, C, H, W)
for N labels, one forward pass, as cifar.py does); `jsd_loss` splits the logits again.
Draws use the global torch generator, which checkpoints save.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from kagglebench.errors import UserError

# The original's `augmentations.augmentations`, in its order (the CIFAR default, --all-ops off).
OPS = ("autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y",
       "translate_x", "translate_y")
# What `augmentations_all` adds and AugMix leaves out: each overlaps a test corruption.
EXCLUDED = {"color": "saturate", "contrast": "contrast", "brightness": "brightness", "sharpness": "gaussian_blur"}
_AFFINE = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
VIEWS_WITH_JSD = 3


# ---------------------------------------------------------------- the operations, per image

def _int_parameter(level: torch.Tensor, maxval: float) -> torch.Tensor:
    return torch.trunc(level * maxval / 10)     # int(level * maxval / 10) for level > 0


def _float_parameter(level: torch.Tensor, maxval: float) -> torch.Tensor:
    return level * maxval / 10.0


def affine_matrices(op_ids: torch.Tensor, level: torch.Tensor, negate: torch.Tensor, size: int) -> torch.Tensor:
    """(k, 6) PIL affine coefficients (a, b, c, d, e, f) -- output (x, y) samples input
    (a x + b y + c, d x + e y + f) -- for k images, each with its own geometric operation
    (`op_ids` index OPS), level and sign, built as the original's operations build them."""
    level = level.double()
    sign = 1.0 - 2.0 * negate.double()
    is_op = {name: (op_ids == OPS.index(name)) for name in _AFFINE}
    # rotate: PIL's Image.rotate(degrees) about the centre (w/2, h/2), coefficients rounded to 15 places
    rad = -torch.deg2rad(_int_parameter(level, 30) * sign)
    cos, sin = torch.round(torch.cos(rad), decimals=15), torch.round(torch.sin(rad), decimals=15)
    ctr = size / 2
    rot = is_op["rotate"]
    shear = _float_parameter(level, 0.3) * sign
    shift = _int_parameter(level, size / 3) * sign
    zero, one = torch.zeros_like(level), torch.ones_like(level)
    a = torch.where(rot, cos, one)
    b = torch.where(rot, sin, torch.where(is_op["shear_x"], shear, zero))
    c = torch.where(rot, -cos * ctr - sin * ctr + ctr, torch.where(is_op["translate_x"], shift, zero))
    d = torch.where(rot, -sin, torch.where(is_op["shear_y"], shear, zero))
    f = torch.where(rot, sin * ctr - cos * ctr + ctr, torch.where(is_op["translate_y"], shift, zero))
    return torch.stack([a, b, c, d, a, f], dim=1)


def pil_affine(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """PIL's `Image.transform(size, AFFINE, m, BILINEAR)` on uint8 (k, C, H, W) with per-image
    coefficients `m` (k, 6), as Pillow's C code does it: pixel centres at +0.5, black where the
    sampled point falls outside the image, neighbours clamped at the edges, coordinates in
    float64, truncated to uint8. (grid_sample in float32 lands a hair off exact pixel
    positions, which truncation turns into off-by-one pixels.)"""
    k, c, h, w = x.shape
    dev = x.device
    m = m.to(dev, torch.float64)
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float64) + 0.5,
                            torch.arange(w, device=dev, dtype=torch.float64) + 0.5, indexing="ij")
    a, b, cc, d, e, f = (m[:, i].view(k, 1, 1) for i in range(6))
    xin = a * xs + b * ys + cc
    yin = d * xs + e * ys + f
    inside = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    xin, yin = xin - 0.5, yin - 0.5
    x0, y0 = torch.floor(xin), torch.floor(yin)
    dx, dy = (xin - x0).unsqueeze(1).float(), (yin - y0).unsqueeze(1).float()
    x0, y0 = x0.long(), y0.long()
    cols = (x0.clamp(0, w - 1), (x0 + 1).clamp(0, w - 1))
    rows = (y0.clamp(0, h - 1), (y0 + 1).clamp(0, h - 1))
    # the four neighbours of every output pixel in one gather (on uint8), then blended
    idx = torch.stack([r * w + q for r in rows for q in cols], dim=1).view(k, 1, 4 * h * w)
    nb = x.reshape(k, c, h * w).gather(2, idx.expand(k, c, 4 * h * w)).view(k, c, 4, h, w).float()
    top = nb[:, :, 0] + (nb[:, :, 1] - nb[:, :, 0]) * dx
    bottom = nb[:, :, 2] + (nb[:, :, 3] - nb[:, :, 2]) * dx
    out = (top + (bottom - top) * dy).clamp_(0, 255)
    return torch.where(inside.unsqueeze(1), out, torch.zeros((), dtype=out.dtype, device=dev)).to(torch.uint8)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """ImageOps.autocontrast per image and channel: int(i * scale + offset) in float64 as PIL's
    lookup table computes it (torchvision's (i - lo) * scale in float32 is off by one at times)."""
    lo = x.amin(dim=(-2, -1), keepdim=True).double()
    hi = x.amax(dim=(-2, -1), keepdim=True).double()
    flat = hi <= lo
    # a true division: `255.0 / tensor` is computed as 255 * (1 / tensor), one ulp off PIL's scale
    scale = torch.where(flat, torch.ones_like(lo), torch.full_like(lo, 255.0).div(torch.where(flat, 1.0, hi - lo)))
    offset = torch.where(flat, torch.zeros_like(lo), -lo * scale)
    return torch.trunc(x.double() * scale + offset).clamp_(0, 255).to(torch.uint8)


def apply_op(op: str, x: torch.Tensor, level: torch.Tensor, negate: torch.Tensor) -> torch.Tensor:
    """One of OPS on uint8 (k, C, H, W), with each image's level in [0.1, severity) and sign."""
    if op == "autocontrast":
        return autocontrast(x)
    if op == "equalize":
        # torchvision only here: importing it costs every training command about a second
        from torchvision.transforms.v2 import functional as TF

        return TF.equalize(x)
    if op == "posterize":
        bits = 4 - _int_parameter(level, 4).to(torch.int64)           # ImageOps.posterize(img, bits)
        mask = (torch.bitwise_left_shift(torch.full_like(bits, 255), 8 - bits) & 255).to(torch.uint8)
        mask = mask.to(x.device).view(-1, 1, 1, 1)
        return x & mask
    if op == "solarize":
        threshold = (256 - _int_parameter(level, 256)).to(x.device).view(-1, 1, 1, 1)
        return torch.where(x.to(torch.int32) >= threshold, 255 - x, x)   # ImageOps.solarize(img, threshold)
    if op in _AFFINE:
        ids = torch.full((len(x),), OPS.index(op))
        return pil_affine(x, affine_matrices(ids, level, negate, x.shape[-1]))
    raise ValueError(f"unknown AugMix operation {op!r}")


# ---------------------------------------------------------------- mixing

def augment_and_mix(x: torch.Tensor, severity: int = 3, width: int = 3, depth: int = -1,
                    alpha: float = 1.0) -> torch.Tensor:
    """One AugMix view of a uint8 (N, C, H, W) batch, every draw per image (cifar.py's `aug`).

    The `width` chains of all N images run together as one (width x N)-image batch; at each
    chain step every image draws its operation, level and sign, and each operation runs once
    on the images that drew it (the five geometric ones as a single affine call). Returned as
    uint8: the mix is rounded once (at most half a grey level), where the original keeps it as
    floats; every chain step is uint8 in the original too (PIL images)."""
    n = len(x)
    if n == 0:
        return x
    ws = torch.distributions.Dirichlet(torch.full((width,), float(alpha))).sample((n,))
    m = torch.distributions.Beta(float(alpha), float(alpha)).sample((n,))
    rows = width * n
    chains = x.repeat(width, 1, 1, 1)            # chain i of image j is row i * n + j
    d = torch.full((rows,), depth) if depth > 0 else torch.randint(1, 4, (rows,))
    geometric = torch.tensor([name in _AFFINE for name in OPS])
    for step in range(int(d.max())):
        op = torch.randint(len(OPS), (rows,))
        level = torch.rand(rows, dtype=torch.float64) * (severity - 0.1) + 0.1   # sample_level
        negate = torch.rand(rows) > 0.5
        active = d > step
        for k, name in enumerate(OPS):
            if name not in _AFFINE:
                pick = ((op == k) & active).nonzero().squeeze(1)
                if len(pick):
                    idx = pick.to(x.device)
                    chains[idx] = apply_op(name, chains[idx], level[pick], negate[pick])
        pick = (geometric[op] & active).nonzero().squeeze(1)
        if len(pick):
            idx = pick.to(x.device)
            chains[idx] = pil_affine(chains[idx], affine_matrices(op[pick], level[pick], negate[pick], x.shape[-1]))
    w = ws.t().reshape(width, n, 1, 1, 1).to(x.device)
    mix = (chains.view(width, *x.shape).float() * w).sum(dim=0)
    m = m.to(x.device).view(n, 1, 1, 1)
    out = x.float().mul_(1 - m).add_(mix.mul_(m))
    return out.add_(0.5).clamp_(0, 255).to(torch.uint8)


class AugMix:
    """The pipeline's `augment` callable: uint8 (N, C, H, W) -> one AugMix view (N rows), or with
    `jsd` the clean batch and two views stacked (3N rows) for `jsd_loss`."""

    def __init__(self, severity: int = 3, width: int = 3, depth: int = -1, alpha: float = 1.0,
                 jsd: bool = True, before: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.severity, self.width, self.depth, self.alpha, self.jsd = severity, width, depth, alpha, jsd
        self.before = before      # another policy (data.policy ...) applied first, as train_transform is

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.before is not None:
            x = self.before(x)
        view = lambda: augment_and_mix(x, self.severity, self.width, self.depth, self.alpha)  # noqa: E731
        return torch.cat([x, view(), view()]) if self.jsd else view()

    def __repr__(self) -> str:
        return (f"AugMix(severity={self.severity}, width={self.width}, depth={self.depth}, "
                f"alpha={self.alpha}, jsd={self.jsd}, ops={list(OPS)})")


def with_augmix(augment: Any, recipe: Any) -> Any:
    """The recipe's augment callable, with AugMix after it when train.augmix is on."""
    t = recipe.train
    if not t.augmix:
        return augment
    if t.jsd_weight > 0 and (t.mixup_alpha > 0 or t.cutmix_alpha > 0):
        raise UserError("train.augmix", "the JSD loss (train.jsd_weight > 0) compares each image's clean and "
                        "augmented views, which mixup/cutmix would blend with other images: set "
                        "train.mixup_alpha=0 and train.cutmix_alpha=0, or train.jsd_weight=0")
    return AugMix(severity=t.augmix_severity, jsd=t.jsd_weight > 0, before=augment)


# ---------------------------------------------------------------- the loss

def jsd_loss(logits_all: torch.Tensor, target: torch.Tensor, weight: float = 12.0,
             smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, clean logits) from the logits of [clean; aug1; aug2]: cross-entropy on the clean
    view plus `weight` x the Jensen-Shannon divergence of the three predictions, the mixture
    clamped to [1e-7, 1] as in cifar.py."""
    n = target.shape[0]
    if logits_all.shape[0] != VIEWS_WITH_JSD * n:
        raise ValueError(f"JSD needs clean + 2 augmented views: {logits_all.shape[0]} logits for {n} labels")
    logits_all = logits_all.float()
    clean, aug1, aug2 = torch.split(logits_all, n)
    loss = F.cross_entropy(clean, target, label_smoothing=smoothing)
    log_p = [F.log_softmax(z, dim=1) for z in (clean, aug1, aug2)]
    log_mix = torch.clamp((log_p[0].exp() + log_p[1].exp() + log_p[2].exp()) / 3.0, 1e-7, 1).log()
    # KL(p || mixture) from log p (log_target): the same value as cifar.py's kl_div(log_mix, p), but
    # where a softmax underflows to exactly 0 (logits 100+ apart, as in a diverging early step)
    # its p log p term has a finite gradient instead of 0 x inf = NaN
    jsd = sum(F.kl_div(log_mix, lp, reduction="batchmean", log_target=True) for lp in log_p) / 3.0
    return loss + weight * jsd, clean

