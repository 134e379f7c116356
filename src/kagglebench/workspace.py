"""Workspaces: one competition's folder.

A workspace is a folder holding `kagglebench.toml` (competition slug, profile, data paths,
submission format), the run store `kagglebench.db`, `runs/` and `submissions/`. Its profile
(a `kagglebench.competitions.Competition`, REFERENCE.md section 1) reads the training data,
the labelled test split and the test set, and names the submission's columns; class names
come from the data itself. A `sample_submission.csv`, when the workspace has one, is the
authority for header, ids and order.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.atomic import write_text
from kagglebench.competitions import Competition, get_profile
from kagglebench.errors import UserError

SETTINGS_FILE = "kagglebench.toml"


@dataclass
class SubmissionFormat:
    """What a submission CSV must look like: header, ids in order, row count."""

    id_col: str
    label_col: str
    num_classes: int
    ids: Sequence[str]
    rows: int
    sample: Path | None = None


# --- settings file ---------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def write_settings(root: str | os.PathLike, settings: dict) -> Path:
    """Write `kagglebench.toml` atomically: top-level keys first, then one table per dict."""
    lines = ["# kagglebench workspace settings (written by kagglebench; safe to edit)"]
    tables = {k: v for k, v in settings.items() if isinstance(v, dict)}
    lines += [f"{k} = {_toml_value(v)}" for k, v in settings.items() if k not in tables and v is not None]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return write_text(Path(root) / SETTINGS_FILE, "\n".join(lines) + "\n")


def find_workspace(explicit: str | None = None) -> Workspace:
    """The workspace at `explicit`, else $KAGGLEBENCH_WORKSPACE, else the current folder or a parent."""
    hint = ("create one with `kagglebench init DIR --profile NAME --data PATH` or "
            "`kagglebench data demo DIR`")
    chosen = explicit or os.environ.get("KAGGLEBENCH_WORKSPACE")
    if chosen:
        root = Path(chosen).expanduser().resolve()
        if not (root / SETTINGS_FILE).is_file():
            raise UserError(root, f"not a kagglebench workspace (no {SETTINGS_FILE}); {hint}")
        return Workspace(root)
    here = Path.cwd().resolve()
    for folder in [here, *here.parents]:
        if (folder / SETTINGS_FILE).is_file():
            return Workspace(folder)
    raise UserError(here, f"not inside a kagglebench workspace (no {SETTINGS_FILE} here or in a "
                    f"parent folder); use --workspace DIR, or {hint}")


# --- the workspace ---------------------------------------------------------------------------

class Workspace:
    """One competition's folder: settings, data access, store and run folders."""

    def __init__(self, root: str | os.PathLike, settings: dict | None = None) -> None:
        """Open the workspace at `root`; `settings` (used by init) skips reading the file."""
        self.root = Path(root).resolve()
        self.settings_path = self.root / SETTINGS_FILE
        self.settings: dict = settings if settings is not None else self._read_settings()
        if "profile" not in self.settings:
            raise UserError(self.settings_path, "no `profile = \"...\"` line")
        try:
            self.profile = get_profile(str(self.settings["profile"]))
        except UserError as e:
            raise UserError(self.settings_path, e.what) from None
        self.competition: str | None = self.settings.get("competition") or None
        self.db_path = self.root / "kagglebench.db"
        self.runs_dir = self.root / "runs"
        self.submissions_dir = self.root / "submissions"

    def _read_settings(self) -> dict:
        try:
            return tomllib.loads(self.settings_path.read_text())
        except FileNotFoundError:
            raise UserError(self.settings_path, "file not found: not a kagglebench workspace") from None
        except tomllib.TOMLDecodeError as e:
            raise UserError(self.settings_path, f"not valid TOML: {e}") from None
        except UnicodeDecodeError:
            raise UserError(self.settings_path, "not a text file (expected UTF-8 TOML)") from None
        except OSError as e:
            raise UserError(self.settings_path, f"cannot be read: {e.strerror or e}") from None

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, profile={self.profile.name!r})"

    def store(self):
        """The workspace's run store (created on first use)."""
        from kagglebench.store import Store

        return Store(self.db_path)

    def data_path(self, key: str) -> Path | None:
        """A path from the [data] table, resolved against the workspace root (None if unset)."""
        value = self.settings.get("data", {}).get(key)
        return (self.root / Path(value).expanduser()).resolve() if value else None

    def answer_key(self) -> Path | None:
        """The demo's local answer key (CSV id,label), kept outside the test data."""
        path = self.data_path("answer_key")
        if path is not None and not path.is_file():
            raise UserError(path, "answer key not found")
        return path

    # training data -------------------------------------------------------------------------

    @cached_property
    def _train(self):
        return self.profile.read_train(self)

    def train_data(self):
        """The labelled training set (a formats.Dataset; loaded once per Workspace)."""
        return self._train

    def classes(self) -> list[str]:
        return list(self.settings.get("data", {}).get("classes") or self._train.classes)

    def split(self, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Stratified, seeded train/validation indices into train_data(); same seed, same split."""
        if not 0 <= val_fraction < 1:
            raise UserError("data.val_fraction", f"{val_fraction} must be in [0, 1)")
        labels = np.asarray(self._train.labels)
        rng = np.random.default_rng(seed)
        val = []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            val.append(idx[: round(len(idx) * val_fraction)])
        val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
        train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
        return train_idx.astype(np.int64), val_idx.astype(np.int64)

    def labelled_test(self):
        """A labelled test split when the profile has one (CIFAR test, STL-10 test, digits)."""
        return self.profile.labelled_test(self)

    # test set and submission ----------------------------------------------------------------

    @cached_property
    def _test(self):
        sample = self.data_path("sample_submission")
        if sample is not None and not sample.is_file():
            raise UserError(sample, "sample submission not found")
        return self.profile.test_source(self, sample)

    def test_size(self) -> int:
        """Rows the submission must have."""
        return len(self._test)

    def iter_test(self, chunk: int = 10000) -> Iterator[tuple[list[str], np.ndarray]]:
        """(ids, uint8 NHWC images) in submission order, reading large files one at a time."""
        return self._test.iter_chunks(chunk)

    def submission_format(self) -> SubmissionFormat:
        """Header, ids in order, row count (from sample_submission.csv when there is one)."""
        sub = self.settings.get("submission", {})
        src = self._test
        return SubmissionFormat(
            id_col=src.header[0] if src.header else sub.get("id_col", self.profile.id_col),
            label_col=src.header[1] if src.header else sub.get("label_col", self.profile.label_col),
            num_classes=len(self.classes()), ids=src.ids, rows=len(src), sample=src.sample)


# --- kagglebench init ------------------------------------------------------------------------

def _find_beside(profile: Competition, data: Path | None, names: Sequence[str]) -> Path | None:
    if data is None:
        return None
    for folder in (data.parent, data):
        for name in names:
            if (folder / name).exists():
                return (folder / name).resolve()
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path.resolve())


def init_workspace(dir: str | os.PathLike, profile: str, data: str | None = None,
                   test: str | None = None, competition: str | None = None,
                   sample: str | None = None) -> Workspace:
    """Check the data for `profile` and write `DIR/kagglebench.toml`; returns the workspace."""
    from kagglebench.data import formats

    prof = get_profile(profile)
    root = Path(dir).expanduser().resolve()
    if (root / SETTINGS_FILE).exists():
        raise UserError(root / SETTINGS_FILE, "already exists: this folder is a workspace already "
                        "(edit the file, or pick another folder)")
    data_path = Path(data).expanduser().resolve() if data else None
    if prof.needs_data:
        if data_path is None:
            raise UserError("--data", f"profile {prof.name} needs --data PATH (its "
                            f"{prof.train_format} training data)")
        found = formats.detect_format(data_path)
        if found != prof.train_format:
            raise UserError(data_path, f"holds {found} data, but profile {prof.name} expects "
                            f"{prof.train_format}")
    test_path = Path(test).expanduser().resolve() if test else \
        _find_beside(prof, data_path, prof.test_beside)
    if test_path is not None and not test_path.exists():
        raise UserError(test_path, "test data not found")
    if prof.needs_test and test_path is None:
        raise UserError("--test", f"profile {prof.name} needs its test set: pass --test PATH or put "
                        f"{' or '.join(prof.test_beside)} beside {data_path}")
    prof.check_init(data_path, test_path)
    sample_path = Path(sample).expanduser().resolve() if sample else \
        _find_beside(prof, test_path or data_path, ("sample_submission.csv",))
    settings: dict[str, Any] = {"competition": competition, "profile": prof.name, "data": {}}
    for key, value in (("train", data_path), ("test", test_path), ("sample_submission", sample_path)):
        if value is not None:
            settings["data"][key] = _rel(value, root)
    # Check through a workspace built in memory: the same code path later commands take.
    probe = Workspace(root, settings)
    classes = probe.train_data().classes
    if prof.has_test(test_path):
        fmt = probe.submission_format()
        settings["submission"] = {"id_col": fmt.id_col, "label_col": fmt.label_col, "rows": fmt.rows}
    settings["data"]["classes"] = list(classes)
    root.mkdir(parents=True, exist_ok=True)
    write_settings(root, settings)
    return Workspace(root)
