"""Policy and colour augmentations from torchvision v2, applied to uint8 NCHW batches.

`create_augment(data_cfg)` reads the recipe's `[data]` keys (policy, color_jitter,
affine_degrees, perspective, grayscale) and returns a callable for
`BatchPipeline(augment=...)`, or None when the recipe asks for none. torchvision v2
transforms draw one set of parameters per call, so the batch is cut into small groups
that each get their own draw: close to per-image variety at a fraction of the cost.
Draws use the global torch generator, which checkpoints save.
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


def build_transforms(cfg: Any) -> list[Any]:
    """The v2 transforms a `[data]` config asks for, in the order they are applied."""
    from torchvision.transforms import v2

    out: list[Any] = []
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
    """Apply a v2 pipeline to a uint8 (N, C, H, W) batch, one parameter draw per group."""

    def __init__(self, transforms: list[Any], group: int = 4) -> None:
        from torchvision.transforms import v2

        self.transform = v2.Compose(transforms)
        self.group = max(1, group)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if x.dtype != torch.uint8:
            raise TypeError(f"augment expects uint8 images, got {x.dtype}")
        parts = [self.transform(chunk) for chunk in x.split(self.group)]
        return torch.cat(parts)

    def __repr__(self) -> str:
        return f"BatchAugment({self.transform}, group={self.group})"


def create_augment(cfg: Any, group: int = 4) -> BatchAugment | None:
    """The callable for `BatchPipeline(augment=...)`, or None if the recipe uses no policy."""
    transforms = build_transforms(cfg)
    return BatchAugment(transforms, group) if transforms else None
