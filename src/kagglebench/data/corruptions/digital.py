"""Colour and digital corruptions with the CIFAR-10-C / CIFAR-100-C parameters.

Brightness and saturate change one HSV coordinate; with hue and the others fixed that
is a closed-form rescaling of RGB, so no colour-space round trip is needed.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._base import Rand, register_corruption
from .filters import box_resize_matrix, gaussian_filter, rgb_value_chroma, separable


@register_corruption("brightness")
def brightness(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    v, _ = rgb_value_chroma(x)
    v_new = (v + c).clamp(max=1.0)
    # RGB is proportional to V at fixed hue and saturation; black pixels become grey.
    return torch.where(v > 0, x * (v_new / v.clamp_min(1e-12)), v_new.expand_as(x))


@register_corruption("saturate")
def saturate(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # Severities 1-2 desaturate and 3-5 oversaturate, as in the original.
    mul, add = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    v, chroma = rgb_value_chroma(x)
    s = torch.where(v > 0, chroma / v.clamp_min(1e-12), torch.zeros_like(v))
    s_new = (s * mul + add).clamp(0, 1)
    scaled = v - (v - x) * (s_new / s.clamp_min(1e-12))
    # Grey pixels have hue 0 (red) in skimage, so adding saturation tints them red.
    grey = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
    return torch.where(s > 0, scaled, grey)


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


def _sample(x: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear read of x at pixel coordinates xy (N, H, W, 2); borders mirror (REFLECT_101)."""
    h, w = x.shape[-2:]
    grid = torch.stack([2 * xy[..., 0] / max(w - 1, 1) - 1, 2 * xy[..., 1] / max(h - 1, 1) - 1], -1)
    return F.grid_sample(x, grid.to(device=x.device, dtype=x.dtype), mode="bilinear",
                         padding_mode="reflection", align_corners=True)


@register_corruption("elastic_transform")
def elastic_transform(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # The original's random affine (cv2.warpAffine) then smooth displacement field
    # (map_coordinates), both as bilinear grid_sample reads; severity 1 is affine only.
    n, _, h, w = x.shape
    size = float(min(h, w))   # the original's IMSIZE
    alpha, sigma, affine = [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                            (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)][severity - 1]
    alpha, sigma, affine = alpha * size, sigma * size, affine * size
    jitter = rand.uniform_cpu((n, 3, 2), -affine, affine)
    x = _sample(x, _affine_grids(n, h, w, jitter).float())
    noise = rand.uniform_cpu((n, 2, h, w), -1, 1)
    disp = gaussian_filter(noise, sigma, mode="symmetric", truncate=3.0) * alpha
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    xy = torch.stack([xs[None] + disp[:, 0], ys[None] + disp[:, 1]], dim=-1)
    return _sample(x, xy)


@register_corruption("pixelate")
def pixelate(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[-2:]
    sh, sw = int(h * c), int(w * c)
    small = separable(x, box_resize_matrix(h, sh), box_resize_matrix(w, sw))
    return separable(small, box_resize_matrix(sh, h), box_resize_matrix(sw, w))


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
