"""Models: a registry of every architecture the seed reports used, and `build_model` for recipes.

    create_model("resnet34", num_classes=100, cifar_stem=True)
    build_model(recipe.model, num_classes, input_size)   # weights, head, dropout, budget

The names (`list_models`, `MODELS`) come without torch; the functions that build or load
networks import it when first used (`from kagglebench.models import build_model` does).
"""

from __future__ import annotations

import importlib
from typing import Any

from kagglebench.models import catalog  # noqa: F401  (registers the built-in models, torch-free)
from kagglebench.models.registry import _REGISTRY as MODELS
from kagglebench.models.registry import (
    ModelEntry,
    create_model,
    default_input_size,
    list_models,
    model_entry,
    register_model,
)

_LAZY = {name: "kagglebench.models.build" for name in (
    "backbone_parameters", "build_model", "count_parameters", "head_parameters", "init_from_data",
    "load_backbone_state", "replace_head")} | {"cache_path": "kagglebench.models.pretrained",
                                               "weights_for": "kagglebench.models.pretrained"}


def __getattr__(name: str) -> Any:
    """The torch-side functions, imported on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODELS", "ModelEntry", "backbone_parameters", "build_model", "cache_path", "count_parameters", "create_model",
    "default_input_size", "head_parameters", "init_from_data", "list_models", "load_backbone_state",
    "model_entry", "register_model", "replace_head", "weights_for",
]
