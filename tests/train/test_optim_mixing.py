"""Optimizers, schedules, mixing and batch augmentations: the pieces a step is made of."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from kagglebench.config import OptimConfig, ScheduleConfig
from kagglebench.errors import UserError
from kagglebench.train.augment import create_augment
from kagglebench.train.checkpoints import rng_state, set_rng_state
from kagglebench.train.mixing import cutmix, mix_batch, soft_cross_entropy
from kagglebench.train.optim import Lookahead, create_optimizer, lr_at, set_lr


def sched(name: str, **kw) -> ScheduleConfig:
    return ScheduleConfig(name=name, **kw)


def test_schedules_are_pure_functions_of_the_step() -> None:
    kw = {"base_lr": 0.1, "steps_per_epoch": 10, "total_steps": 100}
    step = sched("step", step_size=3, gamma=0.1)
    assert lr_at(29, schedule=step, **kw) == pytest.approx(0.1)
    assert lr_at(30, schedule=step, **kw) == pytest.approx(0.01)
    cos = sched("cosine")
    assert lr_at(0, schedule=cos, **kw) == pytest.approx(0.1)
    assert lr_at(50, schedule=cos, **kw) == pytest.approx(0.05)
    assert lr_at(100, schedule=cos, **kw) == pytest.approx(0.0, abs=1e-12)
    warm = sched("cosine", warmup_epochs=1)
    assert [lr_at(s, schedule=warm, **kw) for s in (0, 4, 9)] == pytest.approx([0.01, 0.05, 0.1])
    assert lr_at(95, schedule=cos, swa_lr=0.003, swa_start_step=80, **kw) == 0.003
    assert lr_at(7, schedule=sched("none"), **kw) == 0.1


@pytest.mark.parametrize("total", [100, 37, 1000])
def test_onecycle_is_torchs_onecyclelr_learning_rate_and_momentum(total: int) -> None:
    """lr and momentum at every step equal torch.optim.lr_scheduler.OneCycleLR with its defaults
    (what seed 004 used), momentum cycling 0.95 -> 0.85 -> 0.95 included."""
    from kagglebench.train.optim import momentum_at

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total)
    one = sched("onecycle")
    for step in range(total):
        g = opt.param_groups[0]
        kw = {"schedule": one, "total_steps": total}
        assert lr_at(step, base_lr=0.1, steps_per_epoch=10, **kw) == pytest.approx(g["lr"], rel=1e-9, abs=1e-15)
        assert momentum_at(step, **kw) == pytest.approx(g["momentum"], rel=1e-12)
        opt.step()
        ref.step()
    assert momentum_at(0, schedule=sched("onecycle", cycle_momentum=False), total_steps=total) is None
    assert momentum_at(0, schedule=sched("cosine"), total_steps=total) is None


def test_the_trainer_cycles_sgd_momentum_and_adam_beta1() -> None:
    from kagglebench.train.optim import set_momentum

    p = torch.nn.Parameter(torch.zeros(1))
    sgd, adam = torch.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.Adam([p], lr=0.1)
    set_momentum(sgd, 0.93)
    set_momentum(adam, 0.91)
    assert sgd.param_groups[0]["momentum"] == 0.93 and adam.param_groups[0]["betas"] == (0.91, 0.999)


def test_optimizers_and_backbone_scale() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    groups = [{"params": list(model[0].parameters()), "lr_scale": 0.1},
              {"params": list(model[1].parameters())}]
    sgd = create_optimizer(groups, OptimConfig(name="sgd", lr=0.5, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]
    set_lr(sgd, 0.2)
    assert [g["lr"] for g in sgd.param_groups] == pytest.approx([0.02, 0.2])
    assert isinstance(create_optimizer(groups, OptimConfig(name="adamw", lr=1e-3)), torch.optim.AdamW)
    with pytest.raises(UserError, match="unknown optimizer"):
        create_optimizer(groups, SimpleNamespace(name="lion", lr=1.0))


def test_lookahead_pulls_back_every_k_steps_and_round_trips() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = create_optimizer([{"params": [p]}], OptimConfig(name="sgd", lr=1.0, momentum=0.0, weight_decay=0.0,
                                                          lookahead=True, lookahead_k=2, lookahead_alpha=0.5))
    assert isinstance(opt, Lookahead)
    for _ in range(2):
        opt.zero_grad()
        (-p).sum().backward()    # gradient -1: each fast step adds 1
        opt.step()
    assert float(p.detach()) == pytest.approx(1.0)   # fast weights reached 2, slow pulled halfway: 1
    state = opt.state_dict()
    p2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = create_optimizer([{"params": [p2]}], OptimConfig(name="sgd", lr=1.0, momentum=0.0,
                                                            weight_decay=0.0, lookahead=True, lookahead_k=2))
    opt2.load_state_dict(state)
    set_lr(opt2, 0.25)   # must reach the inner optimizer after load_state_dict
    assert opt2.inner.param_groups[0]["lr"] == 0.25 and opt2.counter == 2


def test_mixing_keeps_targets_as_distributions() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    same_x, same_y = mix_batch(x, y, 4)
    assert same_x is x and same_y is y
    for kw in ({"mixup_alpha": 0.4}, {"cutmix_alpha": 1.0}, {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}):
        mx, my = mix_batch(x, y, 4, **kw)
        assert mx.shape == x.shape and my.shape == (8, 4)
        assert torch.allclose(my.sum(1), torch.ones(8))
    # CutMix's target weights equal the pasted area.
    cx, cy = cutmix(torch.zeros(4, 1, 10, 10), torch.eye(4), 1.0)
    assert cx.abs().sum() == 0 and torch.allclose(cy.sum(1), torch.ones(4))


def test_label_smoothing_loss() -> None:
    logits = torch.tensor([[10.0, 0.0, 0.0]])
    hard = soft_cross_entropy(logits, torch.tensor([0]))
    smooth = soft_cross_entropy(logits, torch.tensor([0]), smoothing=0.3)
    soft = soft_cross_entropy(logits, torch.tensor([[1.0, 0.0, 0.0]]))
    assert hard < smooth and soft == pytest.approx(float(hard))
    assert math.isfinite(float(smooth))


@pytest.mark.parametrize("data", [
    {"policy": "autoaugment-cifar10"}, {"policy": "randaugment"}, {"policy": "trivialaugment"},
    {"color_jitter": 0.4, "affine_degrees": 15.0, "perspective": 0.3, "grayscale": 0.2},
])
def test_augmentations_run_on_uint8_batches(data: dict) -> None:
    cfg = SimpleNamespace(**{"policy": "", "color_jitter": 0.0, "affine_degrees": 0.0, "perspective": 0.0,
                             "grayscale": 0.0, **data})
    aug = create_augment(cfg)
    torch.manual_seed(0)
    x = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    saved = rng_state()
    out = aug(x)
    assert out.dtype == torch.uint8 and out.shape == x.shape and not torch.equal(out, x)
    set_rng_state(saved)
    assert torch.equal(aug(x), out)   # draws come from the global generators that checkpoints save


def test_no_augmentation_and_bad_policy() -> None:
    none = SimpleNamespace(policy="", color_jitter=0.0, affine_degrees=0.0, perspective=0.0, grayscale=0.0)
    assert create_augment(none) is None
    from kagglebench.config import load_recipe

    with pytest.raises(UserError, match="data.policy = 'nonsense' is not one of: '', autoaugment-cifar10"):
        load_recipe("demo-cnn", ["data.policy=nonsense"])   # the names come from augment.POLICIES
