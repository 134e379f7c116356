"""The airbench-style fast network (after Keller Jordan's cifar10-airbench, airbench94).

A 2x2 whitening convolution whose filters can be set from the training data's
patch covariance (`init_from_data`), then three conv groups (conv, max-pool,
BN, GELU, conv, BN, GELU) at 64/256/256 channels, a global max-pool and a
bias-free linear layer whose logits are scaled by 1/9. BatchNorm scales are
fixed at 1 (only the shift is learned), as in airbench. The whitening filters are frozen;
only their bias trains (airbench also stops that after 3 epochs; here it trains throughout).
"""

from __future__ import annotations

import torch
from torch import nn

from kagglebench.models.registry import register_model

WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL ** 2   # eigen-filters and their negatives


class ShiftNorm(nn.Module):
    """BatchNorm with a fixed unit scale and a learned shift."""

    def __init__(self, channels: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, momentum=momentum, eps=eps, affine=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) + self.bias.view(1, -1, 1, 1)


def _identity_init(conv: nn.Conv2d) -> nn.Conv2d:
    # Airbench starts the first in-channels filters as identities: the group
    # initially passes its input through, which speeds up early training.
    with torch.no_grad():
        n = min(conv.in_channels, conv.out_channels)
        torch.nn.init.dirac_(conv.weight[:n])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _identity_init(nn.Conv2d(cin, cout, 3, padding=1, bias=False))
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ShiftNorm(cout)
        self.conv2 = _identity_init(nn.Conv2d(cout, cout, 3, padding=1, bias=False))
        self.norm2 = ShiftNorm(cout)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    def __init__(self, num_classes: int, widths=(64, 256, 256), logit_scale: float = 1 / 9) -> None:
        super().__init__()
        self.whiten = nn.Conv2d(3, WHITEN_WIDTH, WHITEN_KERNEL, padding=0, bias=True)
        # As in airbench the whitening filters are not trained: they stay as `init_from_data` set
        # them from the training patches (the trainer calls it when a run starts, not on resume).
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        groups, cin = [], WHITEN_WIDTH
        for w in widths:
            groups.append(ConvGroup(cin, w))
            cin = w
        self.groups = nn.Sequential(*groups)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(cin, num_classes, bias=False)
        self.logit_scale = logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.groups(self.act(self.whiten(x))))
        return self.fc(torch.flatten(x, 1)) * self.logit_scale

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from 2x2 patches of `images` (float NCHW, normalized).

        The filters are the patch covariance's eigenvectors scaled by 1/sqrt(eigenvalue),
        plus their negatives, so the stem outputs decorrelated, unit-variance features.
        """
        x = images.float()
        c, k = x.shape[1], WHITEN_KERNEL
        patches = x.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c, k, k)
        flat = patches.reshape(len(patches), -1).double()
        flat = flat - flat.mean(0, keepdim=True)
        cov = flat.T @ flat / len(flat)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + eps)[:, None]).reshape(-1, c, k, k)
        w = torch.cat([filters, -filters]).to(self.whiten.weight)
        self.whiten.weight.copy_(w)
        self.whiten.bias.zero_()


@register_model("fast", description="airbench-style net: whitening stem, GELU conv groups 64/256/256")
def fast(num_classes: int, input_size: int | None = None) -> nn.Module:
    return FastNet(num_classes)
