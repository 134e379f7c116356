"""Checkpoints: atomic writes, top-k retention, RNG capture, and loading for inference.

A checkpoint (`runs/<id>/checkpoints/<tag>.pt`) is a dict: config (the resolved recipe),
classes, epoch (completed), step (global optimizer step), batch (batches done in the
current epoch, for mid-epoch saves), metrics, model, optimizer, scheduler, scaler, ema,
swa, rng and trainer (early-stopping state). `last` is rewritten every save; tags
`epochNNN` are kept for the top-k epochs by the monitored validation metric.
Files are written through `kagglebench.atomic.replacing` (a temporary name, then a rename), so a
crash never leaves a torn checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kagglebench.atomic import replacing
from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.store import Store
    from kagglebench.workspace import Workspace

FORMAT_VERSION = 1


def _write_failed(path: Path, e: OSError) -> UserError:
    """A full disk or a read-only folder is the student's to fix; the old file is still there."""
    again = (f"; free some space, then continue with `kagglebench train --resume {path.parent.parent.name}`"
             if path.parent.name == "checkpoints" else "")
    return UserError(path, f"could not write the checkpoint ({e.strerror or e}); the previous one is "
                           f"kept{again}")


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename over it."""
    try:
        with replacing(path) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
    except OSError as e:
        raise _write_failed(path, e) from None


def _atomic_copy(src: Path, dst: Path) -> None:
    try:
        with replacing(dst) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as e:
        raise _write_failed(dst, e) from None


def rng_state() -> dict[str, Any]:
    """Every generator a training step may draw from."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_tag(epoch: int) -> str:
    return f"epoch{epoch:03d}"


class CheckpointKeeper:
    """Writes `last` on every save and keeps the best `keep_top_k` epoch checkpoints.

    `higher_is_better` follows the monitored metric (accuracy up, loss down). The store,
    when given, mirrors the files (add_checkpoint / remove_checkpoint) so the GUI and
    `kagglebench eval` can list them.
    """

    def __init__(self, ws_root: Path, run_dir: Path, run_id: str, *, keep_top_k: int,
                 higher_is_better: bool = True, store: Store | None = None) -> None:
        self.ws_root, self.dir, self.run_id = Path(ws_root), Path(run_dir) / "checkpoints", run_id
        self.keep, self.higher, self.store = max(0, keep_top_k), higher_is_better, store
        self.dir.mkdir(parents=True, exist_ok=True)
        # A process killed mid-write leaves its temp file (the checkpoint it was replacing is
        # intact): clear them so nothing half-written stays in the run folder.
        for stale in self.dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        # (metric, epoch) of kept epoch checkpoints; rebuilt from the store on resume.
        self.kept: list[tuple[float, int]] = []
        if store is not None:
            for row in store.list_checkpoints(run_id):
                if row["tag"] != "last" and row["metric"] is not None:
                    self.kept.append((row["metric"], row["epoch"]))

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.ws_root))
        except ValueError:
            return str(path)

    def _record(self, tag: str, path: Path, state: dict[str, Any], val_acc: float | None,
                metric: float | None) -> None:
        if self.store is not None:
            self.store.add_checkpoint(self.run_id, tag, epoch=state["epoch"], step=state["step"],
                                      path=self._rel(path), val_acc=val_acc, metric=metric)

    def save(self, state: dict[str, Any], *, val_acc: float | None = None,
             metric: float | None = None, epoch_end: bool = False) -> Path:
        """Write `last`; at the end of an epoch with a metric, maybe keep it among the top k."""
        last = self.dir / "last.pt"
        atomic_save(state, last)
        self._record("last", last, state, val_acc, metric)
        if epoch_end and metric is not None and self.keep > 0:
            self._maybe_keep(last, state, val_acc, metric)
        return last

    def _maybe_keep(self, last: Path, state: dict[str, Any], val_acc: float | None, metric: float) -> None:
        epoch = state["epoch"]
        sign = 1.0 if self.higher else -1.0
        self.kept = [k for k in self.kept if k[1] != epoch]
        candidates = sorted([*self.kept, (metric, epoch)], key=lambda k: (-sign * k[0], k[1]))
        keep, drop = candidates[: self.keep], candidates[self.keep:]
        if (metric, epoch) in keep:
            path = self.dir / f"{epoch_tag(epoch)}.pt"
            _atomic_copy(last, path)
            self._record(epoch_tag(epoch), path, state, val_acc, metric)
        for _, old in drop:
            # Forget the row before the file: a crash in between never leaves a row pointing
            # at a missing file (an unlisted file is harmless).
            if self.store is not None:
                self.store.remove_checkpoint(self.run_id, epoch_tag(old))
            (self.dir / f"{epoch_tag(old)}.pt").unlink(missing_ok=True)
        self.kept = keep


def resolve(ws: Workspace, run_id: str, which: str | int = "best") -> Path:
    """The checkpoint file of a run: "best" (top monitored metric), "last", or an epoch number."""
    from kagglebench.runs import Run

    return Run.open(ws, run_id).checkpoint(which)


def load(path: str | os.PathLike, device: str = "cpu") -> dict[str, Any]:
    """A checkpoint dict, or a UserError that names the file."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise UserError(path, "no such checkpoint file") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise UserError(path, f"not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise UserError(path, "not a kagglebench checkpoint (no model weights inside)")
    return ckpt


def averaged_weights(avg_state: dict[str, Any]) -> dict[str, Any]:
    """The model weights inside an AveragedModel state dict (drop `module.` and n_averaged)."""
    return {k[len("module."):]: v for k, v in avg_state.items() if k.startswith("module.")}


def inference_weights(ckpt: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The weights to predict with: SWA if the run finished SWA, else EMA, else the raw model."""
    if ckpt.get("swa") and ckpt.get("swa_final"):
        return averaged_weights(ckpt["swa"]), "swa"
    if ckpt.get("ema"):
        return averaged_weights(ckpt["ema"]), "ema"
    return ckpt["model"], "model"


def load_for_inference(path: str | os.PathLike, device: str = "cpu") -> tuple[torch.nn.Module, Any, dict]:
    """(eval-mode model, its Recipe, metadata) from a checkpoint file.

    The recipe's data.mean / data.std / data.input_size are the run's own test transform.
    Metadata: epoch, step, metrics, classes, weights ("swa" | "ema" | "model"), path.
    """
    from kagglebench.config import recipe_from_dict
    from kagglebench.models import build_model

    ckpt = load(path, "cpu")
    recipe = recipe_from_dict(ckpt["config"])
    # Weights come from the checkpoint: never fetch ImageNet weights or an init_from run.
    model_cfg = dataclasses.replace(recipe.model, pretrained=False, init_from="")
    model = build_model(model_cfg, len(ckpt["classes"]), recipe.data.input_size or None)
    weights, kind = inference_weights(ckpt)
    model.load_state_dict(weights)
    model.to(device).eval()
    meta = {"epoch": ckpt["epoch"], "step": ckpt["step"], "metrics": ckpt.get("metrics", {}),
            "classes": ckpt["classes"], "weights": kind, "path": str(path)}
    return model, recipe, meta
