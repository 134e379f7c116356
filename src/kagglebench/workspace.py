"""Workspaces and competition profiles.

A workspace is a folder holding `kagglebench.toml` (competition slug, profile, data paths,
submission format), the run store `kagglebench.db`, `runs/` and `submissions/`. A profile
(REFERENCE.md section 1) fixes the training-data format, the test set and its format, and the
submission's header, id scheme, row count and order; class names come from the data itself.
A `sample_submission.csv`, when the workspace has one, is the authority for header, ids and order.
"""

from __future__ import annotations

import csv
import os
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.errors import UserError

SETTINGS_FILE = "kagglebench.toml"
STL10_FIVE = ["car", "deer", "horse", "monkey", "truck"]
DS542_FILES = 19  # distortion00.npy .. distortion18.npy


@dataclass(frozen=True)
class Profile:
    """How one competition's data and submission look."""

    name: str
    description: str
    train_format: str                       # a kagglebench.data.formats name
    test_kind: str                          # ood | pickle | split | images | digits
    id_col: str = "id"
    label_col: str = "label"
    train_options: dict = field(default_factory=dict)
    test_beside: tuple[str, ...] = ()       # names looked for beside --data when --test is not given


PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile("ds542-sp25", "BU DS-542 Spring 2025 midterm: CIFAR-100 train, 19x5 OOD test folder",
            "cifar100", "ood", test_beside=("ood-test",)),
    Profile("nyu-dl-sp24", "NYU Deep Learning Spring 2024: CIFAR-10 train, unlabeled test pickle",
            "cifar10", "pickle", id_col="ID", label_col="Labels",
            test_beside=("cifar_test_nolabels.pkl", "cifar_test_nolabel.pkl")),
    Profile("stl10-5class", "STL-10 binary, five classes (car, deer, horse, monkey, truck)",
            "stl10", "split", train_options={"classes": STL10_FIVE}),
    Profile("cifar10", "a CIFAR-10 python folder; its test_batch is the test set", "cifar10", "split"),
    Profile("cifar100", "a CIFAR-100 python folder; its test file is the test set", "cifar100", "split"),
    Profile("imagefolder", "one sub-folder per class; test images in a folder beside it",
            "imagefolder", "images", test_beside=("test",)),
    Profile("digits", "scikit-learn's bundled digits at 32x32 RGB; every fifth image is the test set",
            "digits", "digits"),
    Profile("demo", "the synthetic competition written by `kagglebench data demo`",
            "cifar100", "ood", test_beside=("ood-test",)),
]}


def get_profile(name: str) -> Profile:
    """The named profile, or UserError listing the known ones."""
    if name not in PROFILES:
        raise UserError("--profile", f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


@dataclass
class SubmissionFormat:
    """What a submission CSV must look like: header, ids in order, row count."""

    id_col: str
    label_col: str
    num_classes: int
    ids: Sequence[str]
    rows: int
    sample: Path | None = None


class OodIds(Sequence):
    """The DS-542 ids distortion{NN}_{s}_{i} computed on demand (950,000 of them in full)."""

    def __init__(self, files: int, per_severity: int) -> None:
        self.files, self.per = files, per_severity

    def __len__(self) -> int:
        return self.files * 5 * self.per

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        k, rest = divmod(i, 5 * self.per)
        s, j = divmod(rest, self.per)
        return f"distortion{k:02d}_{s + 1}_{j}"


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
    path = Path(root) / SETTINGS_FILE
    tmp = path.with_name(f".{SETTINGS_FILE}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


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

    def _train_path(self) -> str:
        if self.profile.train_format == "digits":
            return "digits"
        path = self.data_path("train")
        if path is None:
            raise UserError(self.settings_path, "no `train = ...` path in the [data] table")
        return str(path)

    @cached_property
    def _train(self):
        from kagglebench.data import formats

        opts = dict(self.profile.train_options)
        if self.profile.train_format in ("cifar10", "cifar100", "stl10"):
            opts["split"] = "train"
        ds = formats.load(self._train_path(), self.profile.train_format, **opts)
        if self.profile.test_kind == "digits":
            keep = np.arange(len(ds)) % 5 != 4
            ds.images, ds.labels = ds.images[keep], ds.labels[keep]
        return ds

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
        from kagglebench.data import formats

        kind, fmt = self.profile.test_kind, self.profile.train_format
        path = self._train_path()
        if kind == "digits":
            ds = formats.load_digits()
            keep = np.arange(len(ds)) % 5 == 4
            ds.images, ds.labels = ds.images[keep], ds.labels[keep]
            return ds
        if fmt == "cifar10" and (Path(path) / "test_batch").exists():
            return formats.load_cifar10(path, split="test")
        if fmt == "cifar100" and (Path(path) / "test").exists():
            return formats.load_cifar100(path, split="test")
        if fmt == "stl10" and (Path(path) / "test_X.bin").exists():
            return formats.load_stl10(path, "test", **self.profile.train_options)
        if kind == "images" and self.data_path("test") is not None:
            ds = formats.load_imagefolder(self.data_path("test"))
            return ds if ds.labels is not None else None
        return None

    # test set and submission ----------------------------------------------------------------

    @cached_property
    def _test(self):
        from kagglebench.data.testsets import open_test_source

        return open_test_source(self)

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


def read_sample_submission(path: Path) -> tuple[list[str], list[str]]:
    """(header, ids) of a sample_submission.csv; UserError when it is not a 2-column CSV."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            ids = [row[0] for row in reader if row]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(path, f"cannot be read: {e}") from None
    if not header or len(header) != 2:
        raise UserError(path, f"expected a header with 2 columns (id and label), found {header}")
    return header, ids


# --- kagglebench init ------------------------------------------------------------------------

def _find_beside(profile: Profile, data: Path | None, names: Sequence[str]) -> Path | None:
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
    if prof.train_format != "digits":
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
    if prof.test_kind in ("ood", "pickle") and test_path is None:
        raise UserError("--test", f"profile {prof.name} needs its test set: pass --test PATH or put "
                        f"{' or '.join(prof.test_beside)} beside {data_path}")
    if prof.name == "ds542-sp25" and test_path is not None:
        # The ids count the files: a folder missing its last file would still look whole.
        files = formats.ood_files(test_path)
        for f in files:  # headers only (memory-mapped): a torn or wrong file is found now
            formats.open_ood_file(f)
        short = formats.missing_last(files)
        if short:
            raise short
    sample_path = Path(sample).expanduser().resolve() if sample else \
        _find_beside(prof, test_path or data_path, ("sample_submission.csv",))
    settings: dict[str, Any] = {"competition": competition, "profile": prof.name, "data": {}}
    for key, value in (("train", data_path), ("test", test_path), ("sample_submission", sample_path)):
        if value is not None:
            settings["data"][key] = _rel(value, root)
    # Check through a workspace built in memory: the same code path later commands take.
    probe = Workspace(root, settings)
    classes = probe.train_data().classes
    if prof.test_kind != "images" or test_path is not None:
        fmt = probe.submission_format()
        settings["submission"] = {"id_col": fmt.id_col, "label_col": fmt.label_col, "rows": fmt.rows}
    settings["data"]["classes"] = list(classes)
    root.mkdir(parents=True, exist_ok=True)
    write_settings(root, settings)
    return Workspace(root)
