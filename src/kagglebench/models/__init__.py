"""Models: a registry of every architecture the seed reports used, and `build_model` for recipes.

    create_model("resnet34", num_classes=100, cifar_stem=True)
    build_model(recipe.model, num_classes, input_size)   # weights, head, dropout, budget

Importing this package imports torch; keep it inside functions in CLI code.
"""

from __future__ import annotations

from kagglebench.models import fast, resnet, se_resnet, small  # noqa: F401  (they register themselves)
from kagglebench.models.build import (
    backbone_parameters,
    build_model,
    count_parameters,
    head_parameters,
    init_from_data,
    load_backbone_state,
    replace_head,
)
from kagglebench.models.pretrained import cache_path, weights_for
from kagglebench.models.registry import (
    ModelEntry,
    create_model,
    default_input_size,
    list_models,
    model_entry,
    register_model,
)

__all__ = [
    "ModelEntry", "backbone_parameters", "build_model", "cache_path", "count_parameters", "create_model",
    "default_input_size", "head_parameters", "init_from_data", "list_models", "load_backbone_state",
    "model_entry", "register_model", "replace_head", "weights_for",
]
