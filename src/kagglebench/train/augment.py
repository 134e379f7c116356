"""Policy, crop and colour augmentations from torchvision v2, applied to uint8 NCHW batches.

`create_augment(data_cfg)` reads the recipe's `[data]` keys (policy, random_resized_crop,
color_jitter, affine_degrees, perspective, grayscale) and returns a callable for
`BatchPipeline(augment=...)`, or None when the recipe asks for none. torchvision v2
transforms draw one set of parameters per call, so the callable calls them once per image:
every image gets its own parameters, as in the seeds' per-sample pipelines (these are
torchvision's own transforms, on tensors instead of PIL images). It costs about 3 ms per
96x96 image for seed 004's five transforms on one CPU core (colour jitter most of it), about
0.2 ms per 32x32 image for AutoAugment. Draws use the global torch generator, which
checkpoints save.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

from kagglebench.errors import UserError

POLICIES = ("", "none", "autoaugment-cifar10", "randaugment", "trivialaugment")


def _as_float(value: Any, default_when_true: float) -> float:
    # Recipes may write `grayscale = true` or `grayscale = 0.2`.
    if isinstance(value, bool):
        return default_when_true if value else 0.0
    return float(value or 0.0)


class RandomResizedCropToInput:
    """v2.RandomResizedCrop back to the image's own size (the pipeline has already resized to the
    input size), area scale in [scale, 1] and torchvision's default aspect ratios (3/4 to 4/3)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._by_size: dict[tuple[int, int], Any] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        if size not in self._by_size:
            self._by_size[size] = v2.RandomResizedCrop(size, scale=(self.scale, 1.0), antialias=True)
        return self._by_size[size](x)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(scale=({self.scale}, 1.0))"


def build_transforms(cfg: Any) -> list[Any]:
    """The v2 transforms a `[data]` config asks for, in the order they are applied."""
    out: list[Any] = []
    rrc = float(getattr(cfg, "random_resized_crop", 0.0) or 0.0)
    if rrc > 0:
        out.append(RandomResizedCropToInput(rrc))
    policy = (getattr(cfg, "policy", "") or "").lower()
    if policy == "autoaugment-cifar10":
        out.append(v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10))
    elif policy == "randaugment":
        out.append(v2.RandAugment())
    elif policy == "trivialaugment":
        out.append(v2.TrivialAugmentWide())
    elif policy not in POLICIES:
        raise UserError("data.policy", f"unknown policy {policy!r}; choose one of "
                        + ", ".join(repr(p) for p in POLICIES if p != "none"))
    jitter = getattr(cfg, "color_jitter", 0.0)
    if isinstance(jitter, (list, tuple)) and any(jitter):
        out.append(v2.ColorJitter(*jitter))
    elif not isinstance(jitter, (list, tuple)) and _as_float(jitter, 0.4) > 0:
        s = _as_float(jitter, 0.4)
        out.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4)))
    degrees = _as_float(getattr(cfg, "affine_degrees", 0.0), 15.0)
    if degrees > 0:
        out.append(v2.RandomAffine(degrees=degrees, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    perspective = _as_float(getattr(cfg, "perspective", 0.0), 0.2)
    if perspective > 0:
        out.append(v2.RandomPerspective(distortion_scale=perspective, p=0.5))
    gray = _as_float(getattr(cfg, "grayscale", 0.0), 0.1)
    if gray > 0:
        out.append(v2.RandomGrayscale(p=gray))
    return out


class BatchAugment:
    """Apply a v2 pipeline to a uint8 (N, C, H, W) batch, one parameter draw per image."""

    def __init__(self, transforms: list[Any]) -> None:
        self.transform = v2.Compose(transforms)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"augment expects uint8 images, got {x.dtype}")
        return torch.stack([self.transform(image) for image in x.unbind(0)]) if len(x) else x

    def __repr__(self) -> str:
        return f"BatchAugment({self.transform}, per image)"


def create_augment(cfg: Any) -> BatchAugment | None:
    """The callable for `BatchPipeline(augment=...)`, or None if the recipe asks for no augmentation."""
    transforms = build_transforms(cfg)
    return BatchAugment(transforms) if transforms else None
