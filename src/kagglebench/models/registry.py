"""The model registry: `register_model` factories, `create_model`, `list_models` (timm-style).

A factory takes `num_classes` plus keyword options and returns an `nn.Module`
whose final classification layer is the attribute `fc` (an `nn.Linear`), so
heads can be swapped, frozen and given their own learning rate uniformly.

A factory is registered either as a function (`@register_model("name")`) or as
"module:function" text (`register_model("name", factory="pkg.mod:fn")`), imported only
when a model is created. The built-in models are registered the second way, in
`models/catalog.py`, so the names are known without importing torch: the recipe
checks `model.name` against this registry (config.py) in the desktop app too.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kagglebench.errors import UserError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., Any] | str    # the function, or "module:function" imported when first used
    input_size: int                  # the size the architecture was designed for
    description: str
    weights_enum: str | None = None  # torchvision weights enum name, e.g. "ResNet34_Weights"

    def function(self) -> Callable[..., Any]:
        """The factory itself (imported now when registered as "module:function")."""
        if isinstance(self.factory, str):
            module, _, attr = self.factory.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.factory


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, *, input_size: int = 32, description: str = "",
                   weights_enum: str | None = None, factory: str | None = None) -> Callable:
    """Make `factory(num_classes, **kw)` available as `create_model(name, ...)`: as a decorator,
    or with `factory="module:function"` (registered now, imported when first created)."""
    def deco(fn: Callable | str) -> Callable | str:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        doc = description or ("" if isinstance(fn, str) else (fn.__doc__ or "").strip().splitlines()[0])
        _REGISTRY[name] = ModelEntry(name, fn, input_size, doc, weights_enum)
        return fn
    return deco(factory) if factory is not None else deco


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
    return model_entry(name).function()(num_classes, **kw)


def default_input_size(name: str) -> int:
    """The input size (pixels, square) the architecture was designed for."""
    return model_entry(name).input_size
