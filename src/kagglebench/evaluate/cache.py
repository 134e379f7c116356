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
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.errors import UserError
from kagglebench.evaluate import ood, tta

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


def pick_device(device: str | None = None) -> str:
    """`device`, checked, or cuda when PyTorch sees a GPU, else cpu."""
    import torch

    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"--device {device}", "choose cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}", "PyTorch sees no CUDA GPU on this machine; use --device cpu")
    return device


def run_folder(ws: Any, run_id: str) -> Path:
    with ws.store() as st:
        run = st.require_run(run_id)
    return Path(ws.root) / run["run_dir"]


def run_config(ws: Any, run_id: str) -> dict:
    """The run's resolved config (config.json in its folder, else the store's copy)."""
    path = run_folder(ws, run_id) / "config.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(path, f"cannot read the run's config ({e})") from None
    with ws.store() as st:
        return st.require_run(run_id)["config"]


def _data_section(cfg: dict) -> dict:
    for d in (cfg, cfg.get("recipe") or {}):
        if isinstance(d.get("data"), dict):
            return d["data"]
    return {}


def run_classes(ws: Any, run_id: str) -> list[str]:
    """The class names the run was trained on, in its label order."""
    cfg = run_config(ws, run_id)
    return list(cfg.get("classes") or _data_section(cfg).get("classes") or ws.train_data().classes)


def _class_remap(ws: Any, cfg: dict) -> np.ndarray | None:
    """Old label -> new label (-1: dropped) when the run kept only some classes (data.classes)."""
    wanted = list(_data_section(cfg).get("classes") or [])
    if not wanted:
        return None
    names = list(ws.train_data().classes)
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[[names.index(c) for c in wanted]] = np.arange(len(wanted))
    return remap


def val_positions(ws: Any, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the training data, labels) of the run's validation split, rebuilt exactly as
    the trainer built it: the same seeded split, the same class selection and relabelling."""
    cfg = run_config(ws, run_id)
    data = _data_section(cfg)
    split = cfg.get("split") if isinstance(cfg.get("split"), dict) else {}
    frac = split.get("val_fraction", data.get("val_fraction"))
    seed = split.get("seed", data.get("split_seed"))
    if frac is None or seed is None:
        raise UserError(run_id, "the run's config.json does not record its validation split")
    _, val = ws.split(float(frac), int(seed))
    val = np.asarray(val, dtype=np.int64)
    labels = np.asarray(ws.train_data().labels, dtype=np.int64)
    remap = _class_remap(ws, cfg)
    if remap is not None:
        labels = remap[labels]
        val = val[labels[val] >= 0]
    recorded = split.get("val_indices_sha256")
    if recorded and hashlib.sha256(val.tobytes()).hexdigest() != recorded:
        raise UserError(run_id, "the workspace's training data changed since this run was trained: "
                                "its validation split can no longer be rebuilt")
    return val, labels[val]


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256(_VERSION)
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def _array_source(key: str, images: np.ndarray, labels: np.ndarray | None, extra: str = "") -> Source:
    images = np.ascontiguousarray(images)
    return Source(key, len(images), lambda: iter([images]), _digest(images.tobytes(), extra), labels)


def _val_on_test(ws: Any, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A data.val_split = "test" run's validation images and labels: the labelled test split
    (relabelled to the run's classes), checked against the recorded digest; None otherwise."""
    cfg = run_config(ws, run_id)
    split = cfg.get("split") if isinstance(cfg.get("split"), dict) else {}
    if split.get("val_split") != "test":
        return None
    from kagglebench.train.build import labelled_test_as_val

    images, labels, kept = labelled_test_as_val(ws, list(ws.train_data().classes),
                                                list(_data_section(cfg).get("classes") or []))
    recorded = split.get("val_indices_sha256")
    if recorded and hashlib.sha256(kept.tobytes()).hexdigest() != recorded:
        raise UserError(run_id, "the workspace's labelled test split changed since this run was trained")
    return images, labels


def _val(ws: Any, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    on_test = _val_on_test(ws, run_id)
    if on_test is not None:
        return on_test
    pos, labels = val_positions(ws, run_id)
    if len(pos) == 0:
        raise UserError(run_id, "the run has no validation split (data.val_fraction = 0)")
    return np.asarray(ws.train_data().images[pos]), labels


def _labelled_test(ws: Any, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    ds = ws.labelled_test()
    if ds is None or ds.labels is None:
        raise UserError(run_id, "this competition's profile has no labelled test split")
    images, labels = np.asarray(ds.images), np.asarray(ds.labels, dtype=np.int64)
    remap = _class_remap(ws, run_config(ws, run_id))
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


def _test_source(ws: Any) -> Source:
    digest, n = chunks_digest(ws.iter_test())
    return Source("test", n, lambda: (imgs for _, imgs in ws.iter_test()), digest, answer_labels(ws))


def answer_labels(ws: Any) -> np.ndarray | None:
    """Labels of the submission test set in submission order, where a local answer key exists (demo)."""
    try:
        key = ws.answer_key() if hasattr(ws, "answer_key") else None
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


def make_source(ws: Any, run_id: str, split: str, *, device: str = "cpu",
                ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED) -> Source:
    """The inputs of one split for one run."""
    if split == "val":
        return _array_source("val", *_val(ws, run_id))
    if split == "labelled_test":
        return _array_source("labelled_test", *_labelled_test(ws, run_id))
    if split == "test":
        return _test_source(ws)
    if split in ("ood", "ood_test"):
        images, labels = _val(ws, run_id) if split == "ood" else _labelled_test(ws, run_id)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the result is an ordinary shareable file
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CheckpointLogits:
    """Logits of one checkpoint: read from the cache, or computed once (the model loads lazily)."""

    def __init__(self, ws: Any, run_id: str, checkpoint: str | int = "best", device: str | None = None):
        from kagglebench.train.checkpoints import resolve

        self.ws, self.run_id, self.device = ws, run_id, pick_device(device)
        self.path = Path(resolve(ws, run_id, checkpoint))
        self.tag = self.path.stem
        self.dir = run_folder(ws, run_id) / "logits" / self.tag
        st = self.path.stat()
        self._ckpt_id = f"{self.path.name}:{st.st_size}:{st.st_mtime_ns}"
        self._loaded: tuple[Any, Any, dict] | None = None
        self._sources: dict[tuple, Source] = {}
        self.forward_passes = 0               # model calls made by this object (tests read it)

    # -- inputs -------------------------------------------------------------------------------
    def source(self, split: str, ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED) -> Source:
        key = (split, ood_samples, ood_seed)
        if key not in self._sources:
            self._sources[key] = make_source(self.ws, self.run_id, split, device=self.device,
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
        """The run's own test transform: (mean, std, input size) recorded with its recipe."""
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
    import torch

    from kagglebench.data.pipeline import CPU_PIPELINE_THREADS, prepare_eval

    if not device.startswith("cpu"):
        return prepare_eval(images, mean, std, size, device)
    before = torch.get_num_threads()
    torch.set_num_threads(CPU_PIPELINE_THREADS)
    try:
        return prepare_eval(images, mean, std, size, device)
    finally:
        torch.set_num_threads(before)


# -- the contract other modules call (docs/ARCHITECTURE.md) -------------------------------------------
def logits(ws: Any, run_id: str, checkpoint: str | int = "best", split: str = "val", tta: str = "none",
           *, device: str | None = None, ood_samples: int | None = None,
           ood_seed: int = ood.DEFAULT_SEED) -> np.ndarray:
    """float16 (N, C) logits of a checkpoint on a split; computed once, then read from the cache."""
    return CheckpointLogits(ws, run_id, checkpoint, device).logits(
        split, tta, ood_samples=ood_samples, ood_seed=ood_seed)


def labels(ws: Any, run_id: str, split: str, *, device: str | None = None, ood_samples: int | None = None,
           ood_seed: int = ood.DEFAULT_SEED) -> np.ndarray | None:
    """True labels in the order of `logits(...)` for the same split (None for an unlabelled test set)."""
    if split == "test":
        return answer_labels(ws)
    return make_source(ws, run_id, split, device=pick_device(device), ood_samples=ood_samples,
                       ood_seed=ood_seed).labels


def ood_index(ws: Any, run_id: str, *, device: str | None = None, ood_samples: int | None = None
              ) -> list[tuple[str, int, int, int]]:
    """(corruption, severity, start, stop) row ranges of the OOD logits."""
    on_test = _val_on_test(ws, run_id)
    n_val = len(on_test[1]) if on_test is not None else len(val_positions(ws, run_id)[0])
    return ood.index(min(ood_samples or ood.default_samples(pick_device(device), n_val), n_val))
