"""How long an epoch of a recipe takes on this machine, measured from a few training steps.

`recipe_epoch_time(ws, recipe)` builds what `kagglebench train` builds (the same data on the
device, model, optimizer groups, batch pipeline with its augmentation, schedule, EMA/SWA and
autocast: `runner._make_parts` / `runner._make_pipeline`), runs `warmup` steps that are left out
of the clock (torch.compile, cuDNN autotuning, first allocations), then times `steps` more with
`loop.train_step`, the step training runs. Nothing is written: no run, no store row, no file.
The figure is training steps only; the epoch's validation pass comes on top.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kagglebench.config import Recipe
    from kagglebench.workspace import Workspace

DEFAULT_STEPS = 10
DEFAULT_WARMUP = 2


class EpochTime(NamedTuple):
    seconds_per_step: float
    steps_per_epoch: int
    seconds_per_epoch: float      # seconds_per_step * steps_per_epoch (training only, no validation)
    images_per_s: float
    steps: int                    # steps timed
    warmup_steps: int             # steps run first and left out
    batch_size: int
    device: str

    def to_dict(self) -> dict:
        return self._asdict()


def _quiet(_msg: str) -> None:
    """The run log `_make_parts` writes to: a measurement has none."""


def recipe_epoch_time(ws: Workspace, recipe: Recipe, *, steps: int = DEFAULT_STEPS,
                      warmup: int = DEFAULT_WARMUP) -> EpochTime:
    """Seconds per training step and per epoch of `recipe` in `ws` on the recipe's device."""
    from kagglebench.errors import UserError
    from kagglebench.train import build, loop, runner
    from kagglebench.train import distributed as dist
    from kagglebench.train.optim import set_lr, set_momentum

    if steps < 1:
        raise UserError("--steps", f"needs at least 1 step to time (got {steps})")
    if warmup < 0:
        raise UserError("--warmup", f"cannot be negative (got {warmup})")
    # The weights' values do not change the speed: no download, no other run's checkpoint.
    recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, pretrained=False, init_from=""))
    device = build.device_of(recipe)
    build.seed_everything(recipe.train.seed, recipe.train.deterministic)
    data = build.load_data(ws, recipe, device)
    recipe = build.resolved_recipe(recipe, data)
    info = dist.DistInfo(device=str(device))
    parts = runner._make_parts(ws, recipe, data, device, info, True, _quiet)
    pipe = runner._make_pipeline(recipe, data, info, parts.half_weights)
    steps_per_epoch = len(pipe)
    schedule = loop.Schedule(recipe, steps_per_epoch, loop.total_steps(steps_per_epoch, recipe.train))
    if recipe.optim.lookahead_ema:
        from kagglebench.train.optim import LookaheadEMA
        parts.lookahead_ema = LookaheadEMA(parts.raw, total_steps=schedule.total_steps,
                                           every=recipe.optim.lookahead_ema_every,
                                           decay=recipe.optim.lookahead_ema_decay)
    build.set_backbone_trainable(parts.raw, recipe, recipe.model.freeze_backbone_epochs == 0)
    parts.model.train()
    timer = loop.StepTimer(device)
    done, epoch, loss = 0, 0, None
    while done < warmup + steps:            # a tiny training split: the steps run over several epochs
        if hasattr(parts.raw, "start_epoch"):
            parts.raw.start_epoch(epoch)
        pipe.set_epoch(epoch)
        for x, y in pipe:
            set_lr(parts.optimizer, schedule.lr(done))
            momentum = schedule.momentum(done)
            if momentum is not None:
                set_momentum(parts.optimizer, momentum)
            loss, _ = loop.train_step(parts, x, y, recipe, len(data.classes))
            done += 1
            if parts.lookahead_ema is not None:
                parts.lookahead_ema.after_step(parts.raw, done)
            if done == warmup:
                float(loss)                   # wait for the warm-up's work before starting the clock
                timer.restart()
            elif done > warmup:
                timer.images += y.shape[0]
            if done == warmup + steps:
                break
        epoch += 1
    float(loss)                               # the queued work is done (CUDA, MPS) before reading the clock
    seconds = max(timer.seconds(), 1e-9)
    per_step = seconds / steps
    return EpochTime(seconds_per_step=per_step, steps_per_epoch=steps_per_epoch,
                     seconds_per_epoch=per_step * steps_per_epoch, images_per_s=timer.images / seconds,
                     steps=steps, warmup_steps=warmup, batch_size=recipe.train.batch_size, device=str(device))
