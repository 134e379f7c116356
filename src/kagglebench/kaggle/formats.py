"""Submission CSVs in each competition's exact format: the writer and the validator.

The workspace's `submission_format()` (driven by the profile and, when the competition
ships one, sample_submission.csv) fixes the header, the ids and their order, the row
count and the label range. `write_submission` writes predictions in that format
(atomically); `validate_csv` checks any CSV against it and raises a UserError naming the
first problem, so nothing malformed is ever sent to Kaggle (a wasted daily submission).
Files are streamed with bounded reads (no line over MAX_LINE bytes is ever read whole, and a file
bigger than its row count allows is refused unread): the DS-542 file has 950,000 rows.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def _ids(fmt: Any) -> list[str] | None:
    ids = getattr(fmt, "ids", None)
    return None if ids is None else [str(i) for i in ids]


def _expected_rows(fmt: Any, ids: list[str] | None) -> int | None:
    for name in ("rows", "n_rows", "expected_rows"):
        v = getattr(fmt, name, None)
        if isinstance(v, int):
            return v
    return None if ids is None else len(ids)


def _label_names(fmt: Any) -> list[str] | None:
    """Class names when the competition wants names (e.g. an ImageFolder sample) instead of indices."""
    names = getattr(fmt, "label_names", None)
    return [str(n) for n in names] if names else None


def header_of(fmt: Any) -> list[str]:
    return [fmt.id_col, fmt.label_col]


def write_submission(path: str | os.PathLike, ws: Workspace, labels: Sequence[int] | np.ndarray,
                     ids: Sequence[str] | None = None) -> Path:
    """Write `labels` (class indices, one per test id in submission order) as the competition's CSV.

    Written to a temp file beside `path` and renamed, so a failure never leaves half a file.
    """
    fmt = ws.submission_format()
    ids = list(ids) if ids is not None else _ids(fmt)
    labels = np.asarray(labels, dtype=np.int64)
    path = Path(path)
    if ids is None:
        raise UserError(path, "this competition's test ids are unknown (no sample_submission.csv)")
    if len(ids) != len(labels):
        raise UserError(path, f"{len(labels):,} predictions for {len(ids):,} test ids")
    nc = int(fmt.num_classes)
    if len(labels) and (labels.min() < 0 or labels.max() >= nc):
        raise UserError(path, f"predicted class {int(labels.max())} is outside 0..{nc - 1}")
    import pandas as pd

    names = _label_names(fmt)
    values = np.asarray(names, dtype=object)[labels] if names else labels
    from kagglebench.atomic import replacing

    try:
        with replacing(path) as tmp, open(tmp, "w", newline="") as f:
            table = pd.DataFrame({fmt.id_col: ids, fmt.label_col: values})
            table.to_csv(f, index=False, lineterminator="\n")
    except OSError as e:  # a read-only folder, a full disk: the student's to fix
        raise UserError(path.parent, f"cannot write {path.name} here ({e.strerror or e}); "
                                     "check the folder's permissions and free space, or pass --out") from None
    return path


MAX_LINE = 4096  # bytes: an id and a label never need more; longer lines are refused unread
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")  # a plain ASCII class index: no sign, no _, no leading 0


def _lines(path: Path) -> Iterator[str]:
    """The file's lines as text, each read with a bounded `readline`, so no input (a 2 GB file
    without a newline, say) is ever held in memory; UserError names the first bad line."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise UserError(path, "no such file") from None
    except IsADirectoryError:
        raise UserError(path, "is a folder, not a CSV file") from None
    except OSError as e:
        raise UserError(path, f"cannot be read: {e.strerror or e}") from None
    with f:
        for n in itertools.count(1):
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE:
                raise UserError(path, f"line {n} is longer than {MAX_LINE:,} bytes: not a submission CSV "
                                      "(one short id,label pair per line)")
            try:
                yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                raise UserError(path, f"line {n} is not UTF-8 text: not a CSV file") from None


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for each line after the header."""
    reader = csv.reader(_lines(path))
    try:
        next(reader, None)
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise UserError(path, f"line {reader.line_num}: not readable as CSV ({e})") from None


def _read_header(path: Path) -> list[str] | None:
    try:
        return next(csv.reader(_lines(path)), None)
    except csv.Error as e:
        raise UserError(path, f"line 1: not readable as CSV ({e})") from None


def _check_size(path: Path, expected: int | None) -> None:
    """Refuse, before reading a byte, a file far bigger than `expected` rows can make."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(path, "no such file") from None
    except OSError as e:
        raise UserError(path, f"cannot be read: {e.strerror or e}") from None
    if expected is not None and size > (expected + 1) * MAX_LINE:
        raise UserError(path, f"is {size:,} bytes, more than a submission of {expected:,} rows can be "
                              f"(at most {MAX_LINE:,} bytes a line): not this competition's submission file")


def _check_label(path: Path, line: int, value: str, nc: int, names: list[str] | None) -> None:
    if names:
        if value not in names:
            raise UserError(path, f"line {line}: label {value!r} is not one of the {len(names)} class names")
        return
    if not _INDEX.fullmatch(value):
        raise UserError(path, f"line {line}: label {value!r} is not a plain class index (ASCII digits "
                              f"only, no sign or leading zero; expected 0..{nc - 1})")
    k = int(value)
    if not 0 <= k < nc:
        raise UserError(path, f"line {line}: label {k} is outside the class range 0..{nc - 1}")


def _id_problem(got: str, want: str, row: int, ids: list[str]) -> str:
    # All earlier rows matched in order, so the ids seen so far are exactly ids[:row].
    if got in set(ids[:row]):
        return f"id {got!r} appears twice"
    if got not in set(ids):
        return f"id {got!r} is not one of this competition's test ids"
    return (f"id {got!r} where {want!r} is expected: rows must follow the competition's id order "
            "(the sample submission's order)")


def validate_csv(path: str | os.PathLike, ws: Workspace) -> int:
    """Check a submission CSV against the workspace's format; return its number of rows.

    Checks, in order: the header, the row count, then row by row the id (set and order),
    the column count and the label range. Raises UserError naming the first problem.
    """
    path = Path(path)
    fmt = ws.submission_format()
    want_header = header_of(fmt)
    ids = _ids(fmt)
    expected = _expected_rows(fmt, ids)
    _check_size(path, expected)
    header = _read_header(path)
    if header is None:
        raise UserError(path, "is empty (expected a header line " + ",".join(want_header) + ")")
    if [h.strip() for h in header] != want_header:
        raise UserError(path, f"header is {','.join(header)!r} but this competition expects "
                              f"{','.join(want_header)!r}")
    n = sum(1 for _ in _rows(path))
    if expected is not None and n != expected:
        raise UserError(path, f"has {n:,} prediction rows but this competition expects {expected:,} "
                              "(one per test image)")
    nc, names = int(fmt.num_classes), _label_names(fmt)
    for row, (line, cells) in enumerate(_rows(path)):
        if len(cells) != 2:
            raise UserError(path, f"line {line}: {len(cells)} columns where 2 are expected "
                                  f"({','.join(want_header)})")
        got = cells[0].strip()
        if ids is not None and got != ids[row]:
            raise UserError(path, f"line {line}: " + _id_problem(got, ids[row], row, ids))
        _check_label(path, line, cells[1], nc, names)
    return n
