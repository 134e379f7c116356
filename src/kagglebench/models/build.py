"""From a recipe's [model] section to a ready model: weights, head, dropout, parameter budget.

Also the helpers the trainer needs for fine-tuning: the head / backbone split
(for `freeze_backbone_epochs` and `backbone_lr_scale`), loading another run's
backbone (`init_from`), and data-dependent initialisation (the fast net's
whitening stem).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from kagglebench.errors import UserError
from kagglebench.models.pretrained import check_state_dict, load_imagenet_weights
from kagglebench.models.registry import create_model, default_input_size, model_entry

HEAD = "fc"   # every registered model keeps its classification layer here


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _head_linear(model: nn.Module) -> nn.Linear:
    head = getattr(model, HEAD, None)
    if isinstance(head, nn.Sequential):
        head = head[-1]
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{type(model).__name__} has no linear head at .{HEAD}")
    return head


def replace_head(model: nn.Module, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Give `model` a fresh `num_classes`-way head, with dropout before it when dropout > 0."""
    old = _head_linear(model)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    setattr(model, HEAD, nn.Sequential(nn.Dropout(dropout), new) if dropout > 0 else new)
    return model


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the classification head."""
    return list(getattr(model, HEAD).parameters())


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter that is not in the head."""
    head = {id(p) for p in head_parameters(model)}
    return [p for p in model.parameters() if id(p) not in head]


def _strip(state: dict[str, Any]) -> dict[str, Any]:
    # Accept a whole checkpoint, and the prefixes torch.compile and AveragedModel add.
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    out = {}
    for k, v in state.items():
        if k == "n_averaged":
            continue
        for prefix in ("_orig_mod.", "module."):
            k = k.removeprefix(prefix)
        out[k] = v
    return out


def load_backbone_state(model: nn.Module, state: dict[str, Any], where: str = "init_from") -> nn.Module:
    """Load everything but the head from `state` (a state dict or a checkpoint dict).

    Used to fine-tune from another run (e.g. convnet96 on CIFAR-100 -> STL-10's five
    classes): the head keeps its fresh initialisation for the new classes.
    Raises UserError naming the keys that do not match.
    """
    state = _strip(state)
    check_state_dict(model, state, where, skip_prefix=f"{HEAD}.")
    own_head = {k: v for k, v in model.state_dict().items() if k.startswith(f"{HEAD}.")}
    body = {k: v for k, v in state.items() if not k.startswith(f"{HEAD}.")}
    model.load_state_dict({**body, **own_head})
    return model


def init_from_data(model: nn.Module, images: torch.Tensor) -> bool:
    """Run a model's data-dependent initialisation (if it has one) on a batch of normalized
    float NCHW training images. Returns whether the model used them."""
    fn = getattr(model, "init_from_data", None)
    if fn is None:
        return False
    fn(images)
    return True


def _factory_kwargs(name: str, cfg: Any, input_size: int) -> dict[str, Any]:
    params = inspect.signature(model_entry(name).function()).parameters
    kw: dict[str, Any] = {"input_size": input_size} if "input_size" in params else {}
    if cfg.cifar_stem:
        if "cifar_stem" not in params:
            raise UserError(f"model {name}", "model.cifar_stem only applies to the ResNets (resnet18 ... "
                            "resnet152); set it to false")
        kw["cifar_stem"] = True
    return kw


def build_model(cfg: Any, num_classes: int, input_size: int | None = None) -> nn.Module:
    """The model a recipe's [model] section describes, with a `num_classes`-way head.

    `input_size` is the (square) image size the model will see; models whose
    layer sizes depend on it (MLPs, LeNet-5, SimpleCNNs) are sized for it
    (None or 0 = the model's default_input_size). ImageNet weights are loaded
    when `cfg.pretrained`; the head is replaced and `cfg.dropout` put before it;
    a model with more than `cfg.max_params` parameters is refused.
    """
    name = cfg.name
    size = int(input_size or default_input_size(name))
    if cfg.pretrained:
        # Build the ImageNet architecture, load its weights, then adapt stem and head.
        model = create_model(name, 1000, **{k: v for k, v in _factory_kwargs(name, cfg, size).items()
                                            if k != "cifar_stem"})
        load_imagenet_weights(model, name, cfg.weights)
        if cfg.cifar_stem:
            from kagglebench.models.resnet import apply_cifar_stem
            apply_cifar_stem(model)   # the 3x3 stem starts fresh; the rest keeps ImageNet features
        replace_head(model, num_classes, cfg.dropout)
    else:
        try:
            model = create_model(name, num_classes, **_factory_kwargs(name, cfg, size))
        except ValueError as e:
            raise UserError(f"model {name}", str(e)) from None
        if cfg.dropout > 0:
            replace_head(model, num_classes, cfg.dropout)
    n = count_parameters(model)
    if cfg.max_params and n > cfg.max_params:
        raise UserError(f"model {name}", f"has {n:,} parameters, over the budget model.max_params = "
                        f"{cfg.max_params:,}")
    return model


