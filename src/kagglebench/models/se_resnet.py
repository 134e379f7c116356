"""Seed 003's ResNet under 5M parameters (4,697,742 for CIFAR-10; 93.67% reported).

The network of the report's notebook (github ShaktidharK1997/DLProject,
`DLMidProjectwith5M_Final.ipynb`, after kuangliu/pytorch-cifar): a 3x3 stride-1 stem
conv + BatchNorm + ReLU, then ONE squeeze-and-excitation block (reduction 16) on the
stem's 64 channels, then plain BasicBlocks in three stages of 4/4/3 at 64/128/256
channels (1x1 convolution shortcuts where the shape changes), average pooling and a
linear head. The residual blocks have no SE gate of their own.

Dropout: the report says 0.1 "incorporated into the BasicBlock"; the notebook ran with
drop=0.0. Following the report, `dropout` defaults to 0.1, placed where the notebook's
code puts it when drop is set: after each block's final ReLU and before the head.
tests/reference/dlproject_resnet.py transcribes the notebook; the model tests check the
parameter count and that both give the same outputs for the same weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcite(nn.Module):
    """Channel gate: global pool -> 1x1 conv down -> ReLU -> 1x1 conv up -> sigmoid scale
    (Hu et al. 2018; the notebook's SEBlock, channels // 16 hidden)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.conv2(F.relu(self.conv1(w))))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, ReLU, then dropout."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return self.drop(F.relu(out + self.shortcut(x)))


class SEResNet(nn.Module):
    def __init__(self, num_classes: int, depths=(4, 4, 3), width: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.se = SqueezeExcite(width)
        stages, cin = [], width
        for i, depth in enumerate(depths):
            cout = width * 2 ** i
            blocks = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1, dropout)
                      for j in range(depth)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layers = nn.ModuleList(stages)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(F.relu(self.bn1(self.conv1(x))))
        for stage in self.layers:
            out = stage(out)
        # The notebook pools with avg_pool2d(8) on the 8x8 map of a 32x32 image; adaptive
        # pooling (the report's wording) is the same there and works at any input size.
        return self.fc(self.drop(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)))


def se_resnet(num_classes: int, input_size: int | None = None) -> nn.Module:
    return SEResNet(num_classes)
