"""What a run is built from: device, seeds, data on the device, the model and its optimizer.

Kept apart from `runner.py` (which owns the run's life: store, logs, checkpoints,
signals) so each reads on a screen or two. Nothing here writes files.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.config import Recipe
    from kagglebench.workspace import Workspace


def device_of(recipe: Recipe) -> torch.device:
    """The recipe's `train.device` as a torch.device (the rules of devices.pick_device)."""
    from kagglebench.devices import pick_device

    name = recipe.train.device
    return torch.device(pick_device(name, where=f"train.device={name}"))


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: bf16/fp16 on CUDA only (`auto` = bf16 there); full precision on CPU."""
    if device.type != "cuda" or amp == "none":
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


def half_weights_on(setting: str, device: torch.device) -> bool:
    """train.half_weights: "cuda" on a CUDA device, "on" everywhere, "off" never."""
    return setting == "on" or (setting == "cuda" and device.type == "cuda")


def to_half_weights(model: nn.Module) -> nn.Module:
    """airbench94's make_net: the whole network in fp16 (`net.half()`), then every BatchNorm back
    to float32 (weights, biases and running statistics). In place; returns `model`."""
    model.half()
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.float()
    return model


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


@dataclass
class TrainData:
    """What a run trains on: its split as uint8 NHWC tensors on the device, its classes, and the
    test transform (normalization and input size) it uses."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    classes: list[str]
    mean: list[float]
    std: list[float]
    size: int
    split: dict[str, Any]             # the record config.json keeps (runs.SplitIndices.record)
    source: str                       # the training data's path


def load_data(ws: Workspace, recipe: Recipe, device: torch.device) -> TrainData:
    """The training and validation split (runs.split_indices) on `device`, with the classes and the
    normalization and input size the run uses."""
    from kagglebench.runs import split_indices

    d = recipe.data
    ds = ws.train_data()
    s = split_indices(ws, d)
    if len(s.train) == 0:
        raise UserError(ds.path, "no training images left after the split and class selection")
    train_np = np.ascontiguousarray(ds.images[s.train])
    mean, std = (list(d.mean), list(d.std)) if d.mean and d.std else _channel_stats(train_np)
    size = d.input_size or int(train_np.shape[1])
    val_np = np.ascontiguousarray(ds.images[s.val]) if len(s.val) else None
    val_labels, split = s.labels[s.val], s.record(d.val_fraction, d.split_seed)
    if d.val_split == "test":   # seeds 003/004: train on everything, validate on the labelled test split
        from kagglebench.runs import labelled_test_as_val, test_split_record

        val_np, val_labels, kept = labelled_test_as_val(ws, d)
        split = test_split_record(split, kept)
    return TrainData(
        train_x=torch.from_numpy(train_np).to(device),
        train_y=torch.from_numpy(s.labels[s.train]).to(device),
        val_x=torch.from_numpy(val_np).to(device) if val_np is not None else None,
        val_y=torch.from_numpy(val_labels).to(device) if val_np is not None else None,
        classes=s.classes, mean=mean, std=std, size=size, split=split, source=str(ds.path))


def resolved_recipe(recipe: Recipe, data: TrainData) -> Recipe:
    """The recipe with the normalization and input size actually used written in: the run's
    own test transform, which evaluation and prediction must apply."""
    new_data = dataclasses.replace(recipe.data, mean=list(data.mean), std=list(data.std), input_size=data.size)
    return dataclasses.replace(recipe, data=new_data)


def init_from(ws: Workspace, spec: str, model: nn.Module) -> str:
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


def param_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """One group, or backbone and head apart when the backbone trains slower or starts frozen;
    BatchNorm biases apart when optim.norm_bias_lr_scale is set (airbench's bias_scaler)."""
    m = recipe.model
    if m.backbone_lr_scale == 1.0 and m.freeze_backbone_epochs == 0:
        groups = [{"params": [p for p in model.parameters()], "lr_scale": 1.0}]
    else:
        from kagglebench.models import head_parameters

        head = list(head_parameters(model))
        ids = {id(p) for p in head}
        backbone = [p for p in model.parameters() if id(p) not in ids]
        groups = [{"params": backbone, "lr_scale": m.backbone_lr_scale}, {"params": head, "lr_scale": 1.0}]
    if recipe.optim.norm_bias_lr_scale != 1.0:
        from kagglebench.train.optim import split_norm_biases

        groups = split_norm_biases(groups, model, recipe.optim.norm_bias_lr_scale, recipe.optim.weight_decay)
    return groups


def set_backbone_trainable(model: nn.Module, recipe: Recipe, trainable: bool) -> None:
    """Freeze or thaw everything but the head (head_parameters) for freeze_backbone_epochs."""
    if recipe.model.freeze_backbone_epochs == 0:
        return
    from kagglebench.models import head_parameters

    ids = {id(p) for p in head_parameters(model)}
    for p in model.parameters():
        if id(p) not in ids:
            p.requires_grad_(trainable)
