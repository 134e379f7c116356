"""A competition's data from Kaggle into a workspace: download, unpack atomically, recognise.

`fetch_data` lists the files (`competition_list_files`, every page), downloads the bundle with
the official client (`competition_download_files`: streamed to disk in 1 MB chunks, retried
and resumed from a partial file by the client itself), then unpacks it into a hidden folder
beside `data/` and renames that into place, so `data/` is either absent, the old data, or the
whole new data: never half of it. The archive stays in `.kagglebench-download/` until the
unpack succeeded, so an interrupted download resumes and an interrupted unpack is redone
without downloading again.

`detect_layout` finds the formats in the unpacked folder and the profile they make (or asks
for --profile when they fit none, or several).
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

PART_DIR = ".kagglebench-download"
UNPACK_DIR = ".data-unpacking"
OLD_DIR = ".data-old"
_SPECIFIC = ("cifar10", "cifar100", "stl10", "ds542-ood")


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def fetch_data(kaggle: Any, competition: str, root: Path) -> Path:
    """Download `competition`'s files and make them `root/data` (replacing what was there
    only once the new data is complete); returns `root/data`."""
    root.mkdir(parents=True, exist_ok=True)
    files = kaggle.list_files(competition)
    total = sum(f["bytes"] for f in files)
    log(f"{competition}: {len(files)} data file(s), {total / 1e6:,.1f} MB")
    _need_space(root, 2 * total)  # the archive and what it unpacks to
    part = root / PART_DIR
    archive = kaggle.download_all(competition, part)
    dest = unpack(archive, root / "data")
    shutil.rmtree(part, ignore_errors=True)
    return dest


def _need_space(root: Path, needed: int) -> None:
    free = shutil.disk_usage(root).free
    if needed > free:
        raise UserError(root, f"needs about {needed / 1e9:.1f} GB free to download and unpack this "
                              f"competition's data; {free / 1e9:.1f} GB are free")


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack `archive` (a zip; anything else is taken as the one data file) into `dest`
    atomically: into a hidden folder first, renamed into place when complete."""
    tmp = dest.with_name(UNPACK_DIR)
    shutil.rmtree(tmp, ignore_errors=True)  # a killed earlier unpack
    tmp.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _need_space(dest.parent, sum(i.file_size for i in z.infolist()))
                z.extractall(tmp)  # member by member, streamed; '..' and absolute names are defused
        else:
            shutil.copy2(archive, tmp / archive.name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink(missing_ok=True)  # a broken archive cannot be resumed: fetch it again
        raise UserError(archive, f"the downloaded archive is damaged ({e}); it was removed, run the same "
                                 "command again to download it afresh") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.with_name(OLD_DIR)
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


@dataclass
class Layout:
    """What `init` needs: the profile and the paths of its parts."""

    profile: str
    train: Path | None
    test: Path | None
    sample: Path | None


def _folders(root: Path, depth: int = 3) -> list[Path]:
    out, level = [root], [root]
    for _ in range(depth):
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
        out += level
    return out


def detect_layout(data: Path, profile: str | None = None) -> Layout:
    """The formats found under `data` and the profile they make; `profile` chooses when given."""
    from kagglebench.competitions import get_profile
    from kagglebench.data import formats

    found: dict[str, Path] = {}  # training-data formats
    for d in _folders(data):
        try:
            fmt = formats.detect_format(d)
        except UserError:
            continue
        if fmt in _SPECIFIC:
            found.setdefault(fmt, d)
    train_tree = next((d for d in _folders(data) if d.name == "train" and d.is_dir()), None)
    if not found and train_tree is not None:
        found["imagefolder"] = train_tree
    pickles = sorted(p for p in data.rglob("*.pkl") if "nolabel" in p.name)
    test_dir = train_tree.parent / "test" if train_tree and (train_tree.parent / "test").is_dir() else None
    tests = {"ds542-ood": found.get("ds542-ood"), "nyu-pickle": pickles[0] if pickles else None,
             "imagefolder": test_dir}  # separate test sets, by format
    samples = sorted(data.rglob("sample_submission.csv"))
    chosen = profile or _guess(found, tests)
    if chosen is None:
        seen = ", ".join(f"{k} in {v.relative_to(data.parent)}" for k, v in found.items()) or "no known format"
        raise UserError("--profile", f"cannot tell which profile these files need ({seen}); pass --profile NAME "
                                     "(see `kagglebench init --help`)")
    prof = get_profile(chosen)
    train = found.get(prof.train_format)
    if prof.needs_data and train is None:
        raise UserError(data, f"profile {prof.name} needs {prof.train_format} training data, and none was "
                              "found in the downloaded files")
    test = tests.get(prof.test_format) if prof.test_format else None
    return Layout(prof.name, train, test, samples[0] if samples else None)


def _guess(found: dict[str, Path], tests: dict[str, Path | None]) -> str | None:
    """The profile whose data the download holds most completely (its training format, and its
    test set's format when it has a separate one), asked of each registered Competition; None
    when none fits or several fit equally (then the student says --profile)."""
    from kagglebench.competitions import profiles

    fits: dict[str, int] = {}
    for name, prof in profiles().items():
        if not prof.from_download or not prof.needs_data or prof.train_format not in found:
            continue
        has_test = prof.test_format is not None and tests.get(prof.test_format) is not None
        if prof.needs_test and not has_test:
            continue
        fits[name] = 1 + has_test
    best = max(fits.values(), default=0)
    top = [name for name, score in fits.items() if score == best]
    return top[0] if len(top) == 1 else None
