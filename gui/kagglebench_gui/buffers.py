"""Growing numpy buffers that hold a run's metric rows for plotting.

The poller hands over rows newer than the last it saw; a buffer appends them
in amortised O(1) (capacity doubles) and plots read views of the filled part,
so a 100,000-point run never copies its history on each new row. Pure numpy:
no Qt here, so the buffers are tested without widgets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Columns of the store's metrics table that the curves tab draws.
COLUMNS = ("step", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s")


class SeriesBuffer:
    """Columns of float64 that grow by doubling; NaN stands for a missing value."""

    def __init__(self, columns: tuple[str, ...] = COLUMNS, capacity: int = 256) -> None:
        self.columns = columns
        self._data = np.full((len(columns), capacity), np.nan)
        self.size = 0
        self.version = 0  # bumped on every change, so painters redraw only what changed

    def __len__(self) -> int:
        return self.size

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column's filled part."""
        view = self._data[self.columns.index(name), : self.size]
        view.flags.writeable = False
        return view

    def truncate_from_step(self, step: float) -> None:
        """Forget rows at or after `step` (a resumed run rewrites them)."""
        steps = self._data[0, : self.size]
        keep = int(np.searchsorted(steps, step, side="left"))
        if keep < self.size:
            self._data[:, keep: self.size] = np.nan
            self.size = keep
            self.version += 1

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        # Rows arrive ordered by store id. A step at or before the last one means the
        # trainer resumed from a checkpoint and rewrote history: drop the stale tail.
        first = float(rows[0]["step"])
        if self.size and first <= self._data[0, self.size - 1]:
            self.truncate_from_step(first)
        need = self.size + len(rows)
        if need > self._data.shape[1]:
            cap = max(need, 2 * self._data.shape[1])
            grown = np.full((len(self.columns), cap), np.nan)
            grown[:, : self.size] = self._data[:, : self.size]
            self._data = grown
        block = np.array([[_num(r.get(c)) for c in self.columns] for r in rows]).T
        self._data[:, self.size: need] = block
        self.size = need
        self.version += 1


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


class RunMetrics:
    """The two metric streams of one run: per-step rows and per-epoch rows."""

    def __init__(self) -> None:
        self.step = SeriesBuffer()
        self.epoch = SeriesBuffer()

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.step.append_rows([r for r in rows if r.get("scope") == "step"])
        self.epoch.append_rows([r for r in rows if r.get("scope") == "epoch"])

    @property
    def version(self) -> int:
        return self.step.version + self.epoch.version

    def series(self, metric: str, x: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) for one metric: training figures from step rows when the trainer logs
        them (denser), otherwise from epoch rows; validation figures from epoch rows."""
        buf = self.epoch
        if metric in ("train_loss", "train_acc", "lr") and len(self.step):
            y = self.step.column(metric)
            if not np.all(np.isnan(y)):
                buf = self.step
        xs, ys = buf.column(x), buf.column(metric)
        ok = ~np.isnan(ys)
        if ok.all():
            return xs, ys
        return xs[ok], ys[ok]
