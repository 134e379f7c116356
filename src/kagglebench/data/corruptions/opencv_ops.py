"""The OpenCV calls of the original spatter, rewritten as batched integer tensor arithmetic.

Each function works on (N, 1, H, W) tensors holding 8-bit values (as float or int) on any
device and reproduces OpenCV's result bit for bit, roundings included: Canny(50, 150),
distanceTransform(DIST_L2, 5) (a 5x5 chamfer distance), blur (3, 3)
on float and on uint8 images, equalizeHist and filter2D with an 8-bit output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_TG22 = 13573   # tan(22.5 degrees) in 1.15 fixed point, as in OpenCV's canny.cpp


def _shift(x: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx], `fill` outside the image."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (2, 2, 2, 2), value=fill)
    return padded[..., 2 + dy:2 + dy + h, 2 + dx:2 + dx + w]


def sobel_replicate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 Sobel derivatives with BORDER_REPLICATE, as Canny computes them (exact integers)."""
    p = F.pad(x.double(), (1, 1, 1, 1), mode="replicate")
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64, device=x.device)
    dx = F.conv2d(p, kx[None, None])
    dy = F.conv2d(p, kx.T.contiguous()[None, None])
    return dx.long(), dy.long()


def canny(x: torch.Tensor, low: int = 50, high: int = 150) -> torch.Tensor:
    """cv2.Canny(x, low, high) (aperture 3, L1 gradient) as a bool edge map."""
    dx, dy = sobel_replicate(x)
    mag = dx.abs() + dy.abs()
    ax, ay = dx.abs(), dy.abs() << 15
    tg22x = ax * _TG22
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg22x + (ax << 16))
    diagonal = ~horizontal & ~vertical
    s = torch.where((dx ^ dy) < 0, -1, 1)
    # Neighbours outside the image count as magnitude 0 (OpenCV's zeroed border buffers).
    left, right = _shift(mag, 0, -1, 0), _shift(mag, 0, 1, 0)
    up, down = _shift(mag, -1, 0, 0), _shift(mag, 1, 0, 0)
    up_l, up_r = _shift(mag, -1, -1, 0), _shift(mag, -1, 1, 0)
    down_l, down_r = _shift(mag, 1, -1, 0), _shift(mag, 1, 1, 0)
    # Diagonal: previous row at column j - s, next row at column j + s.
    prev_diag = torch.where(s > 0, up_l, up_r)
    next_diag = torch.where(s > 0, down_r, down_l)
    peak = ((horizontal & (mag > left) & (mag >= right))
            | (vertical & (mag > up) & (mag >= down))
            | (diagonal & (mag > prev_diag) & (mag > next_diag)))
    candidate = peak & (mag > low)
    edges = candidate & (mag > high)
    # Hysteresis: grow the strong edges through 8-connected candidates until nothing changes.
    while True:
        grown = F.max_pool2d(edges.float(), 3, stride=1, padding=1).bool() & candidate
        if torch.equal(grown, edges):
            return edges
        edges = grown


# distanceTransform(DIST_L2, 5): steps of 1 (axial), 1.4 (diagonal) and 2.1969 (knight's move).
_CHAMFER = [(0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.4), (1, -1, 1.4),
            (1, 2, 2.1969), (2, 1, 2.1969), (1, -2, 2.1969), (2, -1, 2.1969)]


def chamfer_distance(zero: torch.Tensor, cap: float) -> torch.Tensor:
    """cv2.distanceTransform(img, DIST_L2, 5) where `zero` marks img's zero pixels, then min(., cap).

    The chamfer distance is the cheapest path of mask steps to a zero pixel; relaxing every
    step in parallel until nothing changes finds the same minimum as OpenCV's two raster
    passes, summed in float32 as OpenCV does (sums along equally short paths may round
    differently: at most a few float32 ulps, in about 1 pixel in 6,000). Distances above
    `cap` are never needed exactly, so they stop the relaxation.
    """
    big = float(cap) + 5.0
    d = torch.where(zero, 0.0, big).float()
    while True:
        best = d
        for dy, dx, w in _CHAMFER:
            step = torch.tensor(w, dtype=torch.float32).item()   # the float32 weight, as OpenCV's
            for sy, sx in ((dy, dx), (-dy, -dx)):
                best = torch.minimum(best, _shift(d, sy, sx, big) + step)
        best = best.clamp(max=big)
        if torch.equal(best, d):
            return d.clamp(max=cap)
        d = best


def _box3_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over 3x3 windows with BORDER_REFLECT_101 (OpenCV's default border), in float64."""
    p = F.pad(x.double(), (1, 1, 1, 1), mode="reflect")
    return F.avg_pool2d(p, 3, stride=1, divisor_override=1)


def blur3_float(x: torch.Tensor) -> torch.Tensor:
    """cv2.blur(x, (3, 3)) on a float32 image (double sums times 1/9, stored as float32)."""
    return (_box3_sum(x) * (1.0 / 9.0)).float()


def blur3_u8(x: torch.Tensor) -> torch.Tensor:
    """cv2.blur(x, (3, 3)) on a uint8 image: the window mean rounded (sum / 9 is never a tie)."""
    return torch.round(_box3_sum(x) / 9.0).float()


def equalize_hist(v: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist per image on integer values 0..255, (N, 1, H, W)."""
    n = v.shape[0]
    flat = v.reshape(n, -1).long()
    hist = torch.zeros(n, 256, dtype=torch.long, device=v.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    total = flat.shape[1]
    first = (hist > 0).long().argmax(1, keepdim=True)
    h_first = hist.gather(1, first)
    # OpenCV: float scale = 255.f / (total - hist[first]); lut[i] = cvRound(sum * scale).
    scale = (torch.tensor(255.0, dtype=torch.float32, device=v.device)
             / (total - h_first).clamp_min(1).float())
    lut = torch.round((hist.cumsum(1) - h_first).float() * scale).clamp(0, 255)
    out = lut.gather(1, flat)
    out = torch.where(h_first == total, first.float().expand_as(out), out)   # a flat image stays
    return out.reshape(v.shape)


def filter2d_u8(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """cv2.filter2D(x, cv2.CV_8U, kernel) for an integer 3x3 kernel: correlation, reflect-101
    border, the result saturated to 0..255."""
    p = F.pad(x.double(), (1, 1, 1, 1), mode="reflect")
    y = F.conv2d(p, kernel.double().to(x.device)[None, None])
    return y.clamp(0, 255).float()
