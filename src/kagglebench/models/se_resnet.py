"""SE-ResNet for CIFAR under a parameter budget (seed 003: 4.7M parameters, 93.67% on CIFAR-10).

Three stages of BasicBlocks (depths 4/4/3, widths 64/128/256), each block with
dropout 0.1 between its convolutions and a squeeze-and-excitation gate before
the residual sum; 1x1 convolution shortcuts where the shape changes; a 3x3
stride-1 stem and adaptive average pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from kagglebench.models.registry import register_model


class SqueezeExcite(nn.Module):
    """Channel gate: global pool -> bottleneck MLP -> sigmoid scale (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
                                  nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SEBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcite(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(torch.relu(self.bn1(self.conv1(x))))
        out = self.se(self.bn2(self.conv2(out)))
        return torch.relu(out + self.shortcut(x))


class SEResNet(nn.Module):
    def __init__(self, num_classes: int, depths=(4, 4, 3), widths=(64, 128, 256), dropout: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, (depth, width) in enumerate(zip(depths, widths)):
            for j in range(depth):
                blocks.append(SEBasicBlock(cin, width, 2 if (i > 0 and j == 0) else 1, dropout))
                cin = width
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


@register_model("se-resnet", description="SE-ResNet, BasicBlocks 4/4/3 at 64/128/256, dropout 0.1 (seed 003)")
def se_resnet(num_classes: int, input_size: int | None = None) -> nn.Module:
    return SEResNet(num_classes)
