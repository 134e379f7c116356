"""A workspace's test set, read in submission order without holding it all in memory.

The test images come in blocks (one per DS-542 distortion file, else one block); each block
is opened (memory-mapped where possible) only while it is read. When the workspace has a
sample_submission.csv its ids and order win: if they list the same ids in another order the
rows are gathered in the sample's order; different ids are an error naming the first stranger.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from kagglebench.errors import UserError


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


class TestSource:
    """Blocks of test images with their ids, plus the header/order a sample submission imposes."""

    def __init__(self, blocks: list[Callable[[], np.ndarray]], sizes: list[int],
                 ids: Sequence[str], sample: Path | None = None,
                 block_ids: Callable[[int], list[str]] | None = None) -> None:
        self.blocks, self.sizes = blocks, sizes
        # Optional: all ids of block b at once (computed ids such as DS-542's are ~20x faster
        # made a file at a time than one by one through `ids`).
        self.block_ids = block_ids
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.natural_ids = ids
        self.ids: Sequence[str] = ids
        self.header: list[str] | None = None
        self.sample = sample
        self.order: np.ndarray | None = None
        if sample is not None:
            self._apply_sample(sample)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _apply_sample(self, sample: Path) -> None:
        header, ids = read_sample_submission(sample)
        if len(ids) != len(self):
            raise UserError(sample, f"has {len(ids)} rows but the test data holds {len(self)} images")
        self.header, self.ids = header, ids
        if all(a == b for a, b in zip(ids, self.natural_ids)):
            return
        position = {name: i for i, name in enumerate(self.natural_ids)}
        missing = next((name for name in ids if name not in position), None)
        if missing is not None:
            raise UserError(sample, f"id {missing!r} is not in the test data")
        self.order = np.fromiter((position[name] for name in ids), np.int64, len(ids))

    def iter_chunks(self, chunk: int = 10000) -> Iterator[tuple[list[str], np.ndarray]]:
        """(ids, uint8 NHWC) chunks in submission order; at most one block open at a time."""
        from kagglebench.data.formats import read_rows

        if self.order is None:
            for b, load in enumerate(self.blocks):
                arr, base = load(), int(self.offsets[b])
                ids = self.block_ids(b) if self.block_ids is not None else None
                for start in range(0, len(arr), chunk):
                    stop = min(len(arr), start + chunk)
                    names = ids[start:stop] if ids is not None else list(self.ids[base + start: base + stop])
                    # read_rows: a copy read from the file, so no page of a memory-mapped block
                    # stays resident after its chunk is used (and no chunk keeps the map alive).
                    yield names, read_rows(arr, start, stop)
                del arr
            return
        for start in range(0, len(self), chunk):
            yield list(self.ids[start: start + chunk]), self._gather(self.order[start: start + chunk])

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        out = None
        for b in np.unique(which):
            arr = self.blocks[b]()
            sel = which == b
            part = np.asarray(arr[idx[sel] - self.offsets[b]])
            if out is None:
                out = np.empty((len(idx), *part.shape[1:]), np.uint8)
            out[sel] = part
        return out


def ood_test_source(folder: str | Path, sample: Path | None = None) -> TestSource:
    """A DS-542 OOD folder as a TestSource: one block per distortion file, opened when read."""
    from kagglebench.data import formats

    files = formats.ood_files(folder)
    shape = formats.open_ood_file(files[0]).shape     # the shape only: no map kept open
    per = shape[0] // formats.OOD_SEVERITIES
    blocks = [lambda f=f: _checked_ood(f, shape) for f in files]
    return TestSource(blocks, [shape[0]] * len(files), OodIds(len(files), per), sample,
                      block_ids=lambda k: formats.ood_ids(k, per))


def _checked_ood(file: Path, shape: tuple) -> np.ndarray:
    from kagglebench.data import formats

    arr = formats.open_ood_file(file)
    if arr.shape != shape:
        raise UserError(file, f"shape {arr.shape} differs from distortion00.npy's {shape}")
    return arr
