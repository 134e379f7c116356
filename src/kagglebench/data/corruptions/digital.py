"""Colour and digital corruptions with the CIFAR-10-C / CIFAR-100-C parameters.

Brightness and saturate go through skimage's HSV conversion written in torch, in float64,
so their bytes are the original's.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from ._base import Rand, register_corruption
from .filters import box_resize_matrix, gaussian_filter, separable


def _rgb2hsv(x: torch.Tensor) -> torch.Tensor:
    """skimage.color.rgb2hsv over (N, 3, H, W), operation for operation (float64 in, float64 out)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v = x.amax(dim=1)
    delta = v - x.amin(dim=1)
    safe = torch.where(delta == 0, torch.ones_like(delta), delta)
    s = torch.where(delta == 0, torch.zeros_like(v), delta / torch.where(v == 0, torch.ones_like(v), v))
    # Ties: skimage assigns red, then green, then blue, so the last matching channel wins.
    h = torch.where(b == v, 4.0 + (r - g) / safe, torch.where(g == v, 2.0 + (b - r) / safe, (g - b) / safe))
    h = h / 6.0
    h = torch.where(h < 0, h + 1.0, h)        # numpy's % 1.0
    h = torch.where(delta == 0, torch.zeros_like(h), h)
    return torch.stack([h, s, v], dim=1)


def _hsv2rgb(hsv: torch.Tensor) -> torch.Tensor:
    """skimage.color.hsv2rgb over (N, 3, H, W), operation for operation."""
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    hi = torch.floor(h * 6)
    f = h * 6 - hi
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    hi = torch.remainder(hi, 6).long()[:, None].expand(-1, 3, -1, -1)
    choices = torch.stack([torch.stack(c, dim=1) for c in
                           ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return torch.gather(choices, 0, hi[None]).squeeze(0)


def _exact(x: torch.Tensor) -> torch.Tensor:
    """The original's np.array(x) / 255. in float64, from this module's float32 input."""
    return torch.round(x.double() * 255) / 255


# Brightness and saturate return float64: corrupt_torch then truncates them exactly as the
# original's np.uint8 does (its float64 results land just below an integer at times).
@register_corruption("brightness")
def brightness(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    hsv = _rgb2hsv(_exact(x))
    hsv[:, 2] = (hsv[:, 2] + c).clamp(0, 1)
    return _hsv2rgb(hsv)


@register_corruption("saturate")
def saturate(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # Severities 1-2 desaturate and 3-5 oversaturate, as in the original.
    mul, add = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    hsv = _rgb2hsv(_exact(x))
    hsv[:, 1] = (hsv[:, 1] * mul + add).clamp(0, 1)
    return _hsv2rgb(hsv)


@register_corruption("contrast")
def contrast(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * c + means


def _affine_grids(n: int, h: int, w: int, jitter: torch.Tensor) -> torch.Tensor:
    """Sampling grid of cv2.warpAffine for the affine that moves 3 points by `jitter` (N, 3, 2)."""
    cx, cy = float(w // 2), float(h // 2)
    sq = float(min(h, w) // 3)
    src = torch.tensor([[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]],
                       dtype=torch.float64)
    dst = src[None] + jitter.double()
    a = torch.cat([src, torch.ones(3, 1, dtype=torch.float64)], dim=1)       # (3, 3)
    m = torch.linalg.solve(a, dst).transpose(1, 2)                            # (N, 2, 3) src->dst
    lin_inv = torch.linalg.inv(m[:, :, :2])
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    p = torch.stack([xs, ys], dim=-1)[None] - m[:, None, None, :, 2]           # (N, H, W, 2)
    return torch.einsum("nij,nhwj->nhwi", lin_inv, p)                         # source (x, y)


def _mirror(i: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Index i folded into 0..n-1: "reflect101" (OpenCV's BORDER_REFLECT_101, edge pixel once)
    or "symmetric" (scipy.ndimage's mode="reflect", edge pixel repeated)."""
    if mode == "reflect101":
        p = 2 * (n - 1)
        i = torch.remainder(i, p)
        return torch.where(i >= n, p - i, i)
    p = 2 * n
    i = torch.remainder(i, p)
    return torch.where(i >= n, p - 1 - i, i)


def _sample(x: torch.Tensor, xy: torch.Tensor, mode: str) -> torch.Tensor:
    """Bilinear read of x (N, C, H, W) at pixel coordinates xy (N, H, W, 2), the four
    neighbours' indices folded back into the image by `mode` (as OpenCV's remap and scipy's
    map_coordinates(order=1) do)."""
    n, c, h, w = x.shape
    xy = xy.to(device=x.device, dtype=torch.float64)
    x0, y0 = torch.floor(xy[..., 0]), torch.floor(xy[..., 1])
    fx, fy = (xy[..., 0] - x0).to(x.dtype), (xy[..., 1] - y0).to(x.dtype)
    x0, y0 = x0.long(), y0.long()
    flat = x.reshape(n, c, h * w)
    out = torch.zeros_like(x)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            idx = _mirror(y0 + dy, h, mode) * w + _mirror(x0 + dx, w, mode)
            v = torch.gather(flat, 2, idx.reshape(n, 1, h * w).expand(n, c, h * w)).reshape(n, c, h, w)
            out += (wy * wx)[:, None] * v
    return out


@register_corruption("elastic_transform")
def elastic_transform(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # The original's random affine (cv2.warpAffine) then smooth displacement field
    # (map_coordinates), both bilinear reads with their own borders; severity 1 is affine only.
    n, _, h, w = x.shape
    size = float(min(h, w))   # the original's IMSIZE
    alpha, sigma, affine = [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                            (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][severity - 1]
    alpha, sigma, affine = alpha * size, sigma * size, affine * size
    jitter = rand.uniform_cpu((n, 3, 2), -affine, affine)
    x = _sample(x, _affine_grids(n, h, w, jitter), "reflect101")          # cv2.warpAffine
    noise = rand.uniform_cpu((n, 2, h, w), -1, 1)
    disp = gaussian_filter(noise, sigma, mode="symmetric", truncate=3.0) * alpha
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    xy = torch.stack([xs[None] + disp[:, 0], ys[None] + disp[:, 1]], dim=-1)
    return _sample(x, xy, "symmetric")    # map_coordinates(mode='reflect')


@register_corruption("pixelate")
def pixelate(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[-2:]
    sh, sw = int(h * c), int(w * c)
    # Pillow resizes width then height, storing each pass as 8-bit (rounded).
    for rows, cols in ((box_resize_matrix(h, sh), box_resize_matrix(w, sw)),
                       (box_resize_matrix(sh, h), box_resize_matrix(sw, w))):
        x = _round_8bit(separable(x, torch.eye(x.shape[-2]), cols))
        x = _round_8bit(separable(x, rows, torch.eye(x.shape[-1])))
    return x


def _round_8bit(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255


@register_corruption("jpeg_compression")
def jpeg_compression(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    quality = [80, 65, 58, 50, 40][severity - 1]
    u8 = (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(u8)
    for i, img in enumerate(u8):   # Pillow has no batched JPEG codec; ~50 us per 32x32 image
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf).convert("RGB"))
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float() / 255
