"""Cached logits: every checkpoint is run once per split and TTA view, then read back from disk.

Files: `runs/<id>/logits/<checkpoint>/<split>-<view>.npz` holding float16 `logits` and the
`digest` (sha256) of what produced them: the input images, the checkpoint file (name,
size, modification time) and, for the OOD split, the corruption code. A file whose digest
no longer matches (new `last` checkpoint, changed data) is recomputed; anything else is
reused, so ensembles, TTA combinations and submissions never run a model twice on the same
data. TTA modes are weighted means of views (evaluate/tta.py), so `flip` reuses `none`'s view.

Splits: `val` (the run's own validation split), `labelled_test` (the profile's labelled test
set, where it has one), `test` (the submission test set, in submission order) and `ood`
(the corruption suite over a seeded subset of `val`, see evaluate/ood.py); `ood_test` is the
same suite over a subset of `labelled_test` (`eval --split test`).

Every input goes through the run's own test transform (mean, std and input size recorded
with the run, applied by `pipeline.prepare_eval`): there is no other way into the model.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.atomic import replacing
from kagglebench.devices import one_cpu_thread, pick_device
from kagglebench.errors import UserError
from kagglebench.evaluate import ood, tta
from kagglebench.runs import Run

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

SPLITS = ("val", "labelled_test", "test", "ood", "ood_test")
_VERSION = b"kagglebench-logits-1"


@dataclass
class Source:
    """One split's inputs: a re-iterable stream of uint8 NHWC chunks and what identifies them."""
    key: str                                  # file-name stem, e.g. "val" or "ood-n200-s0"
    n: int
    chunks: Callable[[], Iterator[np.ndarray]]
    digest: str
    labels: np.ndarray | None


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256(_VERSION)
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def _array_source(key: str, images: np.ndarray, labels: np.ndarray | None, extra: str = "") -> Source:
    images = np.ascontiguousarray(images)
    return Source(key, len(images), lambda: iter([images]), _digest(images.tobytes(), extra), labels)


def _val(run: Run) -> tuple[np.ndarray, np.ndarray]:
    images, labels = run.val_images()
    if len(labels) == 0:
        raise UserError(run.id, "the run has no validation split (data.val_fraction = 0)")
    return images, labels


def _labelled_test(run: Run) -> tuple[np.ndarray, np.ndarray]:
    ds = run.ws.labelled_test()
    if ds is None or ds.labels is None:
        raise UserError(run.id, "this competition's profile has no labelled test split")
    images, labels = np.asarray(ds.images), np.asarray(ds.labels, dtype=np.int64)
    remap = run.remap()
    if remap is not None:
        keep = remap[labels] >= 0
        images, labels = images[keep], remap[labels[keep]]
    return images, labels


def chunks_digest(chunks: Iterable[tuple[Sequence[str], np.ndarray]]) -> tuple[str, int]:
    """(digest, images) of a test set streamed as (ids, images) chunks: the ids and every 61st
    image, which catches a changed or reordered test set while hashing ~2% of the pixels."""
    h = hashlib.sha256(_VERSION)
    n = 0
    for ids, imgs in chunks:
        h.update("\n".join(ids).encode())
        h.update(np.ascontiguousarray(imgs[::61]).tobytes())
        n += len(ids)
    return h.hexdigest(), n


def _test_source(ws: Workspace) -> Source:
    digest, n = chunks_digest(ws.iter_test())
    return Source("test", n, lambda: (imgs for _, imgs in ws.iter_test()), digest, answer_labels(ws))


def answer_labels(ws: Workspace) -> np.ndarray | None:
    """Labels of the submission test set in submission order, where a local answer key exists (demo)."""
    try:
        key = ws.answer_key()
    except UserError:
        return None               # a missing answer key only costs the local score
    if not key or not Path(key).exists():
        return None
    import csv

    with open(key, newline="") as f:
        rows = {r[0]: int(r[1]) for i, r in enumerate(csv.reader(f)) if i > 0 and len(r) >= 2}
    ids = [str(i) for i in ws.submission_format().ids]
    if any(i not in rows for i in ids):
        return None
    return np.array([rows[i] for i in ids], dtype=np.int64)


def _grouped(blocks: Iterator[Any], at_least: int) -> Iterator[Any]:
    """Concatenate consecutive blocks into chunks of at least `at_least` images: a small OOD
    subset would otherwise mean 95 tiny forward passes."""
    buf: list[Any] = []
    for b in blocks:
        buf.append(b)
        if sum(len(x) for x in buf) >= at_least:
            yield _cat(buf)
            buf = []
    if buf:
        yield _cat(buf)


def _cat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import torch

    return torch.cat(parts)


def make_source(run: Run, split: str, *, device: str = "cpu",
                ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED) -> Source:
    """The inputs of one split for one run."""
    ws = run.ws
    if split == "val":
        return _array_source("val", *_val(run))
    if split == "labelled_test":
        return _array_source("labelled_test", *_labelled_test(run))
    if split == "test":
        return _test_source(ws)
    if split in ("ood", "ood_test"):
        images, labels = _val(run) if split == "ood" else _labelled_test(run)
        n = ood_samples or ood.default_samples(device, len(images))
        sub = ood.subset(len(images), n, ood_seed)
        images = np.ascontiguousarray(images[sub])
        blocks = len(ood.suite())
        key = "ood" if split == "ood" else "ood-test"
        return Source(f"{key}-n{len(sub)}-s{ood_seed}", len(sub) * blocks,
                      lambda: _grouped((b for _, _, b in ood.blocks(images, ood_seed, device)), 512),
                      # random draws may differ between devices: the device kind is an input too
                      _digest(images.tobytes(), ood.suite_fingerprint(), str(ood.suite()), str(ood_seed),
                              device.split(":")[0]),
                      np.tile(labels[sub], blocks))
    raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")


def _save_npz(path: Path, **arrays: Any) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


class CheckpointLogits:
    """Logits of one checkpoint: read from the cache, or computed once (the model loads lazily)."""

    def __init__(self, ws: Workspace, run_id: str, checkpoint: str | int = "best", device: str | None = None,
                 *, run: Run | None = None):
        self.run = run or Run.open(ws, run_id)
        self.ws, self.run_id, self.device = ws, run_id, pick_device(device)
        self.path = self.run.checkpoint(checkpoint)
        self.tag = self.path.stem
        self.dir = self.run.folder / "logits" / self.tag
        st = self.path.stat()
        self._ckpt_id = f"{self.path.name}:{st.st_size}:{st.st_mtime_ns}"
        self._loaded: tuple[Any, Any, dict] | None = None
        self._sources: dict[tuple, Source] = {}
        self.forward_passes = 0               # model calls made by this object (tests read it)

    # -- inputs -------------------------------------------------------------------------------
    def source(self, split: str, ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED) -> Source:
        key = (split, ood_samples, ood_seed)
        if key not in self._sources:
            self._sources[key] = make_source(self.run, split, device=self.device,
                                             ood_samples=ood_samples, ood_seed=ood_seed)
        return self._sources[key]

    def labels(self, split: str, **kw: Any) -> np.ndarray | None:
        return self.source(split, **kw).labels

    # -- the model ------------------------------------------------------------------------------
    def loaded(self) -> tuple[Any, Any, dict]:
        """(model, recipe, metadata) from train.checkpoints.load_for_inference, loaded on first use."""
        if self._loaded is None:
            from kagglebench.train.checkpoints import load_for_inference

            self._loaded = load_for_inference(self.path, device=self.device)
        return self._loaded

    def transform(self) -> tuple[Any, Any, int | None]:
        """The run's own test transform: (mean, std, input size) recorded with its recipe (the
        checkpoint's copy, which is the run's)."""
        _, recipe, _ = self.loaded()
        return recipe.data.mean, recipe.data.std, recipe.data.input_size

    def _forward(self, src: Source, views: list[str]) -> dict[str, np.ndarray]:
        from tqdm import tqdm

        mean, std, size = self.transform()
        bar = tqdm(total=src.n, unit="img", desc=f"{self.run_id} {src.key}", file=sys.stderr,
                   disable=None, leave=False)
        out, passes = forward_logits(self.loaded()[0], src.chunks(), src.n, (mean, std, size), self.device,
                                     views, progress=bar.update)
        bar.close()
        self.forward_passes += passes
        return out

    # -- cached logits ----------------------------------------------------------------------------
    def view_file(self, src: Source, view: str) -> Path:
        return self.dir / f"{src.key}-{view}.npz"

    def _read(self, path: Path, digest: str) -> np.ndarray | None:
        try:
            with np.load(path) as z:
                return z["logits"] if str(z["digest"]) == digest else None
        except (OSError, KeyError, ValueError):
            return None               # missing or unreadable: recompute

    def logits(self, split: str = "val", mode: str = "none", *, ood_samples: int | None = None,
               ood_seed: int = ood.DEFAULT_SEED) -> np.ndarray:
        """float16 (N, C) logits of `split` under TTA `mode`, from the cache when it is current."""
        plan = tta.views(mode)
        src = self.source(split, ood_samples, ood_seed)
        digests = {v: _digest(src.digest, self._ckpt_id, v) for v, _ in plan}
        have = {v: self._read(self.view_file(src, v), digests[v]) for v, _ in plan}
        missing = [v for v, arr in have.items() if arr is None]
        if missing:
            for v, arr in self._forward(src, missing).items():
                _save_npz(self.view_file(src, v), logits=arr, digest=np.array(digests[v]))
                have[v] = arr
        if mode == "none":
            return have["plain"]
        return tta.combine(have, mode).astype(np.float16)


def forward_logits(model: Any, chunks: Iterable[np.ndarray], n: int, transform: tuple, device: str,
                   views: Sequence[str] = ("plain",), *, batch_size: int | None = None,
                   progress: Callable[[int], Any] | None = None) -> tuple[dict[str, np.ndarray], int]:
    """({view: float16 (n, C) logits}, model calls) over `chunks` of uint8 NHWC images (n in
    all), through the run's test `transform` (mean, std, input size).

    The output is one preallocated float16 array per view, filled batch by batch: no float32
    logits and no list of pieces to concatenate, so over the DS-542 test set (950,000 x 100)
    prediction holds 190 MB of logits, not the 3x that accumulating and joining costs.
    """
    import torch

    mean, std, size = transform
    bs = batch_size or (512 if (size or 32) <= 64 else 64)
    outs: dict[str, np.ndarray] = {}
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else None
    pos, passes = 0, 0
    with torch.inference_mode():
        for chunk in chunks:
            for i in range(0, len(chunk), bs):
                x = _prepare(chunk[i:i + bs], mean, std, size, device)
                for v in views:
                    if amp:
                        with amp:
                            y = model(tta.apply(v, x))
                    else:
                        y = model(tta.apply(v, x))
                    passes += 1
                    if v not in outs:
                        outs[v] = np.empty((n, y.shape[1]), np.float16)
                    outs[v][pos:pos + len(y)] = y.float().cpu().numpy()
                pos += len(x)
                if progress is not None:
                    progress(len(x))
    if pos != n:
        raise RuntimeError(f"expected {n} images, the input gave {pos}")
    return {v: outs.get(v, np.zeros((0, 0), np.float16)) for v in views}, passes


def _prepare(images: Any, mean: Any, std: Any, size: int | None, device: str) -> Any:
    """pipeline.prepare_eval; on a CPU single-threaded (memory-bound ops on one batch, which
    on a shared machine ran many times slower split over OpenMP threads; see BENCHMARKS.md)."""
    from kagglebench.data.pipeline import prepare_eval

    with one_cpu_thread(device.startswith("cpu")):
        return prepare_eval(images, mean, std, size, device)


# -- the contract other modules call (docs/ARCHITECTURE.md) -------------------------------------------
def logits(ws: Workspace, run_id: str, checkpoint: str | int = "best", split: str = "val", tta: str = "none",
           *, device: str | None = None, ood_samples: int | None = None,
           ood_seed: int = ood.DEFAULT_SEED) -> np.ndarray:
    """float16 (N, C) logits of a checkpoint on a split; computed once, then read from the cache."""
    return CheckpointLogits(ws, run_id, checkpoint, device).logits(
        split, tta, ood_samples=ood_samples, ood_seed=ood_seed)


def labels(ws: Workspace, run_id: str, split: str, *, device: str | None = None, ood_samples: int | None = None,
           ood_seed: int = ood.DEFAULT_SEED) -> np.ndarray | None:
    """True labels in the order of `logits(...)` for the same split (None for an unlabelled test set)."""
    if split == "test":
        return answer_labels(ws)
    return make_source(Run.open(ws, run_id), split, device=pick_device(device), ood_samples=ood_samples,
                       ood_seed=ood_seed).labels


def ood_index(ws: Workspace, run_id: str, *, device: str | None = None, ood_samples: int | None = None
              ) -> list[tuple[str, int, int, int]]:
    """(corruption, severity, start, stop) row ranges of the OOD logits."""
    n_val = len(Run.open(ws, run_id).val_images()[1])
    return ood.index(min(ood_samples or ood.default_samples(pick_device(device), n_val), n_val))
