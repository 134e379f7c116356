"""Optimizers and learning-rate schedules.

`create_optimizer` builds SGD (optionally Nesterov), Adam or AdamW over parameter
groups, optionally wrapped in `Lookahead`; `LookaheadEMA` is airbench's weight average that
pulls the live weights back every few steps; `split_norm_biases` gives BatchNorm biases their
own, faster learning rate (airbench's bias_scaler). Schedules are pure functions of the
global step (`lr_at`), as in nanoGPT: the trainer sets each group's lr before
every step, so resuming a run needs no scheduler object, only the step.
Each parameter group carries an `lr_scale` (1.0, or the backbone's scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    import torch

# Torch loads inside the functions: kagglebench.config reads the registries below (the valid
# values of optim.name and schedule.name) without importing it.


class Lookahead:
    """Lookahead (Zhang et al. 2019): every k steps, pull slow weights towards the fast ones
    by alpha and copy them back. Wraps any optimizer; its state saves with the inner one's."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if k < 1 or not 0.0 < alpha <= 1.0:
            raise UserError("optim.lookahead_k / optim.lookahead_alpha",
                            f"need k >= 1 and 0 < alpha <= 1 (got k={k}, alpha={alpha})")
        self.inner, self.k, self.alpha = inner, k, alpha
        self.defaults = inner.defaults
        self.counter = 0
        self.slow = [[p.detach().clone() for p in g["params"]] for g in inner.param_groups]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        # Always the inner optimizer's list: its load_state_dict replaces the list object.
        return self.inner.param_groups

    @property
    def state(self) -> Any:
        return self.inner.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> Any:
        import torch

        loss = self.inner.step(closure)
        self.counter += 1
        if self.counter % self.k == 0:
            with torch.no_grad():
                for group, slows in zip(self.param_groups, self.slow):
                    for p, s in zip(group["params"], slows):
                        s.add_(p.detach() - s, alpha=self.alpha)
                        p.copy_(s)
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "counter": self.counter,
                "slow": [[s.clone() for s in g] for g in self.slow]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.counter = state["counter"]
        for mine, saved in zip(self.slow, state["slow"]):
            for s, v in zip(mine, saved):
                s.copy_(v)


class LookaheadEMA:
    """airbench's lookahead-EMA (Keller Jordan, cifar10-airbench): every `every` steps an averaged
    copy of the model's float state (weights and BatchNorm statistics) moves toward the live one,
    and the live weights are reset to that average. The decay grows as (step / total)**3, so the
    early steps move freely and the last ones average hard; after the final step (decay 1.0) the
    model holds the average, so checkpoints and evaluation need nothing special."""

    def __init__(self, model: torch.nn.Module, *, total_steps: int, every: int = 5,
                 decay: float = 0.95) -> None:
        self.every, self.decay, self.total = every, decay, max(1, total_steps)
        self.avg = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def decay_at(self, step: int) -> float:
        """The update's decay at global step `step` (1-based, counted after the optimizer step)."""
        return self.decay ** self.every * min(1.0, step / self.total) ** 3

    def _update(self, model: torch.nn.Module, decay: float) -> None:
        import torch

        live = model.state_dict()
        with torch.no_grad():
            for name, avg in self.avg.items():
                avg.lerp_(live[name].to(avg.dtype), 1.0 - decay)
                live[name].copy_(avg)

    def after_step(self, model: torch.nn.Module, step: int) -> None:
        """Call after every optimizer step with the global step count (a pure function of it,
        so a resumed run updates at the same steps as an uninterrupted one)."""
        if step % self.every == 0:
            self._update(model, self.decay_at(step))
        if step == self.total:
            self._update(model, 1.0)   # the final sync: leave the model on the average

    def state_dict(self) -> dict[str, Any]:
        return {"avg": {k: v.clone() for k, v in self.avg.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["avg"].items():
            self.avg[k].copy_(v)


def _sgd(groups: list[dict[str, Any]], cfg: Any) -> Any:
    import torch
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=bool(cfg.nesterov and cfg.momentum > 0))


def _adam(groups: list[dict[str, Any]], cfg: Any) -> Any:
    import torch
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _adamw(groups: list[dict[str, Any]], cfg: Any) -> Any:
    import torch
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


# The optimizer registry: optim.name -> factory(param groups, [optim] config).
OPTIMIZERS: dict[str, Callable[[list[dict[str, Any]], Any], Any]] = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}


def split_norm_biases(groups: list[dict[str, Any]], model: torch.nn.Module, lr_scale: float,
                      weight_decay: float) -> list[dict[str, Any]]:
    """Move the BatchNorm biases of `model` out of `groups` into groups of their own whose
    learning rate is `lr_scale` times larger but whose weight decay per step (lr x decay) is
    unchanged: airbench's bias_scaler, which "scales up learning rate (but not weight decay)
    for BatchNorm biases". The BatchNorm groups come first, as airbench orders them."""
    from torch.nn.modules.batchnorm import _BatchNorm

    norm_biases = {id(m.bias) for m in model.modules() if isinstance(m, _BatchNorm) and m.bias is not None}
    fast: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for g in groups:
        mine = [p for p in g["params"] if id(p) in norm_biases]
        others = [p for p in g["params"] if id(p) not in norm_biases]
        if mine:
            fast.append({**g, "params": mine, "lr_scale": g.get("lr_scale", 1.0) * lr_scale,
                         "weight_decay": g.get("weight_decay", weight_decay) / lr_scale})
        if others:
            rest.append({**g, "params": others})
    return fast + rest


def create_optimizer(groups: Iterable[dict[str, Any]], cfg: Any) -> Any:
    """An optimizer from an `[optim]` config. `groups` are torch parameter groups,
    each with "params" and optionally "lr_scale"."""
    groups = [{"lr_scale": 1.0, **g, "lr": cfg.lr * g.get("lr_scale", 1.0)} for g in groups]
    name = cfg.name.lower()
    if name not in OPTIMIZERS:
        raise UserError("optim.name", f"unknown optimizer {cfg.name!r}; choose one of {', '.join(OPTIMIZERS)}")
    opt = OPTIMIZERS[name](groups, cfg)
    if cfg.lookahead:
        opt = Lookahead(opt, k=cfg.lookahead_k, alpha=cfg.lookahead_alpha)
    return opt


def lr_at(step: int, *, base_lr: float, schedule: Any, steps_per_epoch: int, total_steps: int,
          swa_lr: float | None = None, swa_start_step: int | None = None) -> float:
    """The learning rate at optimizer step `step` (0-based): a pure function of the step.

    Linear warm-up over `schedule.warmup_epochs` comes first (not for one-cycle or airbench,
    which have their own ramps); then step decay every `step_size` epochs, cosine to zero,
    one-cycle (torch's OneCycleLR defaults: cosine ramp from peak/25 over the first 30%, cosine
    down to peak/25/1e4), or airbench's (airbench94's get_lr: linear from 0.2x to the peak over
    the first int(23%) of the steps, then linear down to 0.07x at the last step). With SWA, the
    lr is held at `swa_lr` from the SWA start on.
    """
    if swa_lr is not None and swa_start_step is not None and step >= swa_start_step:
        return swa_lr
    name = schedule.name.lower()
    total = max(1, total_steps)
    warmup = round(schedule.warmup_epochs * steps_per_epoch) if name not in _OWN_RAMP else 0
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if name not in SCHEDULES:
        raise UserError("schedule.name", f"unknown schedule {schedule.name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](step, base_lr, schedule, steps_per_epoch, total, warmup)


def _constant(step: int, base_lr: float, schedule: Any, steps_per_epoch: int, total: int, warmup: int) -> float:
    return base_lr


def _step(step: int, base_lr: float, schedule: Any, steps_per_epoch: int, total: int, warmup: int) -> float:
    epoch = step // max(1, steps_per_epoch)
    return base_lr * schedule.gamma ** (epoch // max(1, schedule.step_size))


def _cosine(step: int, base_lr: float, schedule: Any, steps_per_epoch: int, total: int, warmup: int) -> float:
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def _onecycle_lr(step: int, base_lr: float, schedule: Any, steps_per_epoch: int, total: int, warmup: int) -> float:
    # torch.optim.lr_scheduler.OneCycleLR's defaults, computed as it computes them (_onecycle).
    return base_lr * _onecycle(step, total)[0]


def _airbench(step: int, base_lr: float, schedule: Any, steps_per_epoch: int, total: int, warmup: int) -> float:
    # airbench94's get_lr, as a factor of the peak.
    up = int(total * 0.23)
    if step < up:
        frac = step / up
        return base_lr * (0.2 * (1 - frac) + 1.0 * frac)
    frac = (step - up) / (total - up)
    return base_lr * (1.0 * (1 - frac) + 0.07 * frac)


_OWN_RAMP = ("onecycle", "airbench")   # schedules that ignore warmup_epochs: they ramp up themselves

# The schedule registry: schedule.name -> lr(step, base_lr, [schedule], steps/epoch, total steps, warm-up steps).
SCHEDULES: dict[str, Callable[..., float]] = {"none": _constant, "step": _step, "cosine": _cosine,
                                              "onecycle": _onecycle_lr, "airbench": _airbench}


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _onecycle(step: int, total: int) -> tuple[float, float]:
    """(lr / max_lr, momentum) at `step` of torch.optim.lr_scheduler.OneCycleLR with its defaults
    (pct_start 0.3, cosine annealing, div_factor 25, final_div_factor 1e4, momentum 0.95 ->
    0.85 -> 0.95), written out as its `get_lr` computes them (the tests compare with torch)."""
    phases = ((float(0.3 * total) - 1, 1 / 25, 1.0, 0.95, 0.85),
              (float(total - 1), 1.0, 1 / 25 / 1e4, 0.85, 0.95))
    start_step = 0.0
    for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / max(1e-12, end_step - start_step)
            return _cos(lr0, lr1, pct), _cos(m0, m1, pct)
        start_step = end_step
    raise AssertionError("unreachable")


def momentum_at(step: int, *, schedule: Any, total_steps: int) -> float | None:
    """The momentum (SGD) or beta1 (Adam/AdamW) at `step`, when the schedule cycles it
    (onecycle with schedule.cycle_momentum, as torch's OneCycleLR does by default, overriding
    optim.momentum); None when the optimizer's own setting holds."""
    if schedule.name.lower() != "onecycle" or not getattr(schedule, "cycle_momentum", False):
        return None
    return _onecycle(step, max(1, total_steps))[1]


def set_momentum(optimizer: Any, momentum: float) -> None:
    """Set SGD's momentum or Adam's beta1 in every group (as OneCycleLR does)."""
    for g in optimizer.param_groups:
        if "betas" in g:
            g["betas"] = (momentum, *g["betas"][1:])
        elif "momentum" in g:
            g["momentum"] = momentum


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Apply `lr` to every group, scaled by the group's `lr_scale` (the backbone's is smaller)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
