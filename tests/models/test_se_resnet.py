"""Seed 003's model against a transcription of its notebook (tests/reference/dlproject_resnet.py)."""

from __future__ import annotations

import torch

from kagglebench.config import load_recipe
from kagglebench.models import build_model, count_parameters
from tests.reference.dlproject_resnet import notebook_net


def _ours_from(ref: torch.nn.Module) -> torch.nn.Module:
    ours = build_model(load_recipe("se-resnet-5m").model, 10, 32)
    names = {"seblock.": "se.", "residual_layers.": "layers.", "linear.": "fc."}
    state = {}
    for k, v in ref.state_dict().items():
        for old, new in names.items():
            k = k.replace(old, new) if k.startswith(old) else k
        state[k] = v
    ours.load_state_dict(state, strict=True)   # every tensor has its counterpart, same shapes
    return ours


def test_parameter_count_is_the_reports():
    ours = build_model(load_recipe("se-resnet-5m").model, 10, 32)
    assert count_parameters(ours) == 4_697_742 == count_parameters(notebook_net())
    # Exactly one squeeze-excitation gate, after the stem; none inside the residual blocks.
    gates = [n for n, m in ours.named_modules() if type(m).__name__ == "SqueezeExcite"]
    assert gates == ["se"]


def test_same_outputs_as_the_notebooks_network_for_the_same_weights():
    torch.manual_seed(0)
    ref = notebook_net(drop=0.1)
    with torch.no_grad():   # non-trivial BatchNorm statistics, so eval mode uses them
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    ours = _ours_from(ref)
    x = torch.randn(4, 3, 32, 32)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    # In training mode (batch statistics, dropout off for comparability): same outputs too.
    ref_nd, ours_nd = notebook_net(drop=0.0), None
    ref_nd.load_state_dict(ref.state_dict())
    ours_nd = _ours_from(ref_nd)
    for m in ours_nd.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    ref_nd.train()
    ours_nd.train()
    torch.testing.assert_close(ours_nd(x), ref_nd(x), rtol=1e-5, atol=1e-5)


def test_dropout_is_the_reports_rate_in_every_block_and_before_the_head():
    ours = build_model(load_recipe("se-resnet-5m").model, 10, 32)
    rates = {n: m.p for n, m in ours.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert len(rates) == 4 + 4 + 3 + 1 and set(rates.values()) == {0.1}
