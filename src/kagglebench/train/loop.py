"""The training loop: `train_one_epoch` and `evaluate`, plain functions, state passed in.

Read top to bottom like nanoGPT's train.py. Everything a step touches lives in `Parts`
(model, optimizer, scaler, EMA, SWA, lookahead-EMA); counters and early-stopping state live in
`TrainState`, which checkpoints save. The learning rate is a pure function of the global
step (`optim.lr_at`), set before every step. The runner (`runner.py`) owns the run:
store, logs, checkpoints, signals.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kagglebench.train import augmix
from kagglebench.train.mixing import mix_batch, soft_cross_entropy
from kagglebench.train.optim import lr_at, momentum_at, set_lr, set_momentum


class Diverged(Exception):
    """The loss turned NaN or infinite; `step` is the global step where it was seen."""

    def __init__(self, step: int, loss: float) -> None:
        self.step, self.loss = step, loss
        super().__init__(f"loss became {loss} at step {step}; lower the learning rate "
                         "(lr=...) or set train.grad_clip")


@dataclass
class TrainState:
    """Counters and early-stopping memory; saved in every checkpoint as `trainer`."""
    step: int = 0                # optimizer steps done, over the whole run
    epoch: int = 0               # epochs completed
    batch: int = 0               # batches done in the current, unfinished epoch
    best_metric: float | None = None
    best_val_acc: float | None = None
    bad_epochs: int = 0          # epochs since the monitored metric last improved
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Parts:
    """What a training step needs. `model` may be wrapped (DDP, torch.compile); `raw` is the
    plain module whose state dict we save and whose averages EMA/SWA keep."""
    model: nn.Module
    raw: nn.Module
    optimizer: Any
    device: torch.device
    scaler: torch.amp.GradScaler | None = None
    amp_dtype: torch.dtype | None = None
    ema: nn.Module | None = None
    swa: nn.Module | None = None
    lookahead_ema: Any = None    # optim.LookaheadEMA: pulls `raw` back to its average every k steps
    warmup_steps: int = 0        # first steps of this process left out of images/s (compile, autotune)
    steps_done: int = 0          # steps this process has run (warm-up is per process, not per run)
    # train.half_weights: fp16 weights (BatchNorm float32) and inputs, no autocast or scaler; the
    # loss is summed as airbench sums it, `loss_scale` (this rank's batch) times the mean, and the
    # optimizer's groups carry lr / loss_scale and weight_decay x loss_scale: the same steps
    half_weights: bool = False
    loss_scale: float = 1.0

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def eval_model(self) -> nn.Module:
        """The model we predict with: the EMA when kept, else the raw one."""
        return self.ema.module if self.ema is not None else self.raw


def total_steps(steps_per_epoch: int, train: Any) -> int:
    """Steps in the whole run: `epochs` epochs, the last one cut to `last_epoch_fraction` (rounded
    up, as airbench94's ceil(len(train_loader) * 9.9))."""
    return math.ceil(steps_per_epoch * (train.epochs - 1 + train.last_epoch_fraction))


@dataclass
class Schedule:
    """The constants `lr_at` needs, fixed for the whole run."""
    recipe: Any
    steps_per_epoch: int
    total_steps: int

    def lr(self, step: int) -> float:
        t, sched = self.recipe.train, self.recipe.schedule
        swa_start = swa_start_epoch(self.recipe) * self.steps_per_epoch if t.swa else None
        swa_lr = (t.swa_lr or self.recipe.optim.lr / 10) if t.swa else None
        return lr_at(step, base_lr=self.recipe.optim.lr, schedule=sched,
                     steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                     swa_lr=swa_lr, swa_start_step=swa_start)

    def momentum(self, step: int) -> float | None:
        return momentum_at(step, schedule=self.recipe.schedule, total_steps=self.total_steps)


def swa_start_epoch(recipe: Any) -> int:
    """The first epoch (0-based) that SWA averages: train.swa_start_epoch, or 75% of the way in."""
    t = recipe.train
    return t.swa_start_epoch if t.swa_start_epoch > 0 else int(0.75 * t.epochs)


def train_step(parts: Parts, x: torch.Tensor, y: torch.Tensor, recipe: Any,
               num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step; returns (loss, number correct) as tensors, without syncing."""
    t = recipe.train
    if parts.half_weights:
        x = x.half()
    backward = None
    if x.shape[0] == augmix.VIEWS_WITH_JSD * y.shape[0]:
        # AugMix + JSD: clean and two augmented views of each image, in one forward pass
        with parts.autocast():
            logits_all = parts.model(x)
        loss, logits = augmix.jsd_loss(logits_all, y, t.jsd_weight, t.label_smoothing)
    else:
        inputs, target = mix_batch(x, y, num_classes, mixup_alpha=t.mixup_alpha, cutmix_alpha=t.cutmix_alpha,
                                   prob=t.mix_prob)
        with parts.autocast():
            logits = parts.model(inputs)
        if parts.half_weights:
            # airbench: cross-entropy on the fp16 logits, summed over the batch
            per = F.cross_entropy(logits, target.to(logits.dtype) if target.dtype.is_floating_point else target,
                                  label_smoothing=t.label_smoothing, reduction="none")
            backward = per.sum()
            if per.shape[0] != parts.loss_scale:      # a short last batch: the same scale as a full one
                backward = backward * (parts.loss_scale / per.shape[0])
            loss = per.detach().float().mean()
        else:
            loss = soft_cross_entropy(logits, target, t.label_smoothing)
    if backward is None:
        backward = loss * parts.loss_scale if parts.half_weights else loss
    parts.optimizer.zero_grad(set_to_none=True)
    if parts.scaler is not None:
        parts.scaler.scale(loss).backward()
        if t.grad_clip:
            parts.scaler.unscale_(parts.optimizer)
            nn.utils.clip_grad_norm_(parts.raw.parameters(), t.grad_clip)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
    else:
        backward.backward()
        if t.grad_clip:      # the summed loss's gradients are loss_scale x the mean's
            nn.utils.clip_grad_norm_(parts.raw.parameters(), t.grad_clip * parts.loss_scale)
        parts.optimizer.step()
    if parts.ema is not None:
        parts.ema.update_parameters(parts.raw)
    correct = (logits.detach().argmax(1) == y).sum()
    return loss.detach(), correct


class StepTimer:
    """Training time without the warm-up steps. On CUDA the clock is a pair of events recorded
    on the stream, so it times the GPU's work rather than how fast Python queued it; reading it
    syncs once (the loss window is synced at the same moment anyway)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.restart()

    def _now(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def restart(self) -> None:
        self.t0, self.images = self._now(), 0

    def seconds(self) -> float:
        if not self.cuda:
            return time.perf_counter() - self.t0
        end = self._now()
        end.synchronize()
        return self.t0.elapsed_time(end) / 1000.0

    def images_per_s(self) -> float:
        return self.images / max(1e-9, self.seconds())


def train_one_epoch(parts: Parts, state: TrainState, recipe: Any, batches: Iterable, *,
                    schedule: Schedule, num_classes: int, log_every: int = 10,
                    on_log: Callable[[dict[str, Any]], None] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    progress: Any = None) -> dict[str, Any]:
    """Train over `batches` (the rest of the current epoch), advancing `state.step` and
    `state.batch`. Returns the epoch's train_loss, train_acc, images_per_s and `stopped`
    (True when `should_stop` asked to stop before the epoch ended). Raises Diverged."""
    parts.model.train()
    sums = {"loss": 0.0, "correct": 0, "seen": 0}
    window: list[tuple[int, torch.Tensor, torch.Tensor, int]] = []  # (step, loss, correct, n)
    timer = StepTimer(parts.device)
    stopped = False
    for x, y in batches:
        lr = schedule.lr(state.step)
        set_lr(parts.optimizer, lr)
        momentum = schedule.momentum(state.step)
        if momentum is not None:
            set_momentum(parts.optimizer, momentum)
        loss, correct = train_step(parts, x, y, recipe, num_classes)
        state.step += 1
        state.batch += 1
        parts.steps_done += 1
        if parts.lookahead_ema is not None:
            parts.lookahead_ema.after_step(parts.raw, state.step)
        timer.images += y.shape[0]
        if parts.steps_done == parts.warmup_steps:
            timer.restart()      # the warm-up (compilation, cuDNN autotuning) is not training speed
        window.append((state.step, loss, correct, y.shape[0]))
        if progress is not None:
            progress.update(1)
        if len(window) >= log_every:
            row = _flush(window, sums, state, schedule, lr, timer)
            if on_log is not None:
                on_log(row)
            if progress is not None:
                progress.postfix(row)
        # A stop asked on an epoch's last step lets the epoch end normally (validation,
        # epoch checkpoint); the runner stops before the next one.
        if should_stop is not None and should_stop() and state.batch < schedule.steps_per_epoch:
            stopped = True
            break
    if window:
        row = _flush(window, sums, state, schedule, schedule.lr(max(0, state.step - 1)), timer)
        if on_log is not None:
            on_log(row)
    seen = max(1, sums["seen"])
    return {"train_loss": sums["loss"] / seen, "train_acc": sums["correct"] / seen,
            "images_per_s": timer.images_per_s(), "stopped": stopped}


def _flush(window: list, sums: dict, state: TrainState, schedule: Schedule, lr: float,
           timer: StepTimer) -> dict[str, Any]:
    """Sync the window's losses to the host (one sync per window, not per step), check them
    for NaN/inf, and build a step metric row."""
    losses = torch.stack([w[1] for w in window]).float().cpu()
    correct = int(torch.stack([w[2] for w in window]).sum().cpu())
    sizes = [w[3] for w in window]
    finite = torch.isfinite(losses)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise Diverged(window[bad][0], float(losses[bad]))
    n = sum(sizes)
    loss_sum = float((losses * torch.tensor(sizes, dtype=torch.float32)).sum())
    sums["loss"] += loss_sum
    sums["correct"] += correct
    sums["seen"] += n
    window.clear()
    return {"scope": "step", "step": state.step,
            "epoch": state.epoch + state.batch / max(1, schedule.steps_per_epoch),
            "train_loss": loss_sum / n, "train_acc": correct / n, "lr": lr,
            "images_per_s": timer.images_per_s()}


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, mean: Any, std: Any,
             size: int, batch_size: int = 256, amp_dtype: torch.dtype | None = None,
             channels_last: bool = False, input_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Loss, top-1 and top-5 accuracy on uint8 NHWC `images` (already on the model's device),
    prepared exactly as at test time (`pipeline.prepare_eval`: resize + normalize)."""
    from kagglebench.data.pipeline import prepare_eval

    was_training = model.training
    model.eval()
    device = images.device
    loss_sum, correct, top5, n = 0.0, 0, 0, labels.shape[0]
    for i in range(0, n, batch_size):
        # a model with fp16 weights (train.half_weights) gets fp16 inputs, normalized in fp16
        x = prepare_eval(images[i:i + batch_size], mean, std, size, device, dtype=input_dtype or torch.float32)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = labels[i:i + batch_size]
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        k = min(5, logits.shape[1])
        top5 += int((logits.topk(k, 1).indices == y[:, None]).any(1).sum())
    model.train(was_training)
    n = max(1, n)
    return {"val_loss": loss_sum / n, "val_acc": correct / n, "val_top5": top5 / n}


def improved(metric: float, best: float | None, higher_is_better: bool) -> bool:
    if best is None or math.isnan(best):
        return True
    return metric > best if higher_is_better else metric < best


class Progress:
    """A tqdm bar on a terminal; plain log lines every few steps otherwise (CI, the GUI's pipe)."""

    def __init__(self, total: int, initial: int, desc: str, log: Callable[[str], None],
                 every: int = 50) -> None:
        self.log, self.every, self.total, self.n = log, every, total, initial
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True,
                            file=sys.stderr)
        self.t0, self.n0, self.logged_at = time.perf_counter(), initial, initial

    def update(self, n: int) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)

    def postfix(self, row: dict[str, Any]) -> None:
        text = f"loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} {row['images_per_s']:.0f} img/s"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
        elif self.n - self.logged_at >= self.every or self.n == self.total:
            self.logged_at = self.n
            rate = (self.n - self.n0) / max(1e-9, time.perf_counter() - self.t0)
            eta = (self.total - self.n) / rate if rate > 0 else float("nan")
            self.log(f"step {self.n}/{self.total} epoch {row['epoch']:.2f} {text} eta {_fmt_eta(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def skip(batches: Iterator, n: int) -> Iterator:
    """Advance a batch iterator by `n` batches (mid-epoch resume replays the pipeline's draws)."""
    for _ in range(n):
        next(batches)
    return batches
