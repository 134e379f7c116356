"""The baselines `kagglebench bench` measures against, written the way the seeds' code is.

REFERENCE.md section 5: the seed systems feed a torchvision CIFAR dataset through per-sample
PIL RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize and a DataLoader
with 2 workers and batch 128, and train with a plain fp32 NCHW PyTorch loop. The DS-542
starter's `eval_ood.py` predicts the OOD folder by loading a distortion file whole for every
severity, converting it to float, normalizing, and batching it through a DataLoader.

This is the only place in kagglebench with per-sample PIL transforms (DESIGN.md boundary 5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SEVERITIES = 5


class GeneratedCIFAR100(torchvision.datasets.CIFAR100):
    """torchvision's own CIFAR-100 class over a folder in the real format.

    Its md5 checks are switched off (md5 None = "the file exists") because the benchmark's
    folder is generated: no data can be downloaded here. Everything else, including the
    per-sample `Image.fromarray` + transform in `__getitem__`, is torchvision's code.
    """

    train_list: ClassVar[list] = [["train", None]]
    test_list: ClassVar[list] = [["test", None]]
    meta: ClassVar[dict] = {"filename": "meta", "key": "fine_label_names", "md5": None}


def seed_transform(mean: Sequence[float], std: Sequence[float], padding: int = 4) -> T.Compose:
    """The seeds' training transform, applied to one PIL image at a time."""
    return T.Compose([T.RandomCrop(32, padding=padding), T.RandomHorizontalFlip(), T.ToTensor(),
                      T.Normalize(tuple(mean), tuple(std))])


def seed_loader(root: str | os.PathLike, mean: Sequence[float], std: Sequence[float],
                batch_size: int = 128, workers: int = 2, seed: int = 0, drop_last: bool = True,
                padding: int = 4) -> DataLoader:
    """`root` holds `cifar-100-python/`; the DataLoader the seeds train from."""
    ds = GeneratedCIFAR100(str(root), train=True, transform=seed_transform(mean, std, padding), download=False)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed))


def seed_test_loader(root: str | os.PathLike, mean: Sequence[float], std: Sequence[float],
                     batch_size: int = 256) -> DataLoader:
    """The labelled test split with the seeds' test transform (ToTensor + Normalize)."""
    tf = T.Compose([T.ToTensor(), T.Normalize(tuple(mean), tuple(std))])
    ds = GeneratedCIFAR100(str(root), train=False, transform=tf, download=False)
    return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)


def seed_epoch(model: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer) -> float:
    """One epoch of the seeds' loop (starter_code.py's `train`): fp32, NCHW, cross-entropy,
    `for inputs, labels in loader`. Returns the mean training loss."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total, n = 0.0, 0
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total, n = total + float(loss.detach()) * len(y), n + len(y)
    return total / max(1, n)


def seed_accuracy(model: nn.Module, loader: DataLoader) -> float:
    """Top-1 accuracy over `loader` (starter_code.py's `validate`)."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / max(1, total)


def plain_train(model: nn.Module, loader: DataLoader, steps: int, *, lr: float = 0.05,
                momentum: float = 0.9, weight_decay: float = 5e-4, warmup: int = 1) -> dict[str, float]:
    """The seeds' loop: fp32, NCHW, `for x, y in loader`, SGD. Trains `warmup` untimed steps
    (the first step allocates), then `steps` timed ones; the timed part starts with a fresh
    iterator, so it pays the DataLoader's worker start-up as every seed epoch does."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                          nesterov=True)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def run(n: int) -> int:
        seen = 0
        while seen < n * loader.batch_size:
            for x, y in loader:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                seen += len(y)
                if seen >= n * loader.batch_size:
                    break
        return seen

    run(warmup)
    t0 = time.perf_counter()
    seen = run(steps)
    return {"images": seen, "seconds": time.perf_counter() - t0}


def starter_predict(ood_dir: str | os.PathLike, model: nn.Module, mean: Sequence[float],
                    std: Sequence[float], batch_size: int = 512) -> np.ndarray:
    """DS-542 starter `eval_ood.py`: for each distortion and severity, np.load the whole file,
    slice the severity, convert to float, normalize, and batch it through a DataLoader.
    Returns the predicted class of every image in submission order."""
    normalize = T.Normalize(tuple(mean), tuple(std))
    files = sorted(Path(ood_dir).glob("distortion*.npy"))
    preds: list[np.ndarray] = []
    model.eval()
    for f in files:
        for severity in range(1, SEVERITIES + 1):
            images = np.load(f)
            per = len(images) // SEVERITIES
            images = images[(severity - 1) * per:severity * per]
            x = normalize(torch.from_numpy(images).float().div(255.0).permute(0, 3, 1, 2))
            loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=False)
            with torch.no_grad():
                for (inputs,) in loader:
                    preds.append(model(inputs).argmax(1).numpy())
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)
