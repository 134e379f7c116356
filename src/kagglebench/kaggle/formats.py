"""Submission CSVs in each competition's exact format: the writer and the validator.

The workspace's `submission_format()` (driven by the profile and, when the competition
ships one, sample_submission.csv) fixes the header, the ids and their order, the row
count and the label range. `write_submission` writes predictions in that format
(atomically); `validate_csv` checks any CSV against it and raises a UserError naming the
first problem, so nothing malformed is ever sent to Kaggle (a wasted daily submission).
Files are streamed: the DS-542 file has 950,000 rows.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kagglebench.errors import UserError


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


def write_submission(path: str | os.PathLike, ws: Any, labels: Sequence[int] | np.ndarray,
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
    names = _label_names(fmt)
    values = [names[i] for i in labels] if names else labels.tolist()
    from kagglebench.atomic import replacing

    try:
        with replacing(path) as tmp, open(tmp, "w", newline="") as f:
            f.write(",".join(header_of(fmt)) + "\n")
            # one join is ~10x faster than csv.writer for 950,000 rows; ids never hold commas
            f.write("".join(f"{i},{v}\n" for i, v in zip(ids, values)))
    except OSError as e:  # a read-only folder, a full disk: the student's to fix
        raise UserError(path.parent, f"cannot write {path.name} here ({e.strerror or e}); "
                                     "check the folder's permissions and free space, or pass --out") from None
    return path


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for each line after the header."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            yield reader.line_num, row


def _read_header(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f), None)
    except FileNotFoundError:
        raise UserError(path, "no such file") from None
    except IsADirectoryError:
        raise UserError(path, "is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise UserError(path, "is not a UTF-8 text CSV file") from None


def _check_label(path: Path, line: int, value: str, nc: int, names: list[str] | None) -> None:
    if names:
        if value not in names:
            raise UserError(path, f"line {line}: label {value!r} is not one of the {len(names)} class names")
        return
    try:
        k = int(value)
    except ValueError:
        raise UserError(path, f"line {line}: label {value!r} is not a whole number "
                              f"(expected a class index 0..{nc - 1})") from None
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


def validate_csv(path: str | os.PathLike, ws: Any) -> int:
    """Check a submission CSV against the workspace's format; return its number of rows.

    Checks, in order: the header, the row count, then row by row the id (set and order),
    the column count and the label range. Raises UserError naming the first problem.
    """
    path = Path(path)
    fmt = ws.submission_format()
    want_header = header_of(fmt)
    header = _read_header(path)
    if header is None:
        raise UserError(path, "is empty (expected a header line " + ",".join(want_header) + ")")
    if [h.strip() for h in header] != want_header:
        raise UserError(path, f"header is {','.join(header)!r} but this competition expects "
                              f"{','.join(want_header)!r}")
    ids = _ids(fmt)
    expected = _expected_rows(fmt, ids)
    try:
        n = sum(1 for _ in _rows(path))
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(path, f"is not a readable CSV file ({e})") from None
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
        _check_label(path, line, cells[1].strip(), nc, names)
    return n
