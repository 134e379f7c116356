"""One training run from start (or resume) to a final status in the store.

`train_run(ws, recipe)` creates the run (store row, `runs/<id>/config.json`,
`train.log`), builds data, model and optimizer (`build.py`), loops over epochs with
`loop.train_one_epoch` / `loop.evaluate`, writes step and epoch metrics, keeps
checkpoints, and ends with one status: finished, stopped (SIGTERM / Ctrl-C: checkpoint
first), diverged (NaN/inf loss) or failed. `train_run(ws, None, run_id=ID)` resumes from
the run's `last` checkpoint and continues exactly where it stopped.
Under torchrun only rank 0 writes the store, logs and checkpoints.
"""

from __future__ import annotations

import itertools
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from kagglebench.config import Recipe, higher_is_better
from kagglebench.errors import UserError
from kagglebench.runs import Run
from kagglebench.train import build, checkpoints, loop
from kagglebench.train import distributed as dist

if TYPE_CHECKING:
    from kagglebench.data.pipeline import BatchPipeline
    from kagglebench.store import Store
    from kagglebench.telemetry import Sampler
    from kagglebench.train.tracking import Trackers
    from kagglebench.workspace import Workspace


class RunLog:
    """Lines to stderr and to runs/<id>/train.log (main rank only)."""

    def __init__(self, path: Path | None, enabled: bool) -> None:
        self.enabled = enabled
        self.file = open(path, "a", encoding="utf-8") if (enabled and path) else None  # noqa: SIM115 - lives as long as the run

    def __call__(self, msg: str) -> None:
        if not self.enabled:
            return
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, file=sys.stderr, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()


class StopFlag:
    """SIGTERM / Ctrl-C ask the loop to stop after the current step (it then checkpoints);
    a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = "stopped by SIGTERM" if signum == signal.SIGTERM else "stopped by Ctrl-C"

    def install(self) -> None:
        if hasattr(signal, "SIGTERM") and _in_main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


def _in_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for pkg in ("kagglebench", "torch", "torchvision", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# ------------------------------------------------------------------ assembling a run

def _make_parts(ws: Workspace, recipe: Recipe, data: build.TrainData, device: torch.device,
                info: dist.DistInfo, fresh: bool, log: RunLog) -> loop.Parts:
    from kagglebench.models import build_model, init_from_data
    from kagglebench.train.optim import create_optimizer

    t = recipe.train
    raw = build_model(recipe.model, len(data.classes), data.size)
    if fresh and recipe.model.init_from:
        log(f"starting from the weights of {build.init_from(ws, recipe.model.init_from, raw)}")
    raw.to(device)
    half = build.half_weights_on(t.half_weights, device)
    if fresh and not recipe.model.init_from and hasattr(raw, "init_from_data"):
        # Data-dependent initialisation (the fast net's whitening stem) from training images, as
        # airbench does from its first 5,000 (normalized in fp16 with half weights, as its loader
        # holds them); a resumed run gets these weights from its checkpoint.
        from kagglebench.data.pipeline import prepare_eval
        init_from_data(raw, prepare_eval(data.train_x[:5000], data.mean, data.std, data.size, device,
                                         dtype=torch.float16 if half else torch.float32))
    if t.channels_last:
        raw.to(memory_format=torch.channels_last)
    if half:
        build.to_half_weights(raw)        # airbench94: fp16 weights, BatchNorm in float32; no autocast
    dtype = None if half else build.amp_dtype(t.amp, device)
    optimizer = create_optimizer(build.param_groups(raw, recipe), recipe.optim)
    # With half weights the loss is summed over this rank's batch (DDP then averages the ranks);
    # lr / scale and decay x scale in every group keep the mean loss's steps (airbench's lr and decay).
    scale = t.batch_size / info.world_size if half else 1.0
    for g in optimizer.param_groups if half else ():
        g["lr_scale"] = g.get("lr_scale", 1.0) / scale
        g["weight_decay"] = g["weight_decay"] * scale
    parts = loop.Parts(model=raw, raw=raw, optimizer=optimizer, device=device, amp_dtype=dtype,
                       scaler=torch.amp.GradScaler("cuda") if dtype == torch.float16 else None,
                       # torch.compile compiles, and cuDNN (benchmark mode) autotunes, on the first step
                       warmup_steps=1 if (t.compile or device.type == "cuda") else 0,
                       half_weights=half, loss_scale=scale)
    if t.ema_decay > 0:
        parts.ema = AveragedModel(raw, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True)
    if t.swa:
        parts.swa = AveragedModel(raw)
    parts.model = _wrapped(raw, t, info)
    return parts


def _wrapped(raw: torch.nn.Module, t: Any, info: dist.DistInfo) -> torch.nn.Module:
    """The module a step calls: DDP around `raw` with several ranks, compiled when asked."""
    model = dist.wrap(raw, info) if info.world_size > 1 else raw
    return torch.compile(model) if t.compile else model


def _trainable(model: torch.nn.Module) -> list[bool]:
    return [p.requires_grad for p in model.parameters()]


def _make_pipeline(recipe: Recipe, data: build.TrainData, info: dist.DistInfo, half: bool = False) -> BatchPipeline:
    from kagglebench.data.pipeline import BatchPipeline
    from kagglebench.train.augment import create_augment
    from kagglebench.train.augmix import with_augmix

    d, t = recipe.data, recipe.train
    pipe = BatchPipeline(data.train_x, data.train_y, t.batch_size, shuffle=True, drop_last=t.drop_last,
                         seed=t.seed, crop_padding=d.crop_padding, hflip=d.hflip, vflip=d.vflip,
                         mean=data.mean, std=data.std, size=data.size, augment=with_augmix(create_augment(d), recipe),
                         channels_last=t.channels_last, rank=info.rank, world_size=info.world_size,
                         alternating_flip=d.alternating_flip, pad_mode=d.pad_mode,
                         dtype=torch.float16 if half else torch.float32)   # half weights: fp16 batches
    if len(pipe) == 0:
        raise UserError(f"batch_size={t.batch_size}", f"larger than the training split "
                        f"({data.split['n_train']} images) with train.drop_last: lower batch_size")
    return pipe


def _state_dict(parts: loop.Parts, state: loop.TrainState, recipe: Recipe, classes: list[str],
                metrics: dict[str, Any], swa_final: bool = False) -> dict[str, Any]:
    from kagglebench.config import recipe_to_dict
    return {"format": checkpoints.FORMAT_VERSION, "config": recipe_to_dict(recipe), "classes": classes,
            "epoch": state.epoch, "step": state.step, "batch": state.batch, "metrics": metrics,
            "model": parts.raw.state_dict(), "optimizer": parts.optimizer.state_dict(),
            "scheduler": {"step": state.step},  # the lr is a pure function of the step
            "scaler": parts.scaler.state_dict() if parts.scaler else None,
            "ema": parts.ema.state_dict() if parts.ema is not None else None,
            "swa": parts.swa.state_dict() if parts.swa is not None else None, "swa_final": swa_final,
            "lookahead_ema": parts.lookahead_ema.state_dict() if parts.lookahead_ema is not None else None,
            "rng": checkpoints.rng_state(), "trainer": state.to_dict()}


def _load_state(parts: loop.Parts, ckpt: dict[str, Any]) -> loop.TrainState:
    parts.raw.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    if parts.scaler is not None and ckpt.get("scaler"):
        parts.scaler.load_state_dict(ckpt["scaler"])
    if parts.ema is not None and ckpt.get("ema"):
        parts.ema.load_state_dict(ckpt["ema"])
    if parts.swa is not None and ckpt.get("swa"):
        parts.swa.load_state_dict(ckpt["swa"])
    if parts.lookahead_ema is not None and ckpt.get("lookahead_ema"):
        parts.lookahead_ema.load_state_dict(ckpt["lookahead_ema"])
    return loop.TrainState(**ckpt["trainer"])


# ------------------------------------------------------------------ the run

# After each epoch's validation: (epoch, that epoch's metrics row) -> None to go on, or why to stop (pruned).
EpochHook = Callable[[int, dict[str, Any]], "str | None"]


@dataclass
class Training:
    """A run in progress: what the epoch loop reads and updates (main rank: store, keeper, trackers)."""
    ws: Workspace
    store: Store | None
    recipe: Recipe
    data: build.TrainData
    run_id: str
    parts: loop.Parts
    pipe: BatchPipeline
    schedule: loop.Schedule
    state: loop.TrainState
    keeper: checkpoints.CheckpointKeeper | None
    log: RunLog
    info: dist.DistInfo
    rng: dict[str, Any] | None               # the checkpoint's generators, restored at the resume point
    stop_after: int | None
    stop: StopFlag
    trackers: Trackers | None = None
    sampler: Sampler | None = None
    on_epoch: EpochHook | None = None       # `kagglebench tune`: report the epoch, maybe prune

    @property
    def higher(self) -> bool:
        return higher_is_better(self.recipe.train.early_stopping_metric)


def train_run(ws: Workspace, recipe: Recipe | None = None, *, name: str | None = None, run_id: str | None = None,
              sweep_id: str | None = None, stop_after_steps: int | None = None, study: str | None = None,
              trial: int | None = None, on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train `recipe` as a new run, or resume `run_id`; returns {"id", "status", "best_val_acc",
    "epochs", "message"}. `stop_after_steps` stops (as SIGTERM would) once that many steps are done.
    `study`/`trial` tag the run for `kagglebench tune`; `on_epoch` is called after each epoch's
    validation and ends the run as `pruned` when it returns a reason."""
    main = dist.env_info().is_main
    store = ws.store() if main else None
    ckpt = None
    try:
        if store is not None:
            store.reap_dead_runs()            # write down the runs whose process died (reads only show it)
        if run_id is not None:
            recipe, ckpt = _prepare_resume(ws, store, run_id)
        else:
            if recipe.data.alternating_flip and not recipe.data.hflip:
                raise UserError("data.alternating_flip", "chooses how horizontal flips are drawn, so it "
                                "needs data.hflip = true (or set data.alternating_flip = false)")
            if recipe.model.requires_init_from and not recipe.model.init_from:
                raise UserError("model.init_from", f"recipe {recipe.name} fine-tunes a trained network: set "
                                "model.init_from=RUN_ID (or a .pt file) to start from its weights, or "
                                "model.requires_init_from=false to train from scratch on purpose")
        info = dist.setup(recipe.train.device)
        device = torch.device(info.device) if info.distributed else build.device_of(recipe)
        build.seed_everything(recipe.train.seed + info.rank, recipe.train.deterministic)
        data = build.load_data(ws, recipe, device)
        recipe = build.resolved_recipe(recipe, data)
        if run_id is None:
            run_id = _create_run(ws, store, recipe, data, name, sweep_id, info, study, trial)
        log = RunLog(Path(ws.runs_dir) / run_id / "train.log", main)
        try:
            run = _assemble(ws, store, recipe, data, device, run_id, ckpt, info, log, stop_after_steps)
            run.on_epoch = on_epoch
            return _train(run)
        finally:
            log.close()
            dist.cleanup()
    finally:
        if store is not None:
            store.close()


def _prepare_resume(ws: Workspace, store: Store | None, run_id: str) -> tuple[Recipe, dict[str, Any]]:
    from kagglebench.config import recipe_from_dict

    if store is not None:
        run = store.require_run(run_id)
        if run["status"] == "running":
            raise UserError(run_id, f"is still running (pid {run['pid']} on {run['host']}); stop it first")
        if run["status"] == "finished":
            raise UserError(run_id, "already finished all its epochs; train a new run "
                            f"with model.init_from={run_id} to continue from its weights")
    path = checkpoints.resolve(ws, run_id, "last")
    ckpt = checkpoints.load(path)
    return recipe_from_dict(ckpt["config"]), ckpt


def _create_run(ws: Workspace, store: Store | None, recipe: Recipe, data: build.TrainData, name: str | None,
                sweep_id: str | None, info: dist.DistInfo, study: str | None = None,
                trial: int | None = None) -> str:
    """Record the new run (store row and the Run file, once) on the main rank; every rank gets its id."""
    from kagglebench.config import recipe_to_dict

    run_id = None
    if info.is_main:
        run_id = store.new_run_id(recipe.name)
        run_dir = Path(ws.runs_dir) / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        Run.write(run_dir, run_id, recipe, data.classes, data.split, data=data.source, world_size=info.world_size)
        store.create_run(run_id, name=name or recipe.name, recipe=recipe.name, config=recipe_to_dict(recipe),
                         run_dir=os.path.relpath(run_dir, ws.root), total_epochs=recipe.train.epochs,
                         sweep_id=sweep_id, study=study, trial=trial, git_commit=_git_commit(),
                         versions=_versions(), pid=os.getpid())
    return dist.broadcast_object(run_id, info)


def _assemble(ws: Workspace, store: Store | None, recipe: Recipe, data: build.TrainData, device: torch.device,
              run_id: str, ckpt: dict[str, Any] | None, info: dist.DistInfo, log: RunLog,
              stop_after_steps: int | None) -> Training:
    """Model, optimizer, pipeline, schedule and state of a new or resumed run."""
    t = recipe.train
    run_dir = Path(ws.runs_dir) / run_id
    parts = _make_parts(ws, recipe, data, device, info, ckpt is None, log)
    pipe = _make_pipeline(recipe, data, info, parts.half_weights)
    steps_per_epoch = len(pipe)
    schedule = loop.Schedule(recipe, steps_per_epoch, loop.total_steps(steps_per_epoch, t))
    if recipe.optim.lookahead_ema:
        from kagglebench.train.optim import LookaheadEMA
        parts.lookahead_ema = LookaheadEMA(parts.raw, total_steps=schedule.total_steps,
                                           every=recipe.optim.lookahead_ema_every,
                                           decay=recipe.optim.lookahead_ema_decay)
    state = _load_state(parts, ckpt) if ckpt else loop.TrainState()
    keeper = checkpoints.CheckpointKeeper(ws.root, run_dir, run_id, keep_top_k=t.keep_top_k,
                                          higher_is_better=higher_is_better(t.early_stopping_metric),
                                          store=store) if store else None
    if store is not None:
        if ckpt:
            store.drop_metrics_after(run_id, state.step)
            store.update_run(run_id, status="running", pid=os.getpid(), host=socket.gethostname(),
                             finished=None, message=None, started=time.time())
            log(f"resuming {run_id} at epoch {state.epoch} step {state.step}")
        else:
            log(f"run {run_id}: {recipe.name}, {data.split['n_train']} train / {data.split['n_val']} val "
                f"images, {len(data.classes)} classes, {t.epochs} epochs on {device}")
    return Training(ws=ws, store=store, recipe=recipe, data=data, run_id=run_id, parts=parts, pipe=pipe,
                    schedule=schedule, state=state, keeper=keeper, log=log, info=info,
                    rng=ckpt["rng"] if ckpt else None, stop_after=stop_after_steps, stop=StopFlag())


def _train(run: Training) -> dict[str, Any]:
    """The epochs, and one final status in the store whatever happens."""
    store, state, log, run_id = run.store, run.state, run.log, run.run_id
    run.stop.install()
    status, message = "failed", None
    try:
        _start_side_channels(run)
        status, message = _epochs(run)
    except loop.Diverged as e:
        status, message = "diverged", str(e)
        log(f"diverged: {message}")
    except UserError as e:
        message = f"{e.where}: {e.what}"[:300]
        raise
    except BaseException as e:
        if isinstance(e, Exception) and _is_oom(e):
            err = _out_of_memory(run)
            message = f"{err.where}: {err.what}"[:300]
            raise err from None
        message = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
        raise
    finally:
        run.stop.restore()
        _stop_side_channels(run)
        if store is not None:
            store.update_run(run_id, epoch=state.epoch, step=state.step, best_val_acc=state.best_val_acc)
            store.finish_run(run_id, status, message)
        log(f"{run_id} {status}" + (f": {message}" if message else "")
            + (f"; best val acc {state.best_val_acc:.4f}" if state.best_val_acc is not None else ""))
    return {"id": run_id, "status": status, "best_val_acc": state.best_val_acc, "epochs": state.epoch,
            "message": message}


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def _out_of_memory(run: Training) -> UserError:
    """Out of GPU memory mid-run: free what we can, ask the batch-size finder what fits, say so."""
    import dataclasses

    from kagglebench.models import build_model
    from kagglebench.train import finders

    t, d, parts = run.recipe.train, run.data, run.parts
    parts.optimizer.zero_grad(set_to_none=True)
    if parts.device.type == "cuda":
        torch.cuda.empty_cache()
    cfg = dataclasses.replace(run.recipe.model, pretrained=False, init_from="")  # no downloads here
    try:
        res = finders.find_batch_size(lambda: build_model(cfg, len(d.classes), d.size), input_size=d.size,
                                      num_classes=len(d.classes), device=parts.device,
                                      max_batch=max(1, t.batch_size - 1), amp_dtype=parts.amp_dtype,
                                      channels_last=t.channels_last)
        fit = res.batch_size
    except Exception:  # noqa: BLE001 - the hint is best effort; the error below is what matters
        fit = None
    head = f"ran out of {parts.device.type.upper()} memory at step {run.state.step + 1}"  # the one that failed
    hint = (f"the batch-size finder says batch_size={fit} fits: train again with batch_size={fit}" if fit
            else "not even one image fits: choose a smaller model or input_size" if fit == 0
            else "lower batch_size, or run `kagglebench find batch-size RECIPE` to find what fits")
    return UserError(f"train.batch_size={t.batch_size}", f"{head}; {hint}")


def _start_side_channels(run: Training) -> None:
    if run.store is None:
        return
    from kagglebench.telemetry import Sampler, visible_gpu_indices
    from kagglebench.train.tracking import Trackers

    # Only rank 0 samples, so in a multi-process run it records every local GPU.
    device = run.parts.device
    gpus = visible_gpu_indices("cuda" if run.info.world_size > 1 else str(device)) if device.type == "cuda" else []
    run.sampler = Sampler(run.ws.db_path, run.run_id, gpu_indices=gpus).start()
    run.trackers = Trackers(run.recipe, Path(run.ws.runs_dir) / run.run_id, run.run_id)


def _stop_side_channels(run: Training) -> None:
    if run.sampler is not None:
        run.sampler.stop()
    if run.trackers is not None:
        run.trackers.close()


def _record(run: Training, row: dict[str, Any]) -> None:
    """A metric row to the store and the trackers (main rank only)."""
    if run.store is None:
        return
    run.store.add_metrics(run.run_id, [row])
    if run.trackers is not None:
        run.trackers.log({f"{row['scope']}/{k}": v for k, v in row.items() if k not in ("scope", "step")},
                         row["step"])


def _mean_over_ranks(run: Training, row: dict[str, Any]) -> dict[str, Any]:
    """Under DDP each rank saw its own shard: average the train figures, add up images/s."""
    if not run.info.distributed:
        return row
    loss, acc = dist.all_reduce_mean([row["train_loss"], row["train_acc"]], run.info)
    return {**row, "train_loss": loss, "train_acc": acc,
            "images_per_s": dist.all_reduce_sum(row["images_per_s"], run.info)}


def _checkpoint(run: Training, metrics: dict[str, Any], *, epoch_end: bool,
                swa_final: bool = False) -> None:
    if run.keeper is None:
        return
    st = _state_dict(run.parts, run.state, run.recipe, run.data.classes, metrics, swa_final)
    metric = metrics.get(run.recipe.train.early_stopping_metric) if epoch_end else None
    run.keeper.save(st, val_acc=metrics.get("val_acc"), metric=metric, epoch_end=epoch_end)


def _should_stop(run: Training) -> bool:
    """After each step: a signal or the step limit stops the run; checkpoint_every_steps saves."""
    st, every = run.state, run.recipe.train.checkpoint_every_steps
    if run.stop_after is not None and st.step >= run.stop_after and run.stop.reason is None:
        run.stop.reason = f"stopped after step {st.step} as asked"
    # Every rank must stop at the same step, or the others would wait forever in all-reduce.
    if dist.any_rank(run.stop.reason is not None, run.info):
        run.stop.reason = run.stop.reason or "stopped on another rank's signal"
        return True
    if every and st.step % every == 0 and st.batch < run.schedule.steps_per_epoch:
        _checkpoint(run, {}, epoch_end=False)
    return False


def _validate(run: Training, model: torch.nn.Module) -> dict[str, float]:
    d, t = run.data, run.recipe.train
    if d.val_x is None or len(d.val_y) == 0:
        return {}
    return loop.evaluate(model, d.val_x, d.val_y, mean=d.mean, std=d.std, size=d.size,
                         batch_size=min(1024, 2 * t.batch_size), amp_dtype=run.parts.amp_dtype,
                         channels_last=t.channels_last,
                         input_dtype=torch.float16 if run.parts.half_weights else None)


def _end_epoch(run: Training, train_out: dict[str, Any]) -> bool:
    """Validate, record, checkpoint; returns True when early stopping says to stop."""
    st, t, parts = run.state, run.recipe.train, run.parts
    st.epoch += 1
    st.batch = 0
    if parts.swa is not None and st.epoch > loop.swa_start_epoch(run.recipe):
        parts.swa.update_parameters(parts.raw)
    val = _validate(run, parts.eval_model())
    row = {"scope": "epoch", "step": st.step, "epoch": st.epoch, "lr": run.schedule.lr(max(0, st.step - 1)),
           "train_loss": train_out["train_loss"], "train_acc": train_out["train_acc"],
           "images_per_s": train_out["images_per_s"], **val}
    st.history.append({k: v for k, v in row.items() if k != "scope"})
    monitored = val.get(t.early_stopping_metric)
    if monitored is not None:
        if loop.improved(monitored, st.best_metric, run.higher):
            st.best_metric, st.bad_epochs = monitored, 0
        else:
            st.bad_epochs += 1
    if val.get("val_acc") is not None and (st.best_val_acc is None or val["val_acc"] > st.best_val_acc):
        st.best_val_acc = val["val_acc"]
    _record(run, row)
    if run.store is not None:
        run.store.update_run(run.run_id, epoch=st.epoch, step=st.step, best_val_acc=st.best_val_acc,
                             images_per_s=train_out["images_per_s"])
    _checkpoint(run, val, epoch_end=True)
    val_text = " ".join(f"{k} {v:.4f}" for k, v in val.items())
    run.log(f"epoch {st.epoch}/{t.epochs} train_loss {train_out['train_loss']:.4f} "
            f"train_acc {train_out['train_acc']:.4f} {val_text} {train_out['images_per_s']:.0f} img/s")
    patience = t.early_stopping_patience
    return bool(patience and monitored is not None and st.bad_epochs >= patience)


def _epoch_hook(run: Training) -> str | None:
    """The caller's `on_epoch` (a tune trial's pruner), on the main rank; every rank learns its answer."""
    if run.on_epoch is None:
        return None
    reason = run.on_epoch(run.state.epoch, run.state.history[-1]) if run.info.is_main else None
    if run.state.epoch >= run.recipe.train.epochs:
        reason = None  # the last epoch is done: nothing left to save by stopping
    if dist.any_rank(reason is not None, run.info):
        return reason or "pruned (decided on the main rank)"
    return None


def _finish_swa(run: Training) -> None:
    """Recompute BatchNorm statistics for the averaged weights, then validate and save them."""
    parts, st = run.parts, run.state
    if parts.swa is None or st.epoch <= loop.swa_start_epoch(run.recipe):
        return
    run.pipe.set_epoch(st.epoch)
    update_bn(iter(run.pipe), parts.swa, device=parts.device)
    val = _validate(run, parts.swa.module)
    if val.get("val_acc") is not None and (st.best_val_acc is None or val["val_acc"] > st.best_val_acc):
        st.best_val_acc = val["val_acc"]
    run.log("SWA weights: " + " ".join(f"{k} {v:.4f}" for k, v in val.items()))
    _checkpoint(run, {**val, "swa": True}, epoch_end=True, swa_final=True)


def _epochs(run: Training) -> tuple[str, str | None]:
    st, t, parts = run.state, run.recipe.train, run.parts
    total = run.schedule.total_steps
    progress = loop.Progress(total, st.step, run.run_id, run.log) if run.info.is_main else None
    try:
        while st.epoch < t.epochs:
            if run.stop.reason is None and run.stop_after is not None and st.step >= run.stop_after:
                run.stop.reason = f"stopped after step {st.step} as asked"
            if run.stop.reason is not None:
                break
            before = _trainable(parts.raw)
            build.set_backbone_trainable(parts.raw, run.recipe, st.epoch >= run.recipe.model.freeze_backbone_epochs)
            if hasattr(parts.raw, "start_epoch"):
                parts.raw.start_epoch(st.epoch)   # per-epoch model switches (the fast net's whitening bias)
            if run.info.world_size > 1 and _trainable(parts.raw) != before:
                # DDP registers the parameters that need a gradient when it is built, and waits for
                # each of them every step: a parameter turned off (or on) needs a new wrapper.
                parts.model = _wrapped(parts.raw, t, run.info)
            run.pipe.set_epoch(st.epoch)
            if run.rng is not None and st.batch == 0:
                checkpoints.set_rng_state(run.rng)
            batches = iter(run.pipe)
            if run.rng is not None and st.batch > 0:
                # Replay the pipeline's draws for the batches already trained, then restore the
                # generators as they were when the checkpoint was taken.
                loop.skip(batches, st.batch)
                checkpoints.set_rng_state(run.rng)
            run.rng = None
            batches = itertools.islice(batches, max(0, total - st.step))   # a cut last epoch (last_epoch_fraction)
            out = loop.train_one_epoch(parts, st, run.recipe, batches, schedule=run.schedule,
                                       num_classes=len(run.data.classes),
                                       log_every=max(1, min(50, run.schedule.steps_per_epoch // 10)),
                                       on_log=lambda row: _record(run, _mean_over_ranks(run, row)),
                                       should_stop=lambda: _should_stop(run), progress=progress)
            if out["stopped"]:
                break
            early = _end_epoch(run, out)
            pruned = _epoch_hook(run)
            if pruned:
                return "pruned", pruned
            if early:
                run.log(f"early stopping: {t.early_stopping_metric} has not improved for "
                        f"{t.early_stopping_patience} epochs")
                break
    finally:
        if progress is not None:
            progress.close()
    if run.stop.reason is not None:
        _checkpoint(run, {}, epoch_end=False)
        return "stopped", (f"{run.stop.reason} at epoch {st.epoch} step {st.step}; "
                           f"continue with `kagglebench train --resume {run.run_id}`")
    _finish_swa(run)
    return "finished", None
