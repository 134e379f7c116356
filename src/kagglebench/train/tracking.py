"""Mirror the trainer's metric stream to Weights & Biases and/or TensorBoard.

The store is the record; these are optional copies for students whose course asks
for W&B logs or who like TensorBoard. `recipe.tracking.wandb` / `.tensorboard`
switch them on. Both packages are optional: asking for one that is not installed
is a one-line error telling the student what to install. W&B honours its own
environment (WANDB_MODE=offline, WANDB_API_KEY...): credentials are never read here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.config import Recipe, TrackingConfig


def _config_dict(recipe: Recipe) -> dict:
    try:
        from kagglebench.config import recipe_to_dict

        return recipe_to_dict(recipe)
    except Exception:  # a recipe stand-in without the full dataclasses: log what we can
        return {"name": getattr(recipe, "name", "")}


def _scalar(v: Any) -> float | None:
    """A plain float for numbers (tensors included); None for anything that is not one."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Trackers:
    """The trackers a recipe asks for. `log(metrics, step)` sends numbers only; `close()` flushes."""

    def __init__(self, recipe: Recipe, run_dir: str | os.PathLike, run_id: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        tracking = getattr(recipe, "tracking", None)
        self._tb = None
        self._wandb = None
        if tracking is not None and getattr(tracking, "tensorboard", False):
            self._tb = self._open_tensorboard()
        if tracking is not None and getattr(tracking, "wandb", False):
            try:
                self._wandb = self._open_wandb(recipe, tracking)
            except BaseException:
                self.close()  # do not leave a TensorBoard writer thread behind
                raise

    @property
    def active(self) -> list[str]:
        return [n for n, t in (("tensorboard", self._tb), ("wandb", self._wandb)) if t is not None]

    @property
    def tensorboard_dir(self) -> Path:
        return self.run_dir / "tensorboard"

    def _open_tensorboard(self):
        try:
            import tensorboard  # noqa: F401  (torch's writer needs the package at import time)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("tracking.tensorboard", "the tensorboard package is not installed: "
                            "run `pip install tensorboard`, or set tracking.tensorboard=false") from None
        self.tensorboard_dir.mkdir(parents=True, exist_ok=True)
        return SummaryWriter(log_dir=str(self.tensorboard_dir))

    def _open_wandb(self, recipe: Recipe, tracking: TrackingConfig):
        try:
            import wandb
        except ImportError:
            raise UserError("tracking.wandb", "the wandb package is not installed: run `pip install "
                            "wandb` (and `wandb login`, or WANDB_MODE=offline), "
                            "or set tracking.wandb=false") from None
        project = getattr(tracking, "wandb_project", "") or "kagglebench"
        try:
            # resume="allow" with our run id: `train --resume` continues the same W&B run.
            return wandb.init(project=project, name=self.run_id, id=self.run_id, resume="allow",
                              dir=str(self.run_dir), config=_config_dict(recipe), reinit=True)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError("tracking.wandb", f"could not start Weights & Biases ({first}); run "
                            "`wandb login`, or set WANDB_MODE=offline to log locally") from None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        nums = {k: f for k, v in metrics.items() if (f := _scalar(v)) is not None}
        if not nums:
            return
        if self._tb is not None:
            for k, v in nums.items():
                self._tb.add_scalar(k, v, global_step=step)
        if self._wandb is not None:
            self._wandb.log(nums, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
            import wandb

            wandb.teardown()  # stop the wandb-core helper process: one run per training process

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
