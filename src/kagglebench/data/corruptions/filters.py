"""Image operators the corruptions share, written in torch so they run batched on any device.

They reproduce the library calls of the original CIFAR-C generator: scipy/skimage gaussian
filters, OpenCV's filter2D borders, scipy's linear zoom, Pillow's BOX resize and
ImageMagick's motion blur, each as plain tensor arithmetic over (N, C, H, W) batches.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _pad_index(n: int, r: int, mode: str) -> np.ndarray:
    """Source index of each padded position along an axis of length n padded by r each side."""
    i = np.arange(-r, n + r)
    if mode == "nearest":           # scipy 'nearest', OpenCV BORDER_REPLICATE
        return np.clip(i, 0, n - 1)
    if mode == "reflect101":        # OpenCV BORDER_REFLECT_101 (default of filter2D/blur)
        if n == 1:
            return np.zeros_like(i)
        p = 2 * (n - 1)
        i = np.mod(i, p)
        return np.where(i >= n, p - i, i)
    if mode == "symmetric":         # scipy 'reflect' (edge pixel repeated)
        p = 2 * n
        i = np.mod(i, p)
        return np.where(i >= n, p - 1 - i, i)
    raise ValueError(f"unknown padding mode {mode!r}")


def axis_filter_matrix(n: int, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """(n, n) matrix M with M @ signal == correlation of the signal with `kernel` (odd length),
    borders handled by `mode`; filtering as a matrix product keeps it one GEMM per axis."""
    k = kernel.double().numpy()
    r = len(k) // 2
    idx = _pad_index(n, r, mode)
    o = np.arange(n)[:, None]
    t = np.arange(len(k))[None, :]
    m = np.zeros((n, n))
    np.add.at(m, (np.broadcast_to(o, (n, len(k))), idx[o + t]), np.broadcast_to(k, (n, len(k))))
    return torch.as_tensor(m, dtype=torch.float32)


def separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """rows @ plane @ cols.T for every (H, W) plane of x (..., H, W): a linear map per axis.

    Written as two large matrix products (rather than one tiny product per image) because
    that is what runs fast on both CPU and GPU.
    """
    *lead, h, w = x.shape
    rows = rows.to(device=x.device, dtype=x.dtype)
    cols = cols.to(device=x.device, dtype=x.dtype)
    y = torch.matmul(x.reshape(-1, w), cols.T).reshape(-1, h, cols.shape[0])
    y = torch.matmul(y.transpose(1, 2).reshape(-1, h), rows.T)
    h2, w2 = rows.shape[0], cols.shape[0]
    return y.reshape(-1, w2, h2).transpose(1, 2).reshape(*lead, h2, w2)


def filter2d(x: torch.Tensor, kernel: torch.Tensor, mode: str = "reflect101") -> torch.Tensor:
    """Correlate every plane of x (..., H, W) with a 2-D kernel (odd sizes), same output size.

    The kernel is split into rank-1 terms (SVD), each applied as a separable product.
    """
    h, w = x.shape[-2:]
    u, s, vt = torch.linalg.svd(kernel.double())
    out = torch.zeros_like(x)
    for i in range(len(s)):
        if float(s[i]) <= 1e-9 * float(s[0]):
            break
        out += separable(x, axis_filter_matrix(h, u[:, i] * s[i], mode),
                         axis_filter_matrix(w, vt[i], mode))
    return out


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """scipy.ndimage's gaussian kernel: radius int(truncate * sigma + 0.5), normalised."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return torch.ones(1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).float()


def gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "nearest",
                    truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian / scipy gaussian_filter over the last two axes."""
    k = gaussian_kernel1d(sigma, truncate)
    if k.numel() == 1:
        return x
    h, w = x.shape[-2:]
    return separable(x, axis_filter_matrix(h, k, mode), axis_filter_matrix(w, k, mode))


def zoom_matrix(h: int, factor: float) -> torch.Tensor:
    """(h, h) matrix M with M @ row == the original `clipped_zoom` along one axis.

    clipped_zoom crops the centre ceil(h / factor) pixels, enlarges them with scipy's
    linear zoom (corners mapped to corners, output length round(crop * factor)) and
    trims back to h centred pixels.
    """
    ch = math.ceil(h / factor)
    top = (h - ch) // 2
    out = round(ch * factor)
    trim = (out - h) // 2
    j = np.arange(trim, trim + h, dtype=np.float64)
    pos = j * (ch - 1) / (out - 1) if out > 1 else np.zeros_like(j)
    lo = np.clip(np.floor(pos).astype(int), 0, ch - 1)
    hi = np.clip(lo + 1, 0, ch - 1)
    frac = pos - lo
    m = np.zeros((h, h))
    rows = np.arange(h)
    np.add.at(m, (rows, top + lo), 1 - frac)
    np.add.at(m, (rows, top + hi), frac)
    return torch.as_tensor(m, dtype=torch.float32)


def box_resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of Pillow's BOX resampling along one axis (same support rule)."""
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = 0.5 * fscale
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        center = (o + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        t = (np.arange(lo, hi) - center + 0.5) / fscale
        w = ((t > -0.5) & (t <= 0.5)).astype(np.float64)
        if w.sum() == 0:
            w[np.argmin(np.abs(t))] = 1.0
        m[o, lo:hi] = w / w.sum()
    return torch.as_tensor(m, dtype=torch.float32)


def motion_blur(x: torch.Tensor, radius: float, sigma: float, angles: torch.Tensor) -> torch.Tensor:
    """ImageMagick's MotionBlurImage, one angle (degrees) per image.

    Same kernel as MagickCore: width 2*ceil(radius)+1 taps of a one-sided gaussian, tap i
    read i pixels away along the angle (offsets rounded to whole pixels); borders repeat
    the edge pixel (ImageMagick's default virtual pixels).
    """
    n, c, h, w = x.shape
    width = int(2 * math.ceil(radius) + 1)
    i = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(i * i) / (2.0 * sigma * sigma))
    k = (k / k.sum()).float()
    rad = torch.deg2rad(angles.double().cpu())
    ox = torch.ceil(i[None] * torch.cos(rad)[:, None] - 0.5).long().to(x.device)
    oy = torch.ceil(i[None] * torch.sin(rad)[:, None] - 0.5).long().to(x.device)
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    flat = x.reshape(n, c, h * w)
    out = torch.zeros_like(x)
    for t in range(width):
        if float(k[t]) < 1e-7:    # taps beyond ~5 sigma add nothing at 8-bit precision
            continue
        r = (yy + oy[:, t, None, None]).clamp(0, h - 1)
        q = (xx + ox[:, t, None, None]).clamp(0, w - 1)
        idx = (r * w + q).reshape(n, 1, h * w).expand(n, c, h * w)
        out += float(k[t]) * torch.gather(flat, 2, idx).reshape(n, c, h, w)
    return out


def imagemagick_8bit(x: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG written by ImageMagick (Q16) holds for values x in [0, 1].

    ImageMagick rounds the blurred value to its 16-bit quantum, and the PNG coder then keeps
    the 8-bit part of it: floor(q / 257), not a rounding (measured on ImageMagick 6.9.11).
    """
    q = torch.floor(x.double().clamp(0, 1) * 65535 + 0.5)
    return (torch.div(q, 257, rounding_mode="floor") / 255).to(x.dtype)


def plasma_fractal(n: int, mapsize: int, decay: float, uniform) -> torch.Tensor:
    """The diamond-square height maps of the original fog, n at once, each scaled to [0, 1].

    `uniform(shape, lo, hi)` supplies the seeded random draws.
    """
    a = torch.zeros(n, mapsize, mapsize, dtype=torch.float64)
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corner = a[:, 0::step, 0::step]
        sq = corner + torch.roll(corner, -1, 1)
        sq = sq + torch.roll(sq, -1, 2)
        a[:, half::step, half::step] = sq / 4 + wibble * uniform(sq.shape, -wibble, wibble)
        dr = a[:, half::step, half::step]
        ul = a[:, 0::step, 0::step]
        lt = dr + torch.roll(dr, 1, 1) + ul + torch.roll(ul, -1, 2)
        a[:, 0::step, half::step] = lt / 4 + wibble * uniform(lt.shape, -wibble, wibble)
        tt = dr + torch.roll(dr, 1, 2) + ul + torch.roll(ul, -1, 1)
        a[:, half::step, 0::step] = tt / 4 + wibble * uniform(tt.shape, -wibble, wibble)
        step //= 2
        wibble /= decay
    a = a - a.amin(dim=(1, 2), keepdim=True)
    return (a / a.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)).float()
