"""The Live curves tab: loss, accuracy and learning rate of the chosen runs, overlaid.

New metric rows arrive from the poller into growing numpy buffers (buffers.py);
one QTimer repaints at up to 30 FPS and only the curves whose buffer changed.
pyqtgraph's auto-downsampling and clip-to-view keep a 100,000-point run smooth.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.buffers import RunMetrics

FPS = 30
# (plot title, y label, [(metric column, legend suffix, dashed)])
PLOTS = [
    ("Loss", "loss", [("train_loss", "train", False), ("val_loss", "val", True)]),
    ("Accuracy", "accuracy", [("train_acc", "train", False), ("val_acc", "val", True)]),
    ("Learning rate", "lr", [("lr", "", False)]),
]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


class CurvesTab(QWidget):
    """`watched_changed` carries the run ids whose metrics the poller should stream."""

    watched_changed = Signal(set)

    def __init__(self) -> None:
        super().__init__()
        self.buffers: dict[str, RunMetrics] = {}
        self._painted: dict[str, int] = {}
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._names: dict[str, str] = {}
        self._colours: dict[str, int] = {}
        self.runs_list = QListWidget()
        self.runs_list.itemChanged.connect(self._on_checked)
        self.x_axis = QComboBox()
        self.x_axis.addItems(["epoch", "step"])
        self.x_axis.setToolTip("Plot against epochs or optimizer steps (Ctrl+E toggles)")
        self.x_axis.currentTextChanged.connect(self._replot_all)
        self.points = QLabel()
        self.glw = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        for i, (title, ylabel, _) in enumerate(PLOTS):
            p = self.glw.addPlot(row=i, col=0, title=title)
            p.setLabel("left", ylabel)
            p.getAxis("left").enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads badly
            p.showGrid(x=True, y=True, alpha=0.25)
            p.addLegend(offset=(-10, 10))
            # The two settings that keep very long runs cheap to draw.
            p.setDownsampling(auto=True, mode="peak")
            p.setClipToView(True)
            if i:
                p.setXLink(self.plots[PLOTS[0][0]])
            self.plots[title] = p
        self.plots["Learning rate"].setLabel("bottom", "epoch")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Runs to plot"))
        ll.addWidget(self.runs_list)
        xrow = QHBoxLayout()
        xrow.addWidget(QLabel("x axis"))
        xrow.addWidget(self.x_axis, 1)
        ll.addLayout(xrow)
        ll.addWidget(self.points)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.glw)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([220, 900])
        QVBoxLayout(self).addWidget(self.splitter)
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // FPS)
        self.timer.timeout.connect(self.repaint_curves)
        self.timer.start()

    # -- run list -------------------------------------------------------------------
    def set_runs(self, runs: list[dict]) -> None:
        """Keep the list in step with the store; the first time, check the running runs
        (or the latest one) so the tab shows something useful at once."""
        first = self.runs_list.count() == 0
        known = {self.runs_list.item(i).data(Qt.UserRole): self.runs_list.item(i)
                 for i in range(self.runs_list.count())}
        self.runs_list.blockSignals(True)
        ids = [r["id"] for r in runs]
        for rid, item in known.items():
            if rid not in ids:
                self.runs_list.takeItem(self.runs_list.row(item))
        for r in runs:
            label = f"{r['name'] or r['id']}  ({r['status']})"
            self._names[r["id"]] = r["name"] or r["id"]
            item = known.get(r["id"])
            if item is None:
                item = QListWidgetItem(label)
                item.setData(Qt.UserRole, r["id"])
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Unchecked)
                self.runs_list.addItem(item)
            item.setText(label)
        if first and runs:
            pick = [r["id"] for r in runs if r["status"] == "running"] or [runs[-1]["id"]]
            self._set_checked(set(pick))
        self.runs_list.blockSignals(False)
        self._on_checked()

    def _set_checked(self, ids: set[str]) -> None:
        for i in range(self.runs_list.count()):
            item = self.runs_list.item(i)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in ids else Qt.Unchecked)

    def show_runs(self, ids: list[str]) -> None:
        """Plot exactly these runs (the Runs tab's selection)."""
        if not ids:
            return
        self.runs_list.blockSignals(True)
        self._set_checked(set(ids))
        self.runs_list.blockSignals(False)
        self._on_checked()

    def checked(self) -> set[str]:
        return {self.runs_list.item(i).data(Qt.UserRole) for i in range(self.runs_list.count())
                if self.runs_list.item(i).checkState() == Qt.Checked}

    def _on_checked(self, *_: object) -> None:
        ids = self.checked()
        for rid in set(self.buffers) - ids:
            self._drop(rid)
        for rid in ids - set(self.buffers):
            self.buffers[rid] = RunMetrics()
        self.watched_changed.emit(ids)

    def _drop(self, rid: str) -> None:
        self.buffers.pop(rid, None)
        self._painted.pop(rid, None)
        for key in [k for k in self._curves if k[0] == rid]:
            curve = self._curves.pop(key)
            for p in self.plots.values():
                if curve in p.items:
                    p.removeItem(curve)

    # -- data and painting ------------------------------------------------------------
    def add_metrics(self, run_id: str, rows: list[dict]) -> None:
        buf = self.buffers.get(run_id)
        if buf is not None:  # rows for a run unchecked meanwhile are dropped
            buf.add(rows)

    def point_count(self, run_id: str) -> int:
        buf = self.buffers.get(run_id)
        return 0 if buf is None else len(buf.step) + len(buf.epoch)

    def _replot_all(self, *_: object) -> None:
        self._painted.clear()
        self.plots["Learning rate"].setLabel("bottom", self.x_axis.currentText())
        self.repaint_curves()
        for p in self.plots.values():
            p.enableAutoRange()

    def repaint_curves(self) -> None:
        """The timer's tick: redraw only runs whose buffers changed since the last frame."""
        x = self.x_axis.currentText()
        order = sorted(self.buffers)
        for rid in order:
            buf = self.buffers[rid]
            if self._painted.get(rid) == buf.version:
                continue
            self._painted[rid] = buf.version
            # A run keeps its colour for the session, whatever else is checked.
            colour = PALETTE[self._colours.setdefault(rid, len(self._colours)) % len(PALETTE)]
            for title, _, series in PLOTS:
                for metric, suffix, dashed in series:
                    xs, ys = buf.series(metric, x)
                    self._curve(rid, title, metric, suffix, colour, dashed).setData(xs, ys)
        if any(self._painted.get(r) is not None for r in order):
            self._fit_lr_range()
        total = sum(self.point_count(r) for r in order)
        self.points.setText(f"{len(order)} runs, {total:,} points")

    def _fit_lr_range(self) -> None:
        """A constant learning rate is a flat line, which pyqtgraph pads by ±0.5: pin 0..max."""
        top = 0.0
        for (_rid, metric), curve in self._curves.items():
            if metric == "lr" and curve.yData is not None and len(curve.yData):
                top = max(top, float(np.nanmax(curve.yData)))
        if top > 0:
            self.plots["Learning rate"].setYRange(0, top * 1.1, padding=0)

    def _curve(self, rid: str, title: str, metric: str, suffix: str, colour: str,
               dashed: bool) -> pg.PlotDataItem:
        key = (rid, metric)
        if key not in self._curves:
            pen = pg.mkPen(colour, width=2, style=Qt.DashLine if dashed else Qt.SolidLine)
            name = f"{self._names.get(rid, rid)} {suffix}".strip()
            self._curves[key] = self.plots[title].plot([], [], pen=pen, name=name)
        return self._curves[key]
