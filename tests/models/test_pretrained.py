"""ImageNet weights from a seeded TORCH_HOME cache; the one-line errors when they are missing or wrong."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tvm

from kagglebench.config import ModelConfig
from kagglebench.errors import UserError
from kagglebench.models import build_model, cache_path, weights_for


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KAGGLEBENCH_OFFLINE", "1")   # never reach for the network in tests
    return tmp_path / "torch"


def seed_cache(name: str, torch_home, state=None):
    """Save generated weights where torchvision's weights API looks for `name`'s ImageNet file."""
    weights = weights_for(name, "IMAGENET1K_V1")
    path = torch_home / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    if state is None:
        torch.manual_seed(123)
        state = getattr(tvm, name)(weights=None).state_dict()
    torch.save(state, path)
    return path, state


def test_pretrained_weights_load_and_the_head_is_replaced(torch_home):
    path, state = seed_cache("resnet18", torch_home)
    assert cache_path(weights_for("resnet18", "IMAGENET1K_V1")) == path
    model = build_model(ModelConfig(name="resnet18", pretrained=True, dropout=0.2), num_classes=5)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert model.fc[1].out_features == 5 and model.fc[0].p == 0.2
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)

    cifar = build_model(ModelConfig(name="resnet18", pretrained=True, cifar_stem=True), 10)
    assert cifar.conv1.kernel_size == (3, 3) and torch.equal(cifar.layer1[0].conv1.weight,
                                                             state["layer1.0.conv1.weight"])


def test_missing_weights_say_which_file_goes_where(torch_home):
    with pytest.raises(UserError) as e:
        build_model(ModelConfig(name="resnet34", pretrained=True), 10)
    msg = str(e.value)
    assert "\n" not in msg
    assert "https://download.pytorch.org/models/resnet34-b627a593.pth" in msg
    assert str(torch_home / "hub" / "checkpoints" / "resnet34-b627a593.pth") in msg


def test_wrong_weights_file_is_refused_naming_keys(torch_home):
    seed_cache("resnet34", torch_home, state=tvm.resnet18(weights=None).state_dict())
    with pytest.raises(UserError) as e:
        build_model(ModelConfig(name="resnet34", pretrained=True), 10)
    msg = str(e.value)
    assert "resnet34-b627a593.pth" in msg and "missing" in msg and "layer1.2.bn1.weight" in msg and "more" in msg

    path, _ = seed_cache("resnet18", torch_home, state={})
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read the weights file"):
        build_model(ModelConfig(name="resnet18", pretrained=True), 10)


def test_bad_weight_names_and_models_without_weights(torch_home):
    with pytest.raises(UserError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        build_model(ModelConfig(name="resnet50", pretrained=True, weights="IMAGENET22K"), 10)
    with pytest.raises(UserError, match="has no pretrained weights.*resnet18"):
        build_model(ModelConfig(name="lenet5", pretrained=True), 10)

