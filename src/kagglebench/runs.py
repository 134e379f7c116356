"""The Run record: what one training run is, written once by the trainer, opened once by everyone else.

A run has an id, a folder (`runs/<id>/`), its resolved recipe (with the normalization and
input size it trained with written in: its test transform), its class names in label
order, its validation split (fraction, seed, sizes and a digest of the indices) and its
checkpoints. The trainer writes `runs/<id>/config.json` once, when the run starts
(`Run.write`); evaluation, prediction, ensembles, submissions, the CLI and the GUI open
it with `Run.open(ws, run_id)`, which reads the store once and the file once.

`split_indices(ws, data)` is the one function that turns a recipe's `[data]` keys into
train and validation indices (the seeded split of `Workspace.split`, then the class
selection of `data.classes`): the trainer builds its split with it and evaluation rebuilds
the same one, checked against the digest recorded at training time.

Old run folders open too (migrated on read, nothing rewritten): a config.json that is the
bare recipe (no "recipe" key), or no config.json at all (the store's copy of the recipe).
Imports neither torch nor Qt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.config import Recipe, higher_is_better, recipe_from_dict, recipe_to_dict
from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.config import DataConfig
    from kagglebench.store import Store
    from kagglebench.workspace import Workspace

RUN_FILE = "config.json"


@dataclass
class SplitIndices:
    """A run's split of the workspace's training data, after class selection."""
    train: np.ndarray                 # indices into ws.train_data()
    val: np.ndarray
    labels: np.ndarray                # every training image's label in the run's numbering (-1: class dropped)
    classes: list[str]                # the run's class names, in label order

    def record(self, val_fraction: float, seed: int) -> dict[str, Any]:
        """The split as config.json records it."""
        return {"val_fraction": val_fraction, "seed": seed, "n_train": len(self.train), "n_val": len(self.val),
                "val_indices_sha256": indices_digest(self.val)}


def indices_digest(idx: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()


def class_remap(all_classes: list[str], wanted: list[str]) -> np.ndarray | None:
    """Workspace label -> run label (-1: dropped) when a run keeps only some classes, else None."""
    if not wanted:
        return None
    missing = [c for c in wanted if c not in all_classes]
    if missing:
        raise UserError("data.classes", f"no class named {', '.join(missing)} in this data; "
                        f"its classes are: {', '.join(all_classes)}")
    remap = np.full(len(all_classes), -1, dtype=np.int64)
    remap[[all_classes.index(c) for c in wanted]] = np.arange(len(wanted))
    return remap


def split_indices(ws: Workspace, data: DataConfig) -> SplitIndices:
    """The train and validation indices a recipe's `[data]` keys ask for: the workspace's seeded
    stratified split, then only the images of `data.classes` (relabelled 0..k-1 in that order)."""
    ds = ws.train_data()
    if ds.labels is None:
        raise UserError(ds.path, "the training data has no labels")
    if getattr(data, "val_split", "fraction") == "test":   # all of train; validation: labelled_test_as_val
        train, val = np.arange(len(ds.labels), dtype=np.int64), np.zeros(0, np.int64)
    else:
        train, val = ws.split(data.val_fraction, data.split_seed)
    labels = np.asarray(ds.labels, dtype=np.int64)
    remap = class_remap(list(ds.classes), list(data.classes))
    if remap is None:
        return SplitIndices(np.asarray(train), np.asarray(val), labels, list(ds.classes))
    labels = remap[labels]
    return SplitIndices(train[labels[train] >= 0], val[labels[val] >= 0], labels, list(data.classes))


def labelled_test_as_val(ws: Workspace, data: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """data.val_split = "test" (seeds 003/004 trained on all of train and validated on the test
    split): (images, labels in the run's numbering, kept positions in the labelled test split)."""
    test = ws.labelled_test()
    if test is None or test.labels is None:
        raise UserError("data.val_split=test", "this competition has no labelled test split to validate "
                        "on; use data.val_split=fraction (hold out data.val_fraction of train)")
    classes = list(ws.train_data().classes)
    if test.classes and list(test.classes) != classes:
        raise UserError("data.val_split=test", "the labelled test split's classes differ from train's")
    labels = np.asarray(test.labels, dtype=np.int64)
    remap = class_remap(classes, list(data.classes))
    if remap is not None:
        labels = remap[labels]
    kept = np.flatnonzero(labels >= 0).astype(np.int64)
    return np.ascontiguousarray(np.asarray(test.images)[kept]), labels[kept], kept


def test_split_record(record: dict[str, Any], kept: np.ndarray) -> dict[str, Any]:
    """A split record for data.val_split = "test": validation is the labelled test split's `kept`."""
    return {**record, "val_split": "test", "n_val": len(kept), "val_indices_sha256": indices_digest(kept)}


@dataclass
class Run:
    """One run: its store row, its resolved recipe and split, its checkpoints.

    Opening one is cheap (a store row and a small JSON file): `classes` reads the training data
    only when asked, and only for an old record that names none."""
    ws: Workspace
    id: str
    folder: Path
    recipe: Recipe
    recorded_classes: list[str] | None   # as the record names them (None: an old record without)
    split: dict[str, Any]             # val_fraction, seed, n_train, n_val, val_indices_sha256 (when recorded)
    row: dict[str, Any] = field(default_factory=dict)          # the store's runs row (status, epoch, ...)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)   # the store's checkpoint rows
    extra: dict[str, Any] = field(default_factory=dict)        # the rest of config.json (data source, world size)

    @cached_property
    def classes(self) -> list[str]:
        """The run's class names in label order: the record's, else the workspace's (loads its data)."""
        return list(self.recorded_classes or self.ws.train_data().classes)

    # -- writing (the trainer, once) ----------------------------------------------------------
    @staticmethod
    def write(folder: Path, run_id: str, recipe: Recipe, classes: list[str], split: dict[str, Any],
              **extra: Any) -> None:
        """Write `folder/config.json`: the record every later reader opens."""
        from kagglebench.atomic import write_text

        d = recipe.data
        write_text(Path(folder) / RUN_FILE, json.dumps({
            "run_id": run_id, "recipe": recipe_to_dict(recipe), "classes": list(classes), "split": split,
            "normalization": {"mean": d.mean, "std": d.std, "input_size": d.input_size}, **extra}, indent=2))

    # -- reading (everyone else) --------------------------------------------------------------
    @classmethod
    def open(cls, ws: Workspace, run_id: str, store: Store | None = None) -> Run:
        """The run `run_id` of `ws`: one read of the store, one of config.json (old shapes migrated).
        `store`: an open store to read from (the GUI's poller keeps one) instead of opening one."""
        if store is not None:
            row, ckpts = store.require_run(run_id), store.list_checkpoints(run_id)
        else:
            with ws.store() as st:
                row = st.require_run(run_id)
                ckpts = st.list_checkpoints(run_id)
        folder = Path(ws.root) / row["run_dir"]
        doc = _read_run_file(folder / RUN_FILE)
        if doc is None:                       # no config.json: the store's copy of the recipe
            doc = {"recipe": row["config"]}
        elif "recipe" not in doc:             # an early config.json: the bare recipe
            doc = {"recipe": doc}
        cfg = dict(doc.pop("recipe"))
        recipe = recipe_from_dict(cfg)
        classes = list(doc.pop("classes", None) or recipe.data.classes) or None
        split = doc.pop("split", None)
        if not isinstance(split, dict):
            split = {"val_fraction": recipe.data.val_fraction, "seed": recipe.data.split_seed}
        return cls(ws=ws, id=run_id, folder=folder, recipe=recipe, recorded_classes=classes, split=split, row=row,
                   checkpoints=ckpts, extra=doc)

    @property
    def config(self) -> dict[str, Any]:
        """The resolved recipe as a dict (`recipe_to_dict`): what the run trained with."""
        return recipe_to_dict(self.recipe)

    @property
    def normalization(self) -> dict[str, Any]:
        """What the trainer measured from the data (or the recipe set): mean, std, input size."""
        mean, std, size = self.transform
        return {"mean": mean, "std": std, "input_size": size}

    # -- what a reader needs ------------------------------------------------------------------
    @property
    def transform(self) -> tuple[list[float], list[float], int]:
        """The run's test transform: (mean, std, input size) it trained with."""
        d = self.recipe.data
        return d.mean, d.std, d.input_size

    @property
    def tta(self) -> str:
        """The TTA mode the recipe asks eval and predict to use by default (data.tta)."""
        return self.recipe.data.tta

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.recipe.train.early_stopping_metric)

    def indices(self) -> SplitIndices:
        """The run's split rebuilt exactly as the trainer built it (same seed, same class selection),
        checked against the digest recorded at training time."""
        d = self.recipe.data
        data = type(d)(**{**d.__dict__, "val_fraction": float(self.split.get("val_fraction", d.val_fraction)),
                          "split_seed": int(self.split.get("seed", d.split_seed))})
        out = split_indices(self.ws, data)
        recorded = self.split.get("val_indices_sha256")
        if recorded and self.split.get("val_split") != "test" and indices_digest(out.val) != recorded:
            raise UserError(self.id, "the workspace's training data changed since this run was trained: "
                                     "its validation split can no longer be rebuilt")
        return out

    def val(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices into the training data, labels) of the run's validation split."""
        s = self.indices()
        return s.val, s.labels[s.val]

    def val_images(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 NHWC images, labels) the run validated on: its held-out training images, or
        with data.val_split = "test" the labelled test split (checked against the record)."""
        if self.split.get("val_split") == "test":
            images, labels, kept = labelled_test_as_val(self.ws, self.recipe.data)
            if self.split.get("val_indices_sha256") not in (None, indices_digest(kept)):
                raise UserError(self.id, "the workspace's labelled test split changed since this run was trained")
            return images, labels
        pos, labels = self.val()
        return np.asarray(self.ws.train_data().images[pos]), labels

    def remap(self) -> np.ndarray | None:
        """Workspace label -> run label (-1: dropped) when the run kept only some classes."""
        return class_remap(list(self.ws.train_data().classes), list(self.recipe.data.classes))

    def checkpoint(self, which: str | int = "best") -> Path:
        """The checkpoint file: "best" (top monitored metric), "last", or an epoch number."""
        rows = self.checkpoints
        if not rows:
            raise UserError(self.id, "this run has saved no checkpoint yet (it stopped before its first)")
        by_tag = {r["tag"]: r for r in rows}
        if isinstance(which, str) and which.isdigit():
            which = int(which)
        if which == "best":
            scored = [r for r in rows if r["tag"] != "last" and r["metric"] is not None]
            pick = max if self.higher_is_better else min
            row = pick(scored, key=lambda r: r["metric"]) if scored else by_tag.get("last")
        elif which == "last":
            row = by_tag.get("last")
        elif isinstance(which, int):
            row = by_tag.get(f"epoch{which:03d}")
        else:
            raise UserError(f"--checkpoint {which}", "choose best, last or an epoch number")
        if row is None:
            raise UserError(f"{self.id}:{which}", f"no such checkpoint; this run keeps: {', '.join(sorted(by_tag))}")
        path = Path(row["path"])
        path = path if path.is_absolute() else Path(self.ws.root) / path
        if not path.exists():
            raise UserError(path, "checkpoint file is missing (was the run folder moved or pruned?)")
        return path


def _read_run_file(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(path, f"cannot read the run's config ({e})") from None
    if not isinstance(doc, dict):
        raise UserError(path, "cannot read the run's config (not a JSON object)")
    return doc
