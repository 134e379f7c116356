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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# The policy registry: name -> the v2 transform it adds ("" adds none). `data.policy`'s valid
# values are these names (kagglebench.config reads them); torchvision loads only when used.
POLICIES: dict[str, Any] = {
    "": None,
    "autoaugment-cifar10": lambda v2: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
    "randaugment": lambda v2: v2.RandAugment(),
    "trivialaugment": lambda v2: v2.TrivialAugmentWide(),
}


class RandomResizedCropToInput:
    """v2.RandomResizedCrop back to the image's own size (the pipeline has already resized to the
    input size), area scale in [scale, 1] and torchvision's default aspect ratios (3/4 to 4/3)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._by_size: dict[tuple[int, int], Any] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import v2

        size = tuple(x.shape[-2:])
        if size not in self._by_size:
            self._by_size[size] = v2.RandomResizedCrop(size, scale=(self.scale, 1.0), antialias=True)
        return self._by_size[size](x)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(scale=({self.scale}, 1.0))"


def build_transforms(cfg: Any) -> list[Any]:
    """The v2 transforms a `[data]` config asks for, in the order they are applied."""
    from torchvision.transforms import v2

    out: list[Any] = []
    if getattr(cfg, "random_resized_crop", 0.0) > 0:
        out.append(RandomResizedCropToInput(cfg.random_resized_crop))
    make = POLICIES[cfg.policy]        # config has checked the name
    if make is not None:
        out.append(make(v2))
    s = cfg.color_jitter
    if s > 0:
        out.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 4)))
    if cfg.affine_degrees > 0:
        out.append(v2.RandomAffine(degrees=cfg.affine_degrees, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    if cfg.perspective > 0:
        out.append(v2.RandomPerspective(distortion_scale=cfg.perspective, p=0.5))
    if cfg.grayscale > 0:
        out.append(v2.RandomGrayscale(p=cfg.grayscale))
    return out


class BatchAugment:
    """Apply a v2 pipeline to a uint8 (N, C, H, W) batch, one parameter draw per image."""

    def __init__(self, transforms: list[Any]) -> None:
        from torchvision.transforms import v2

        self.transform = v2.Compose(transforms)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if x.dtype != torch.uint8:
            raise TypeError(f"augment expects uint8 images, got {x.dtype}")
        return torch.stack([self.transform(image) for image in x.unbind(0)]) if len(x) else x

    def __repr__(self) -> str:
        return f"BatchAugment({self.transform}, per image)"


def create_augment(cfg: Any) -> BatchAugment | None:
    """The callable for `BatchPipeline(augment=...)`, or None if the recipe asks for no augmentation."""
    transforms = build_transforms(cfg)
    return BatchAugment(transforms) if transforms else None
