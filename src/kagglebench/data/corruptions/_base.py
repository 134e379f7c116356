"""Shared plumbing for the corruption families: the registry and the seeded random source.

Every corruption is a function `fn(x, severity, rand) -> x` on float32 images in [0, 1],
shaped (N, 3, H, W) on any torch device. Random numbers always come from one CPU
`torch.Generator` (then move to the device), so a seed gives the same draws on every
machine; only float rounding can differ between CPU and GPU.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import torch

CorruptionFn = Callable[[torch.Tensor, int, "Rand"], torch.Tensor]

# The fixed order of CIFAR-10-C / CIFAR-100-C; it also numbers the demo's distortion00..18.
CORRUPTIONS: list[str] = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
]

_REGISTRY: dict[str, CorruptionFn] = {}

# The original stores every result with np.uint8(...), which truncates. Float32 arithmetic can
# land a hair below an integer that the original's float64 reaches exactly, so the truncation
# here allows for this much (in 0-255 units).
EPS_8BIT = 2e-4


def register_corruption(name: str) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator: file a corruption function under one of the CORRUPTIONS names."""
    if name not in CORRUPTIONS:
        raise KeyError(f"{name!r} is not one of the 19 CIFAR-C corruption names")

    def wrap(fn: CorruptionFn) -> CorruptionFn:
        _REGISTRY[name] = fn
        return fn

    return wrap


def get_corruption(name: str) -> CorruptionFn:
    """The function registered for `name` (ValueError naming the valid choices otherwise)."""
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}")
    return _REGISTRY[name]


class Rand:
    """Seeded random draws for one call, made on the CPU and moved to `device`.

    The stream depends on (seed, corruption name) but not on the severity: severities
    of one corruption share their random draws, so severity 5 is the same noise (same
    snowflakes, same fog) as severity 1, only stronger.
    """

    def __init__(self, seed: int, name: str, device: torch.device, size: int) -> None:
        mixed = (int(seed) * 0x9E3779B1 + zlib.crc32(name.encode())) % (2**63 - 1)
        self.gen = torch.Generator(device="cpu").manual_seed(mixed)
        self.device = device
        # CIFAR parameters are in pixels of a 32x32 image; larger images scale them.
        self.scale = size / 32.0

    def _out(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device)

    def normal(self, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        return self._out(torch.randn(shape, generator=self.gen) * std + mean)

    def uniform(self, shape: tuple[int, ...], lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return self._out(torch.rand(shape, generator=self.gen) * (hi - lo) + lo)

    def uniform_cpu(self, shape: tuple[int, ...], lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen) * (hi - lo) + lo

    def randint(self, lo: int, hi: int, shape: tuple[int, ...]) -> torch.Tensor:
        """Integers in [lo, hi), on the CPU (they mostly index)."""
        return torch.randint(lo, hi, shape, generator=self.gen)

    def poisson(self, rates: torch.Tensor) -> torch.Tensor:
        return self._out(torch.poisson(rates.float().cpu(), generator=self.gen))
