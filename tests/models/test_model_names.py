"""model.name is a choice read from the model registry itself: checked when a recipe is read,
without torch (the desktop app reads recipes and must not import torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kagglebench.config import load_recipe
from kagglebench.errors import UserError
from kagglebench.models import list_models, register_model
from kagglebench.models.registry import _REGISTRY


def test_an_unknown_model_is_refused_when_the_recipe_is_read_with_the_near_name() -> None:
    with pytest.raises(UserError) as e:
        load_recipe("demo-cnn", ["model=resnt18"])
    assert "model.name = 'resnt18' is not one of (did you mean 'resnet18'?)" in str(e.value)
    for name in list_models():
        assert name in str(e.value)


def test_a_model_registered_later_is_valid_in_recipes_at_once() -> None:
    @register_model("tiny-test-net", description="a test's own net")
    def tiny(num_classes: int, input_size: int | None = None):  # pragma: no cover - never built
        raise AssertionError

    try:
        assert load_recipe("demo-cnn", ["model=tiny-test-net"]).model.name == "tiny-test-net"
    finally:
        del _REGISTRY["tiny-test-net"]
    with pytest.raises(UserError):
        load_recipe("demo-cnn", ["model=tiny-test-net"])


def test_reading_recipes_and_model_names_imports_no_torch() -> None:
    code = ("import sys\n"
            "from kagglebench.config import load_recipe, recipe_from_dict, recipe_to_dict\n"
            "from kagglebench.models import list_models, model_entry\n"
            "r = load_recipe('resnet152-imagenet', ['model=se-resnet'])\n"
            "recipe_from_dict(recipe_to_dict(r))\n"
            "assert model_entry('resnet50').input_size == 224 and len(list_models()) >= 14\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_catalogued_factory_exists() -> None:
    for name in list_models():
        assert callable(_REGISTRY[name].function()), name
