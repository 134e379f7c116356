"""What a run is built from: device, seeds, data on the device, the model and its optimizer.

Kept apart from `runner.py` (which owns the run's life: store, logs, checkpoints,
signals) so each reads on a screen or two. Nothing here writes files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from kagglebench.errors import UserError


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` means this rank's GPU when there is one, else the CPU."""
    if name in ("", "auto"):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={name}", "no CUDA GPU is visible to PyTorch here; "
                        "use train.device=cpu (or auto)")
    return torch.device(name)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: bf16/fp16 on CUDA only (`auto` = bf16 there); full precision on CPU."""
    if device.type != "cuda" or amp == "none":
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed every generator; in deterministic mode also forbid nondeterministic kernels."""
    if deterministic:
        # cuBLAS needs this before its first call to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # Only touch the switch when needed: the call imports torch._inductor (seconds on a small CPU).
    if deterministic or torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def _channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0..1 scale) of uint8 NHWC images, in chunks (memmap-friendly)."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    n = 0
    for i in range(0, len(images), chunk):
        block = np.asarray(images[i:i + chunk], dtype=np.float64) / 255.0
        total += block.sum(axis=(0, 1, 2))
        total_sq += (block ** 2).sum(axis=(0, 1, 2))
        n += block.shape[0] * block.shape[1] * block.shape[2]
    mean = total / max(1, n)
    std = np.sqrt(np.maximum(total_sq / max(1, n) - mean ** 2, 1e-12))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def _select_classes(ds: Any, wanted: list[str], train_idx: np.ndarray,
                    val_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Keep only the named classes (e.g. STL-10's five), relabelled 0..k-1 in the order given."""
    labels = np.asarray(ds.labels)
    if not wanted:
        return labels, train_idx, val_idx, list(ds.classes)
    missing = [c for c in wanted if c not in ds.classes]
    if missing:
        raise UserError("data.classes", f"no class named {', '.join(missing)} in this data; "
                        f"its classes are: {', '.join(ds.classes)}")
    old = [ds.classes.index(c) for c in wanted]
    remap = np.full(len(ds.classes), -1, dtype=np.int64)
    remap[old] = np.arange(len(old))
    new_labels = remap[labels]
    return (new_labels, train_idx[new_labels[train_idx] >= 0], val_idx[new_labels[val_idx] >= 0],
            list(wanted))


def class_remap(all_classes: list[str], wanted: list[str]) -> np.ndarray | None:
    """Old class index -> new index (-1 = dropped) for data.classes; None when all are kept."""
    if not wanted:
        return None
    remap = np.full(len(all_classes), -1, dtype=np.int64)
    remap[[list(all_classes).index(c) for c in wanted]] = np.arange(len(wanted))
    return remap


def labelled_test_as_val(ws: Any, classes: list[str], wanted: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """data.val_split = "test" (seeds 003/004 trained on all of train and validated on the test
    split): (images, labels relabelled as the run's classes, kept positions in the test split)."""
    test = ws.labelled_test()
    if test is None or test.labels is None:
        raise UserError("data.val_split=test", "this competition has no labelled test split to validate "
                        "on; use data.val_split=fraction (hold out data.val_fraction of train)")
    if test.classes and list(test.classes) != list(classes):
        raise UserError("data.val_split=test", "the labelled test split's classes differ from train's")
    labels = np.asarray(test.labels, dtype=np.int64)
    remap = class_remap(classes, wanted)
    if remap is not None:
        labels = remap[labels]
    kept = np.flatnonzero(labels >= 0).astype(np.int64)
    return np.ascontiguousarray(np.asarray(test.images)[kept]), labels[kept], kept


def load_data(ws: Any, recipe: Any, device: torch.device) -> SimpleNamespace:
    """The training and validation split as uint8 NHWC tensors on `device`, the classes, the
    normalization and input size the run uses, and a record of the split for config.json."""
    d = recipe.data
    ds = ws.train_data()
    if ds.labels is None:
        raise UserError(ds.path, "the training data has no labels")
    on_test = getattr(d, "val_split", "fraction") == "test"
    if on_test:   # train on everything, validate on the labelled test split
        train_idx, val_idx = np.arange(len(ds.labels)), np.zeros(0, np.int64)
    else:
        train_idx, val_idx = ws.split(d.val_fraction, d.split_seed)
    labels, train_idx, val_idx, classes = _select_classes(ds, list(d.classes), np.asarray(train_idx),
                                                          np.asarray(val_idx))
    if len(train_idx) == 0:
        raise UserError(ds.path, "no training images left after the split and class selection")
    train_np = np.ascontiguousarray(ds.images[train_idx])
    mean, std = (list(d.mean), list(d.std)) if d.mean and d.std else _channel_stats(train_np)
    size = d.input_size or int(train_np.shape[1])
    val_np = np.ascontiguousarray(ds.images[val_idx]) if len(val_idx) else None
    val_labels = labels[val_idx]
    split = {"val_split": "fraction", "val_fraction": d.val_fraction, "seed": d.split_seed,
             "n_train": len(train_idx), "n_val": len(val_idx),
             "val_indices_sha256": hashlib.sha256(np.asarray(val_idx, dtype=np.int64).tobytes()).hexdigest()}
    if on_test:
        val_np, val_labels, kept = labelled_test_as_val(ws, list(ds.classes), list(d.classes))
        split = {"val_split": "test", "seed": d.split_seed, "n_train": len(train_idx), "n_val": len(kept),
                 "val_indices_sha256": hashlib.sha256(kept.tobytes()).hexdigest()}
    return SimpleNamespace(
        train_x=torch.from_numpy(train_np).to(device),
        train_y=torch.from_numpy(labels[train_idx].astype(np.int64)).to(device),
        val_x=torch.from_numpy(val_np).to(device) if val_np is not None else None,
        val_y=torch.from_numpy(val_labels.astype(np.int64)).to(device) if val_np is not None else None,
        classes=classes, mean=mean, std=std, size=size, split=split, source=str(ds.path))


def resolved_recipe(recipe: Any, data: SimpleNamespace) -> Any:
    """The recipe with the normalization and input size actually used written in: the run's
    own test transform, which evaluation and prediction must apply."""
    new_data = dataclasses.replace(recipe.data, mean=list(data.mean), std=list(data.std), input_size=data.size)
    return dataclasses.replace(recipe, data=new_data)


def init_from(ws: Any, spec: str, model: nn.Module) -> str:
    """Start `model` from another run's weights (RUN_ID[:best|last]) or a .pt file; returns the path."""
    from kagglebench.train import checkpoints

    if spec.endswith(".pt") or Path(spec).expanduser().is_file():
        path = Path(spec).expanduser()
    else:
        run_id, _, which = spec.partition(":")
        path = checkpoints.resolve(ws, run_id, which or "best")
    ckpt = checkpoints.load(path)
    weights, _ = checkpoints.inference_weights(ckpt)
    from kagglebench.models import load_backbone_state

    load_backbone_state(model, weights, where=f"model.init_from={spec}")
    return str(path)


def param_groups(model: nn.Module, recipe: Any) -> list[dict[str, Any]]:
    """One group, or backbone and head apart when the backbone trains slower or starts frozen."""
    m = recipe.model
    if m.backbone_lr_scale == 1.0 and m.freeze_backbone_epochs == 0:
        return [{"params": [p for p in model.parameters()], "lr_scale": 1.0}]
    from kagglebench.models import head_parameters

    head = list(head_parameters(model))
    ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": backbone, "lr_scale": m.backbone_lr_scale}, {"params": head, "lr_scale": 1.0}]


def set_backbone_trainable(model: nn.Module, recipe: Any, trainable: bool) -> None:
    """Freeze or thaw everything but the head (head_parameters) for freeze_backbone_epochs."""
    if recipe.model.freeze_backbone_epochs == 0:
        return
    from kagglebench.models import head_parameters

    ids = {id(p) for p in head_parameters(model)}
    for p in model.parameters():
        if id(p) not in ids:
            p.requires_grad_(trainable)
