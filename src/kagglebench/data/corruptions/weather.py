"""Weather corruptions (snow, frost, fog, spatter) with the CIFAR-10-C / CIFAR-100-C parameters.

Their random layers (flakes, ice, fog, droplets) are drawn per image from the seeded
source; distances in pixels are for 32x32 images and scale with `rand.scale`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ._base import Rand, register_corruption
from .filters import box_blur3, filter2d, gaussian_filter, motion_blur, plasma_fractal, separable, zoom_matrix


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
    # Approximation: the flakes' streaks use filters.motion_blur, a reimplementation of the
    # ImageMagick motion blur the original called, on the same zoomed, thresholded noise.
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
    layer = motion_blur(layer, radius * s, sigma * s, angles)
    x = blend * x + (1 - blend) * torch.maximum(x, _grey(x) * 1.5 + 0.5)
    return x + layer + torch.flip(layer, dims=(2, 3))


def _two_nearest(points: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances from every pixel of a t x t grid to its nearest and second-nearest point.

    `points` is (count, P, 2) in (x, y) pixels; returns two (count, t, t) tensors. A running
    pair of minima over the P points keeps every step an elementwise op on (count, t, t)
    instead of a top-2 over a (t*t, P) distance table (which dominated frost's cost).
    """
    c = torch.arange(t, dtype=torch.float32)
    dx2 = (c[None, None, :] - points[:, :, 0:1]) ** 2     # (count, P, t)
    dy2 = (c[None, None, :] - points[:, :, 1:2]) ** 2
    m1 = torch.full((points.shape[0], t, t), float("inf"))
    m2 = m1.clone()
    for p in range(points.shape[1]):
        d = dy2[:, p, :, None] + dx2[:, p, None, :]
        torch.minimum(m2, torch.maximum(m1, d), out=m2)
        torch.minimum(m1, d, out=m1)
    return m1.sqrt_(), m2.sqrt_()


def _frost_bank(rand: Rand, size: int, count: int = 5) -> torch.Tensor:
    """`count` procedural ice textures (count, 3, 4*size, 4*size) in [0, 1], on the CPU.

    Stand-in for the original's frost photographs (which this project cannot ship):
    bright crystal walls from two scales of Voronoi cell borders, a few needle streaks
    and a soft haze, tinted pale blue like the photographs.
    """
    t = 4 * size
    s = rand.scale
    # Draw texture by texture (the seeded stream's order), then build all textures at once.
    draws = [([rand.uniform_cpu((points, 2), 0, t) for points in (48, 12)],
              rand.uniform_cpu((1, 1, t, t)), rand.uniform_cpu((1,), 0, 360),
              rand.uniform_cpu((1, 1, 6, 6))) for _ in range(count)]
    tex = torch.zeros(count, 1, t, t)
    for j, (width, weight) in enumerate(((1.0, 0.6), (2.5, 0.35))):
        d1, d2 = _two_nearest(torch.stack([d[0][j] for d in draws]), t)
        tex += weight * torch.exp(-(d2 - d1) / (width * s))[:, None]
    dots = (torch.cat([d[1] for d in draws]) > 0.996).float() * 3.0
    tex = tex + motion_blur(dots, 6 * s, 3 * s, torch.cat([d[2] for d in draws]))
    haze = F.interpolate(torch.cat([d[3] for d in draws]), size=(t, t), mode="bilinear",
                         align_corners=True)
    tex = (0.25 + 0.3 * haze + tex).clamp(0, 1)
    return tex * torch.tensor([0.85, 0.92, 1.0])[None, :, None, None]


@register_corruption("frost")
def frost(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # Approximation: the frost photographs are replaced by seeded procedural textures
    # (_frost_bank); crops and blend weights are the original's.
    keep, ice = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    n, _, h, w = x.shape
    bank = _frost_bank(rand, max(h, w))
    t = bank.shape[-1]
    pick = rand.randint(0, bank.shape[0], (n,))
    top, left = rand.randint(0, t - h, (n,)), rand.randint(0, t - w, (n,))
    rows = (top[:, None] + torch.arange(h)[None])[:, None, :, None]
    cols = (left[:, None] + torch.arange(w)[None])[:, None, None, :]
    crops = bank[pick[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    return keep * x + ice * crops.to(x.device)


def _equalize_hist(v: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist per image on integer values 0..255, (N, 1, H, W)."""
    n = v.shape[0]
    flat = v.reshape(n, -1).long()
    ones = torch.ones_like(flat, dtype=torch.float32)
    hist = torch.zeros(n, 256, device=v.device).scatter_add_(1, flat, ones)
    cdf = hist.cumsum(1)
    first = hist.gather(1, (hist > 0).float().argmax(1, keepdim=True))
    total = float(flat.shape[1])
    lut = torch.round((cdf - first) * 255.0 / (total - first).clamp_min(1)).clamp(0, 255)
    out = torch.where(first >= total, flat.float(), lut.gather(1, flat))
    return out.reshape(v.shape)


def _water_shading(liquid: torch.Tensor, scale: float) -> torch.Tensor:
    """The original's drop shading: distance to the drop borders, equalised and embossed.

    OpenCV's Canny edges become the drop outlines (mask minus its erosion) and its
    distanceTransform becomes scipy's exact one; the rest follows the original's steps.
    """
    mask = (liquid > 0).float()
    eroded = -F.max_pool2d(-mask, 3, stride=1, padding=1)
    edges = (mask - eroded) > 0
    cap = 20.0 * scale
    e = edges.squeeze(1).cpu().numpy()
    if e.any():
        # A huge step between images keeps each image's distances inside the image.
        dist = ndimage.distance_transform_edt(~e, sampling=(1e6, 1.0, 1.0))
    else:
        dist = np.full(e.shape, cap)
    dist = torch.as_tensor(np.minimum(dist, cap), dtype=torch.float32, device=liquid.device)[:, None]
    dist = _equalize_hist(torch.floor(box_blur3(dist)))
    emboss = torch.tensor([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]])
    dist = torch.round(filter2d(dist, emboss)).clamp(0, 255)
    return box_blur3(dist)


@register_corruption("spatter")
def spatter(x: torch.Tensor, severity: int, rand: Rand) -> torch.Tensor:
    # Approximation (water drops, severities 1-3): OpenCV's Canny and distanceTransform are
    # replaced by the drops' outlines and scipy's exact distance (see _water_shading).
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
    liquid_u8 = torch.floor(liquid.clamp(0, 1) * 255)
    m = liquid_u8 * _water_shading(liquid_u8, s)
    m = m / m.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) * intensity
    turquoise = torch.tensor([175, 238, 238], device=x.device, dtype=x.dtype)[None, :, None, None] / 255
    return x + m * turquoise
