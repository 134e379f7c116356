"""Noise and blur corruptions with the CIFAR-10-C / CIFAR-100-C parameters.

Values per severity are those of Hendrycks & Dietterich's `make_cifar_c.py` (milder than
ImageNet-C). Distances in pixels are for 32x32 images and scale with `rand.scale`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._base import EPS_8BIT, Rand, register_corruption
from .filters import filter2d, gaussian_filter, imagemagick_8bit, motion_blur, zoom_matrix


@register_corruption("gaussian_noise")
def gaussian_noise(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return x + rand.normal(tuple(x.shape), std=c)


@register_corruption("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [500, 250, 100, 75, 50][severity - 1]
    return rand.poisson(x * c) / c


@register_corruption("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # skimage's salt & pepper: a fraction c of values flipped, half to 0 and half to 1.
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    u = rand.uniform(tuple(x.shape))
    x = torch.where(u < c / 2, torch.zeros_like(x), x)
    return torch.where((u >= c / 2) & (u < c), torch.ones_like(x), x)


@register_corruption("speckle_noise")
def speckle_noise(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.06, 0.1, 0.12, 0.16, 0.2][severity - 1]
    return x + x * rand.normal(tuple(x.shape), std=c)


@register_corruption("gaussian_blur")
def gaussian_blur(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.4, 0.6, 0.7, 0.8, 1.0][severity - 1]
    return gaussian_filter(x, c * rand.scale, mode="nearest")


def _disk_kernel(radius: float, alias_blur: float, scale: float) -> torch.Tensor:
    """The original `disk`: an aliased disk smoothed by OpenCV's 3x3 gaussian (wider when scaled)."""
    half = max(1, round(scale))
    r = math.ceil(radius) + half + 1
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius ** 2).double()
    disk /= disk.sum()
    g = torch.exp(-torch.arange(-half, half + 1, dtype=torch.float64) ** 2 / (2 * alias_blur ** 2))
    g /= g.sum()
    k = F.conv2d(disk[None, None], (g[:, None] * g[None, :])[None, None], padding=half)
    return k[0, 0].float()


@register_corruption("defocus_blur")
def defocus_blur(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    radius, alias = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    k = _disk_kernel(radius * rand.scale, alias * rand.scale, rand.scale)
    return filter2d(x, k, mode="reflect101")


def _glass_sources(h: int, w: int, n: int, delta: int, iters: int, rand: Rand) -> np.ndarray:
    """Where each pixel comes from after the original's local "swaps", per image (N, H*W).

    The original walks (row, col) from the bottom-right corner and runs
    `x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]` with offsets drawn by
    randint(-delta, delta) (so -delta .. delta - 1). On numpy arrays both right-hand items are
    views: x[h, w] first receives x[h_prime, w_prime], then x[h_prime, w_prime] receives the
    view of x[h, w], which already holds its own value. So the "swap" is a copy
    x[h, w] = x[h_prime, w_prime] and the neighbour keeps its value. The walk order is the same
    for every image, so one Python loop over positions copies for all N images at once.
    """
    rows = range(h - delta, delta, -1)
    cols = range(w - delta, delta, -1)
    steps = len(rows) * len(cols)
    src = np.tile(np.arange(h * w, dtype=np.int64)[:, None], (1, n))   # (HW, N)
    ar = np.arange(n)
    for _ in range(iters):
        d = rand.randint(-delta, delta, (steps, 2, n)).numpy()   # (dx, dy) as the original draws them
        s = 0
        for r in rows:
            for q in cols:
                src[r * w + q] = src[(r + d[s, 1]) * w + (q + d[s, 0]), ar]
                s += 1
    return src.T


@register_corruption("glass_blur")
def glass_blur(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    sigma, delta, iters = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    sigma *= rand.scale
    delta = max(1, round(delta * rand.scale))
    n, c, h, w = x.shape
    # The original stores the first blur as uint8 (truncating) before shuffling.
    x = torch.floor(gaussian_filter(x, sigma).clamp(0, 1) * 255 + EPS_8BIT) / 255
    src = torch.as_tensor(_glass_sources(h, w, n, delta, iters, rand), device=x.device)
    x = torch.gather(x.reshape(n, c, h * w), 2, src[:, None, :].expand(n, c, h * w))
    return gaussian_filter(x.reshape(n, c, h, w), sigma)


@register_corruption("motion_blur")
def motion_blur_(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # ImageMagick's MagickMotionBlurImage (filters.motion_blur) on the image, read back from
    # ImageMagick's 8-bit PNG as the original does.
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    angles = rand.uniform_cpu((x.shape[0],), -45, 45)
    return imagemagick_8bit(motion_blur(x, radius * rand.scale, sigma * rand.scale, angles))


# Up to this many pixels per image (48x48), zoom blur's whole linear map fits in a ~20 MB matrix.
_KRON_PIXELS = 48 * 48


@register_corruption("zoom_blur")
def zoom_blur(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    stop = [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1]
    factors = np.arange(1, stop, 0.01)    # the original's np.arange, float steps included
    n, c, h, w = x.shape
    rows = torch.stack([zoom_matrix(h, z) for z in factors]).to(x.device)    # (Z, H, H)
    cols = torch.stack([zoom_matrix(w, z) for z in factors]).to(x.device)    # (Z, W, W)
    if h * w <= _KRON_PIXELS:
        # Small images: fold identity + all zooms into one (HW, HW) map, one matrix product.
        k = torch.einsum("zik,zjl->ijkl", rows, cols).reshape(h * w, h * w)
        k += torch.eye(h * w, device=x.device)
        return (x.reshape(n * c, h * w) @ k.T).reshape(n, c, h, w) / (len(factors) + 1)
    # Larger images: one zoom at a time, so memory stays a few copies of the batch.
    acc = x.clone()
    for mh, mw in zip(rows, cols):
        acc += mh @ (x @ mw.T)
    return acc / (len(factors) + 1)
