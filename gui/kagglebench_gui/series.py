"""Metric series behind the curves, in numpy only (no Qt, so it is tested without widgets).

- `read_block` / `read_overview` are the poller thread's SQL reads: new rows straight into
  numpy columns (no dict per row), and for a long run a per-bucket min/max/mean summary
  computed by SQLite, so the first picture of a million-row run needs no million Python rows.
- `ColumnSet` holds one scope (step rows or epoch rows) of a run in arrays that grow by
  doubling; new blocks are appended, old rows are never converted again.
- `Trace` is one metric of one run ready to draw: its finite points, their x in every
  x-axis mode, and TensorBoard's debiased exponential moving average, all kept up to date
  incrementally.
- `decimate` reduces what is on screen to a min and a max per pixel column, the same
  picture as every point for a line plot, in O(visible points) numpy work.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import numpy as np
from scipy.signal import lfilter

X_MODES = ("step", "epoch", "time")
Y_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr", "images_per_s")
COLUMNS = X_MODES + Y_COLUMNS
# A run with more step rows than this is first drawn from SQLite's per-bucket summary.
OVERVIEW_ROWS = 20_000
OVERVIEW_BUCKETS = 4096
BLOCK_ROWS = 250_000  # rows read per poll while a long run catches up


class Growing:
    """A float64 array that grows by doubling; `values` is a view of the filled part."""

    def __init__(self, capacity: int = 256) -> None:
        self._a = np.empty(capacity)
        self.n = 0

    def extend(self, v: np.ndarray) -> None:
        need = self.n + len(v)
        if need > len(self._a):
            grown = np.empty(max(need, 2 * len(self._a)))
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n: need] = v
        self.n = need

    def truncate(self, n: int) -> None:
        self.n = min(self.n, n)

    @property
    def values(self) -> np.ndarray:
        return self._a[: self.n]


# -- reading the store (the poller's thread) ---------------------------------------------
def _plain(db: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor yielding tuples whatever the connection's row factory."""
    cur = db.cursor()
    cur.row_factory = None
    return cur


_DTYPE = np.dtype([("id", "i8"), ("is_step", "i8")] + [(c, "f8") for c in COLUMNS])


def read_block(db: sqlite3.Connection, run_id: str, after_id: int = 0, limit: int = BLOCK_ROWS) -> dict[str, Any]:
    """Rows of `run_id` with id > after_id (at most `limit`), as numpy columns per scope:
    {"step": {col: array}, "epoch": {col: array}, "last_id": int, "rows": int}. NULL is NaN."""
    cols = ", ".join(f"IFNULL({c}, 'nan')" for c in COLUMNS)  # 'nan' text becomes float NaN
    cur = _plain(db).execute(f"SELECT id, scope = 'step', {cols} FROM metrics WHERE run_id = ? AND id > ? "
                     "ORDER BY id LIMIT ?", (run_id, after_id, limit))
    a = np.fromiter(cur, dtype=_DTYPE)
    out: dict[str, Any] = {"last_id": int(a["id"][-1]) if len(a) else after_id, "rows": len(a)}
    for scope, mask in (("step", a["is_step"] == 1), ("epoch", a["is_step"] == 0)):
        part = a[mask]
        out[scope] = {c: np.ascontiguousarray(part[c]) for c in COLUMNS} if len(part) else None
    return out


def read_overview(db: sqlite3.Connection, run_id: str, buckets: int = OVERVIEW_BUCKETS) -> dict[str, Any] | None:
    """For a run with many step rows: from the store's `metric_buckets` summary (kept on
    write), per group of buckets the first/last x of every x mode and each metric's min,
    max, mean and count. None for a short run (its rows are read directly)."""
    names = ["n"] + [f"{x}_{f}" for x in X_MODES for f in ("min", "max")] + [
        f"{y}_{f}" for y in Y_COLUMNS for f in ("min", "max", "sum", "n")]
    rows = _plain(db).execute(f"SELECT {', '.join(names)} FROM metric_buckets WHERE run_id = ? ORDER BY bucket",
                      (run_id,)).fetchall()
    a = np.array(rows, dtype=float).reshape(-1, len(names))  # NULL -> NaN
    col = {n: a[:, i] for i, n in enumerate(names)}
    total = int(col["n"].sum()) if len(a) else 0
    if total <= OVERVIEW_ROWS:
        return None
    starts = np.arange(0, len(a), max(1, math.ceil(len(a) / buckets)))

    def red(fn: Any, v: np.ndarray) -> np.ndarray:
        return fn.reduceat(v, starts)

    out: dict[str, Any] = {"rows": total}
    for x in X_MODES:
        out[x] = (red(np.fmin, col[f"{x}_min"]), red(np.fmax, col[f"{x}_max"]))
    for y in Y_COLUMNS:
        count = red(np.add, col[f"{y}_n"])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = red(np.add, np.nan_to_num(col[f"{y}_sum"])) / count
        out[y] = (red(np.fmin, col[f"{y}_min"]), red(np.fmax, col[f"{y}_max"]), mean, count)
    return out


# -- holding a run's rows (the UI thread; appends are numpy copies only) -------------------
class ColumnSet:
    """One scope of a run's metrics. `generation` changes when history is rewritten (a
    resumed run logs again from its checkpoint's step), so traces know to rebuild."""

    def __init__(self) -> None:
        self.cols = {c: Growing() for c in COLUMNS}
        self.n = 0
        self.generation = 0

    def column(self, name: str) -> np.ndarray:
        return self.cols[name].values

    def append(self, block: dict[str, np.ndarray] | None) -> None:
        if block is None or not len(block["step"]):
            return
        if self.n and block["step"][0] <= self.cols["step"].values[-1]:
            keep = int(np.searchsorted(self.cols["step"].values, block["step"][0], side="left"))
            for g in self.cols.values():
                g.truncate(keep)
            self.n = keep
            self.generation += 1
        for c, g in self.cols.items():
            g.extend(block[c])
        self.n += len(block["step"])


def ema(y: np.ndarray, weight: float, last: float = 0.0, count: int = 0) -> tuple[np.ndarray, float]:
    """TensorBoard's classic smoothing of finite `y`, continued from state (last, count):
    last = last * w + (1 - w) * y; value = last / (1 - w ** count). Returns (values, new last)."""
    if not len(y):
        return y.copy(), last
    if weight <= 0:
        return y.copy(), float(y[-1])
    raw, _ = lfilter([1.0 - weight], [1.0, -weight], y, zi=[weight * last])
    if weight >= 1:
        return raw, float(raw[-1])
    powers = np.power(weight, np.arange(count + 1, count + len(y) + 1, dtype=float))
    return raw / (1.0 - powers), float(raw[-1])


class Trace:
    """One metric of one run: finite points with their x in every mode, and the EMA."""

    def __init__(self, source: ColumnSet, metric: str, weight: float = 0.0) -> None:
        self.source, self.metric, self.weight = source, metric, weight
        self._reset()

    def _reset(self) -> None:
        self.x = {m: Growing() for m in X_MODES}
        self.y = Growing()
        self.smooth = Growing()
        self._last, self.seen, self.generation = 0.0, 0, self.source.generation
        self.version = getattr(self, "version", 0) + 1

    def __len__(self) -> int:
        return self.y.n

    def update(self) -> bool:
        """Take the source's new rows; True when anything changed."""
        if self.source.generation != self.generation:
            self._reset()
        if self.source.n == self.seen:
            return False
        sl = slice(self.seen, self.source.n)
        y = self.source.column(self.metric)[sl]
        ok = np.isfinite(y)
        self.seen = self.source.n
        if not ok.any():
            return False
        y = y[ok]
        for m in X_MODES:
            self.x[m].extend(self.source.column(m)[sl][ok])
        s, self._last = ema(y, self.weight, self._last, self.y.n)
        self.y.extend(y)
        self.smooth.extend(s)
        self.version += 1
        return True

    def set_weight(self, weight: float) -> None:
        if weight == self.weight:
            return
        self.weight = weight
        s, self._last = ema(self.y.values, weight)
        self.smooth = Growing(max(256, len(s)))
        self.smooth.extend(s)
        self.version += 1

    def value_at(self, mode: str, x: float, smoothed: bool) -> float | None:
        """The value at the last point at or before x (None before the first point)."""
        xs = self.x[mode].values
        i = int(np.searchsorted(xs, x, side="right")) - 1
        if i < 0 or not len(xs):
            return None
        return float((self.smooth if smoothed else self.y).values[i])


def decimate(x: np.ndarray, y: np.ndarray, lo: float | None, hi: float | None,
             columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of (x, y) to draw between lo and hi on `columns` pixel columns: all of
    them when they are few, else each column's first x with its min and max y (x sorted).
    One point beyond each edge is kept so the line reaches the border."""
    n = len(x)
    i0 = 0 if lo is None else max(0, int(np.searchsorted(x, lo, side="left")) - 1)
    i1 = n if hi is None else min(n, int(np.searchsorted(x, hi, side="right")) + 1)
    if i1 - i0 <= 4 * max(columns, 1):
        return x[i0:i1], y[i0:i1]
    xs, ys = x[i0:i1], y[i0:i1]
    edges = np.linspace(xs[0], xs[-1], columns + 1)
    starts = np.unique(np.searchsorted(xs, edges[:-1], side="left"))
    starts = starts[starts < len(xs)]
    mins = np.minimum.reduceat(ys, starts)
    maxs = np.maximum.reduceat(ys, starts)
    ends = np.append(starts[1:], len(xs)) - 1
    out_x = np.empty(2 * len(starts))
    out_y = np.empty(2 * len(starts))
    out_x[0::2], out_x[1::2] = xs[starts], xs[ends]
    out_y[0::2], out_y[1::2] = mins, maxs
    return out_x, out_y


def overview_curve(ov: dict[str, Any], metric: str, mode: str, weight: float) -> tuple[np.ndarray, ...]:
    """(x, y envelope, x mean, smoothed mean) from `read_overview`, for the first paint.
    The envelope is each bucket's min then max, as `decimate` draws full data."""
    lo_x, hi_x = ov[mode]
    mn, mx, mean, count = ov[metric]
    ok = count > 0
    lo_x, hi_x, mn, mx, mean, count = lo_x[ok], hi_x[ok], mn[ok], mx[ok], mean[ok], count[ok]
    ex = np.empty(2 * len(lo_x))
    ey = np.empty(2 * len(lo_x))
    ex[0::2], ex[1::2] = lo_x, hi_x
    ey[0::2], ey[1::2] = mn, mx
    # The EMA over bucket means, each bucket weighing as its rows would: w ** rows.
    per = float(np.mean(count)) if len(count) else 1.0
    sm, _ = ema(mean, weight ** per if weight > 0 else 0.0)
    return ex, ey, (lo_x + hi_x) / 2, sm
