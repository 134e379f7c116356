"""torchvision's ResNet-18/34/50/101/152 (the classes themselves, not a rewrite), with a CIFAR stem option.

The CIFAR stem replaces the 7x7 stride-2 first convolution and the max-pool by a
3x3 stride-1 convolution, so 32x32 images are not shrunk to 8x8 before the first
residual stage. ImageNet weights are loaded by `kagglebench.models.pretrained`.
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm


def apply_cifar_stem(model: nn.Module) -> nn.Module:
    """Swap a torchvision ResNet's stem for the 3x3 stride-1, no-max-pool CIFAR stem (in place)."""
    model.conv1 = nn.Conv2d(3, model.conv1.out_channels, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def _make(depth: int):
    builder = getattr(tvm, f"resnet{depth}")

    def factory(num_classes: int, cifar_stem: bool = False, input_size: int | None = None) -> nn.Module:
        model = builder(weights=None, num_classes=num_classes)
        return apply_cifar_stem(model) if cifar_stem else model

    factory.__name__ = f"resnet{depth}"
    return factory


resnet18, resnet34, resnet50, resnet101, resnet152 = (_make(d) for d in (18, 34, 50, 101, 152))
