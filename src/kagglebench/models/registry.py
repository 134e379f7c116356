"""The model registry: `@register_model` factories, `create_model`, `list_models` (timm-style).

A factory takes `num_classes` plus keyword options and returns an `nn.Module`
whose final classification layer is the attribute `fc` (an `nn.Linear`), so
heads can be swapped, frozen and given their own learning rate uniformly.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kagglebench.errors import UserError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., Any]
    input_size: int                  # the size the architecture was designed for
    description: str
    weights_enum: str | None = None  # torchvision weights enum name, e.g. "ResNet34_Weights"


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, *, input_size: int = 32, description: str = "",
                   weights_enum: str | None = None) -> Callable:
    """Decorator: make `factory(num_classes, **kw)` available as `create_model(name, ...)`."""
    def deco(factory: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        doc = description or (factory.__doc__ or "").strip().splitlines()[0]
        _REGISTRY[name] = ModelEntry(name, factory, input_size, doc, weights_enum)
        return factory
    return deco


def model_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; UserError with the known names when there is none."""
    if name not in _REGISTRY:
        near = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise UserError(f"model {name}", f"no such model{hint}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int, **kw: Any) -> Any:
    """A freshly initialised model `name` with `num_classes` outputs."""
    return model_entry(name).factory(num_classes, **kw)


def default_input_size(name: str) -> int:
    """The input size (pixels, square) the architecture was designed for."""
    return model_entry(name).input_size
