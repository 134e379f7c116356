"""airbench94's network (Keller Jordan, cifar10-airbench, `legacy/airbench94.py`).

A 2x2 whitening convolution whose filters are set from the training data's patch
covariance (`init_from_data`) and never trained, then three conv groups (conv, max-pool,
BN, GELU, conv, BN, GELU) at 64/256/256 channels, a global max-pool and a bias-free
linear layer whose logits are scaled by 1/9. As in airbench: every convolution starts
with identity (dirac) filters in its first in-channels outputs; BatchNorm has eps 1e-12,
momentum 0.4 (airbench's 0.6 in its own convention) and a scale fixed at 1 (only the bias
trains); the whitening bias trains for the first 3 epochs and is then frozen (`start_epoch`).
Module creation order and initialisation match airbench's `make_net`, so the same seed
gives the same weights (tests/train/test_fast_airbench.py).
The one difference: an adaptive global max-pool where airbench's MaxPool2d(3) assumes
32x32 inputs (the same operation at 32x32).
"""

from __future__ import annotations

import torch
from torch import nn

WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL ** 2   # eigen-filters and their negatives
WHITEN_BIAS_EPOCHS = 3                      # airbench's hyp['opt']['whiten_bias_epochs']


def _norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with the scale fixed at 1 (not trained) and a trained bias, as airbench's."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=1 - 0.6)
    bn.weight.requires_grad_(False)
    return bn


def _conv(cin: int, cout: int, kernel: int = 3, padding: int = 1, bias: bool = False) -> nn.Conv2d:
    """airbench's Conv: torch's default init, bias zeroed, the first `cin` filters identities."""
    conv = nn.Conv2d(cin, cout, kernel, padding=padding, bias=bias)
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.zero_()
        torch.nn.init.dirac_(conv.weight[:cin])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _norm(cout)
        self.conv2 = _conv(cout, cout)
        self.norm2 = _norm(cout)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    def __init__(self, num_classes: int, widths=(64, 256, 256), logit_scale: float = 1 / 9) -> None:
        super().__init__()
        self.whiten = _conv(3, WHITEN_WIDTH, WHITEN_KERNEL, padding=0, bias=True)
        # The whitening filters are not trained: they stay as `init_from_data` set them from the
        # training patches (the trainer calls it when a run starts, not on resume).
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

    def start_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based): the whitening bias trains for the
        first WHITEN_BIAS_EPOCHS epochs, then freezes (no gradient, so no update or decay)."""
        self.whiten.bias.requires_grad_(epoch < WHITEN_BIAS_EPOCHS)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from the 2x2 patches of `images` (float NCHW, normalized),
        exactly as airbench's `init_whitening_conv`: the eigenvectors of the patches' (uncentred)
        second-moment matrix, largest eigenvalue first, scaled by 1/sqrt(eigenvalue + eps),
        then their negatives. The stem then outputs decorrelated, unit-variance features."""
        c, (h, w) = images.shape[1], self.whiten.weight.shape[2:]
        patches = images.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).float()
        flat = patches.view(len(patches), -1)
        eigenvalues, eigenvectors = torch.linalg.eigh(flat.T @ flat / len(flat), UPLO="U")
        eigenvalues = eigenvalues.flip(0).view(-1, 1, 1, 1)
        eigenvectors = eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)
        scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
        self.whiten.weight.copy_(torch.cat((scaled, -scaled)).to(self.whiten.weight))
        self.whiten.bias.zero_()


def fast(num_classes: int, input_size: int | None = None) -> nn.Module:
    return FastNet(num_classes)
