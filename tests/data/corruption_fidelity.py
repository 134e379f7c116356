"""kagglebench's corruptions against the transcription of the original generator, on real images.

Used by tests/data/test_corruption_fidelity.py (a small run) and tools/corruption_fidelity.py
(the figures of docs/CORRUPTIONS.md). The images are scikit-learn's handwritten digits
enlarged to 32x32 and coloured (a background and a slightly brighter ink colour per image); one small CNN is
trained on clean images and scored on every corruption and severity. For each cell:

- `gap`: kagglebench's accuracy minus the original's (seed 0 for both);
- `floor`: the original with seed 1 minus the original with seed 0, i.e. how far two runs of the
  original itself land apart on the same images (zero for the deterministic corruptions);
- pixel statistics (mean of the corrupted image, spread of corrupted - clean) for all three,
  and for deterministic corruptions the fraction of bytes identical to the original's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from kagglebench.data.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from tests.reference.make_cifar_c import corrupt_reference

DETERMINISTIC = ["defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
                 "jpeg_compression", "gaussian_blur", "saturate"]
TEST_IMAGES = 600     # digits held out from training (of 1,797)


def digit_images(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, test_x, test_y): uint8 (N, 32, 32, 3) coloured digits, 1,197 / 600."""
    d = load_digits()
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    # Low contrast, as in natural photographs: ink only 0.15-0.35 brighter than its background,
    # so that the corruptions cost the classifier accuracy (a sensitive probe).
    background = 0.15 + torch.rand(len(x), 3, 1, 1, generator=g) * 0.45
    ink = background + 0.15 + torch.rand(len(x), 3, 1, 1, generator=g) * 0.2
    img = ((background * (1 - x) + ink * x).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    order = torch.randperm(len(x), generator=g).numpy()
    train, test = order[:-TEST_IMAGES], order[-TEST_IMAGES:]
    return img[train], d.target[train], img[test], d.target[test]


def _net() -> nn.Module:
    # Two strided convolutions and a linear layer: seconds to train on one CPU thread.
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(24 * 8 * 8, 10))


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int = 12, seed: int = 0) -> nn.Module:
    """A small CNN trained on clean images; deterministic for a seed on one machine."""
    torch.manual_seed(seed)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = _tensor(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            F.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((net(_tensor(x)).argmax(1).numpy() == y).mean() * 100)


@dataclass
class Cell:
    name: str
    severity: int
    acc_kb: float
    acc_ref: float
    acc_ref2: float
    mean_kb: float
    mean_ref: float
    mean_ref2: float
    spread_kb: float      # std of (corrupted - clean), 0-255 units
    spread_ref: float
    spread_ref2: float
    identical: float      # fraction of bytes equal to the original's (seed 0)
    max_diff: int         # largest byte difference from the original's (seed 0)

    @property
    def gap(self) -> float:
        return self.acc_kb - self.acc_ref

    @property
    def floor(self) -> float:
        return self.acc_ref2 - self.acc_ref


def measure(n_test: int = TEST_IMAGES, names: list[str] | None = None, log=None) -> tuple[float, list[Cell]]:
    """Clean accuracy and one Cell per corruption and severity, on the first n_test test digits."""
    torch.set_num_threads(1)
    train_x, train_y, test_x, test_y = digit_images()
    test_x, test_y = test_x[:n_test], test_y[:n_test]
    net = train_classifier(train_x, train_y)
    clean = accuracy(net, test_x, test_y)
    cells = []
    for name in names or CORRUPTIONS:
        start = time.time()
        for s in SEVERITIES:
            kb = corrupt(test_x, name, s, seed=0)
            ref = corrupt_reference(test_x, name, s, seed=0)
            ref2 = corrupt_reference(test_x, name, s, seed=1)
            spread = [float((a.astype(np.float64) - test_x).std()) for a in (kb, ref, ref2)]
            cells.append(Cell(name, s, accuracy(net, kb, test_y), accuracy(net, ref, test_y),
                              accuracy(net, ref2, test_y), float(kb.mean()), float(ref.mean()),
                              float(ref2.mean()), *spread, float((kb == ref).mean()),
                              int(np.abs(kb.astype(int) - ref).max())))
        if log:
            row = [c for c in cells if c.name == name]
            log(f"{name:18s} gap {' '.join(f'{c.gap:+5.1f}' for c in row)}   "
                f"floor {' '.join(f'{c.floor:+5.1f}' for c in row)}   ({time.time() - start:.0f} s)")
    return clean, cells


def per_corruption(cells: list[Cell]) -> dict[str, tuple[float, float]]:
    """Mean |gap| and mean |floor| over the five severities of each corruption."""
    out = {}
    for name in dict.fromkeys(c.name for c in cells):
        row = [c for c in cells if c.name == name]
        out[name] = (float(np.mean([abs(c.gap) for c in row])), float(np.mean([abs(c.floor) for c in row])))
    return out
