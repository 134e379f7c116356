"""Weather corruptions (snow, frost, fog, spatter) with the CIFAR-10-C / CIFAR-100-C parameters.

Their random layers (flakes, ice, fog, droplets) are drawn per image from the seeded
source; distances in pixels are for 32x32 images and scale with `rand.scale`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import opencv_ops as ops
from ._base import Rand, register_corruption
from .filters import gaussian_filter, imagemagick_8bit, motion_blur, plasma_fractal, separable, zoom_matrix


def _grey(x: torch.Tensor) -> torch.Tensor:
    """OpenCV's RGB2GRAY weights, (N, 1, H, W)."""
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
    return (x * w[None, :, None, None]).sum(dim=1, keepdim=True)


@register_corruption("fog")
def fog(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    amount, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    n, _, h, w = x.shape
    mapsize = 1 << max(5, int(np.ceil(np.log2(max(h, w)))))   # 32 for CIFAR, as the original
    plasma = plasma_fractal(n, mapsize, decay, rand.uniform_cpu)[:, None, :h, :w].to(x.device)
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + amount * plasma) * max_val / (max_val + amount)


@register_corruption("snow")
def snow(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # The flakes' streaks: filters.motion_blur is ImageMagick's MagickMotionBlurImage (which the
    # original calls through Wand) on the 8-bit PNG of the zoomed, thresholded noise.
    loc, scale, zoom, thresh, radius, sigma, blend = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
    n, _, h, w = x.shape
    s = rand.scale
    layer = rand.normal((n, 1, h, w), loc, scale)
    z = max(zoom * s, 1.0)   # flakes grow with the image
    layer = separable(layer, zoom_matrix(h, z), zoom_matrix(w, z))
    layer = torch.where(layer < thresh, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255     # the original's 8-bit PNG
    angles = rand.uniform_cpu((n,), -135, -45)
    layer = imagemagick_8bit(motion_blur(layer, radius * s, sigma * s, angles))
    x = blend * x + (1 - blend) * torch.maximum(x, _grey(x) * 1.5 + 0.5)
    return x + layer + torch.flip(layer, dims=(2, 3))


_FROST_DIR = Path(__file__).with_name("frost")


@functools.lru_cache(maxsize=1)
def _frost_photographs() -> tuple[torch.Tensor, ...]:
    """The original's five frost photographs, already shrunk as it shrinks them (uint8, 3 x h x w).

    frost1.png .. frost5.jpg from hendrycks/robustness (Apache-2.0, see frost/NOTICE), made by
    tools/make_frost_textures.py with the original's cv2.resize(fx=0.2, fy=0.2).
    """
    out = []
    for i in range(1, 6):
        with Image.open(_FROST_DIR / f"frost{i}.png") as im:
            out.append(torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous())
    return tuple(out)


@register_corruption("frost")
def frost(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # The original: one of frost1..frost5 (randint(5)), a random crop, keep * x + ice * crop.
    # Images larger than 32x32 crop from the photographs enlarged by size / 32.
    keep, ice = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    n, _, h, w = x.shape
    photos = [p.float() / 255 for p in _frost_photographs()]
    if rand.scale != 1.0:
        photos = [F.interpolate(p[None], scale_factor=rand.scale, mode="bilinear")[0] for p in photos]
    crops = torch.empty(n, 3, h, w)
    pick = rand.randint(0, len(photos), (n,))
    for i in range(n):
        photo = photos[int(pick[i])]
        top = int(rand.randint(0, photo.shape[1] - h, (1,)))
        left = int(rand.randint(0, photo.shape[2] - w, (1,)))
        crops[i] = photo[:, top:top + h, left:left + w]
    return keep * x + ice * crops.to(x.device)


def _water_shading(liquid_u8: torch.Tensor) -> torch.Tensor:
    """The original's drop shading, OpenCV step by OpenCV step (see opencv_ops): distance to the
    Canny edges of the drops, capped at 20, blurred, equalised, embossed and blurred again."""
    dist = ops.chamfer_distance(ops.canny(liquid_u8), 20.0)
    dist = ops.equalize_hist(torch.floor(ops.blur3_float(dist)))
    emboss = torch.tensor([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    return ops.blur3_u8(ops.filter2d_u8(dist, emboss))


@register_corruption("spatter")
def spatter(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    loc, scale, sigma, thresh, intensity, mud = [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1)][severity - 1]
    n, _, h, w = x.shape
    s = rand.scale
    liquid = gaussian_filter(rand.normal((n, 1, h, w), loc, scale), sigma * s)
    liquid = torch.where(liquid < thresh, torch.zeros_like(liquid), liquid)
    if mud:
        m = gaussian_filter((liquid > thresh).float(), intensity * s)
        m = torch.where(m < 0.8, torch.zeros_like(m), m)
        brown = torch.tensor([63, 42, 20], device=x.device, dtype=x.dtype)[None, :, None, None] / 255
        return x * (1 - m) + brown * m
    # (liquid * 255).astype(np.uint8): truncated, and wrapped past 255 as numpy's cast does.
    liquid_u8 = torch.remainder(torch.floor(liquid * 255), 256)
    m = liquid_u8 * _water_shading(liquid_u8)
    peak = m.amax(dim=(1, 2, 3), keepdim=True)
    m = m / peak.clamp_min(1e-12) * intensity
    turquoise = torch.tensor([175, 238, 238], device=x.device, dtype=x.dtype)[None, :, None, None] / 255
    out = x + m * turquoise
    # With no shaded drop at all the original divides 0 by 0: NaN, which np.uint8 turns into 0.
    return torch.where(peak > 0, out, torch.zeros_like(out))
