"""Every registered model trains (forward + backward) on CPU; registry, head and budget behaviour."""

from __future__ import annotations

import pytest
import torch

from kagglebench.config import ModelConfig
from kagglebench.errors import UserError
from kagglebench.models import (
    backbone_parameters,
    build_model,
    count_parameters,
    create_model,
    default_input_size,
    head_parameters,
    init_from_data,
    list_models,
    load_backbone_state,
)

# ResNets are exercised at 32x32 (valid for the ImageNet stem: 1x1 at the last stage, and cheap).
SIZES = {f"resnet{d}": 32 for d in (18, 34, 50, 101, 152)}


@pytest.mark.parametrize("name", list_models())
def test_every_model_does_forward_and_backward(name):
    torch.manual_seed(0)
    size = SIZES.get(name, default_input_size(name))
    model = build_model(ModelConfig(name=name), num_classes=7, input_size=size)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in head_parameters(model))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone_parameters(model))


def test_the_expected_models_are_registered():
    assert {"twolayer-mlp", "mlp-4layer", "lenet5", "simplecnn-3block", "simplecnn-1conv", "convnet96",
            "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "se-resnet", "fast",
            "demo-cnn"} <= set(list_models())


def test_unknown_model_names_a_close_match():
    with pytest.raises(UserError, match="did you mean 'resnet34'"):
        create_model("resnt34", 10)


def test_cifar_stem_keeps_32x32_resolution():
    plain = create_model("resnet18", 10)
    cifar = create_model("resnet18", 10, cifar_stem=True)
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert isinstance(cifar.maxpool, torch.nn.Identity)
    x = torch.randn(1, 3, 32, 32)
    def stem(m):
        return m.maxpool(m.relu(m.bn1(m.conv1(x))))

    plain.eval(), cifar.eval()
    assert stem(cifar).shape[-1] == 32 and stem(plain).shape[-1] == 8
    with pytest.raises(UserError, match="cifar_stem"):
        build_model(ModelConfig(name="lenet5", cifar_stem=True), 10)


def test_layer_sizes_follow_the_input_size():
    # Seed 004 ran LeNet-5 on 96x96 images: a 16x21x21 flatten.
    m = build_model(ModelConfig(name="lenet5"), 100, input_size=96)
    assert m.features[7].in_features == 16 * 21 * 21
    assert m(torch.randn(1, 3, 96, 96)).shape == (1, 100)
    with pytest.raises(UserError, match="lenet5"):
        build_model(ModelConfig(name="lenet5"), 10, input_size=8)


def test_se_resnet_is_under_five_million_and_budget_is_enforced():
    n = count_parameters(build_model(ModelConfig(name="se-resnet", max_params=5_000_000), 10))
    assert 4_000_000 < n < 5_000_000
    with pytest.raises(UserError) as e:
        build_model(ModelConfig(name="se-resnet", max_params=1_000_000), 10)
    assert f"{n:,}" in str(e.value) and "1,000,000" in str(e.value)


def test_dropout_goes_before_a_fresh_head():
    m = build_model(ModelConfig(name="demo-cnn", dropout=0.3), 12)
    assert isinstance(m.fc[0], torch.nn.Dropout) and m.fc[0].p == 0.3 and m.fc[1].out_features == 12
    head = {id(p) for p in head_parameters(m)}
    body = {id(p) for p in backbone_parameters(m)}
    assert head and body and not head & body and head | body == {id(p) for p in m.parameters()}


def test_backbone_state_moves_between_class_counts():
    torch.manual_seed(0)
    src = build_model(ModelConfig(name="convnet96"), 100)
    checkpoint = {"epoch": 3, "model": {f"_orig_mod.{k}": v for k, v in src.state_dict().items()}}
    dst = build_model(ModelConfig(name="convnet96"), 5)
    head_before = dst.fc.weight.clone()
    load_backbone_state(dst, checkpoint)
    assert torch.equal(dst.features[0].weight, src.features[0].weight)
    assert torch.equal(dst.fc.weight, head_before) and dst.fc.out_features == 5

    with pytest.raises(UserError) as e:
        load_backbone_state(dst, create_model("lenet5", 5).state_dict(), where="runs/abc/best.pt")
    msg = str(e.value)
    assert msg.startswith("runs/abc/best.pt") and "missing" in msg and "features.0.weight" in msg


def test_fast_net_whitening_decorrelates_patches():
    torch.manual_seed(0)
    model = create_model("fast", 10)
    # Strongly correlated channels: the whitened stem output should not be.
    base = torch.randn(64, 1, 16, 16)
    images = torch.cat([base, base * 0.9 + 0.1 * torch.randn_like(base), -base], 1)
    assert init_from_data(model, images)
    out = model.whiten(images)[:, :12]    # the eigen-filters (the rest are their negatives)
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    cov = torch.cov(flat)
    assert torch.allclose(torch.diag(cov)[:4], torch.ones(4), atol=0.1)   # the strong directions (first, as airbench)
    off = cov - torch.diag(torch.diag(cov))
    assert off.abs().max() < 0.05
    assert not init_from_data(create_model("demo-cnn", 10), images)
