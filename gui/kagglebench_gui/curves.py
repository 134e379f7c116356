"""The Live curves tab: loss, accuracy, learning rate, top-5 accuracy and images/s of the
ticked runs, overlaid, as in TensorBoard.

Rows arrive from the poller thread already as numpy columns (series.read_block); a long
run is first drawn from the store's per-bucket summary and then from its rows as they
load. Each frame draws only what changed, and only a min and a max per pixel column of
what is on screen (series.decimate), so a million-point run costs what a few thousand do.
Smoothing is TensorBoard's debiased EMA, kept up to date as rows arrive.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.labels import run_colour, run_label, run_study
from kagglebench_gui.series import ColumnSet, Trace, decimate, overview_curve

FPS = 30
LIVE_INTERVAL_S = 1.0  # new rows of a growing run are drawn at most once a second
# (plot title, y label, [(metric, legend word, dashed)], log toggle offered)
PLOTS = [
    ("Loss", "loss", [("train_loss", "train", False), ("val_loss", "val", True)], True),
    ("Accuracy", "accuracy", [("train_acc", "train", False), ("val_acc", "val", True)], False),
    ("Learning rate", "lr", [("lr", "", False)], True),
    ("Top-5 accuracy", "top-5", [("val_top5", "val", True)], False),
    ("Images/s", "images/s", [("images_per_s", "", False)], False),
]
STEP_METRICS = ("train_loss", "train_acc", "lr", "images_per_s")  # logged per step when the trainer does
X_MODES = {"step": "step", "epoch": "epoch", "wall time": "time", "relative time (h)": "time"}


class RunData:
    """What the tab holds for one ticked run."""

    def __init__(self) -> None:
        self.step = ColumnSet()
        self.epoch = ColumnSet()
        self.overview: dict | None = None  # a long run's summary until its rows have loaded
        self.loaded = False

    @property
    def t0(self) -> float:
        firsts = [cs.column("time")[0] for cs in (self.step, self.epoch) if cs.n]
        if self.overview is not None:
            firsts.append(float(np.nanmin(self.overview["time"][0])))
        return min(firsts) if firsts else 0.0


class CurvesTab(QWidget):
    """`watched_changed` carries the run ids whose metrics the poller should stream."""

    watched_changed = Signal(set)

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, RunData] = {}
        self.traces: dict[tuple[str, str], Trace] = {}
        self._items: dict[tuple[str, str], tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._painted: dict[tuple[str, str], tuple] = {}
        self.runs: dict[str, dict] = {}
        self._dirty = True        # something the user did: draw at the next frame
        self._new_rows = False    # only new rows arrived: draw at the live pace
        self._last_paint, self._paint_cost = 0.0, 0.0
        self.hover_x: float | None = None

        self.runs_list = QListWidget()
        self.runs_list.itemChanged.connect(self._on_checked)
        self.follow = QCheckBox("Follow new runs")
        self.follow.setChecked(True)
        self.follow.setToolTip("Tick runs as they start, so a new run appears without a click")
        self.study = QComboBox()
        self.study.setToolTip("Plot the trials of one `kagglebench tune` study together")
        self.study.activated.connect(self._pick_study)
        self.x_axis = QComboBox()
        self.x_axis.addItems(list(X_MODES))
        self.x_axis.setCurrentText("step")
        self.x_axis.setToolTip("Plot against optimizer steps, epochs, the clock, or hours since each run "
                               "started (Ctrl+E cycles)")
        self.x_axis.currentTextChanged.connect(self._x_mode_changed)
        self.smoothing = QSlider(Qt.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setToolTip("Exponential moving average of step curves, as TensorBoard's "
                                  "(the raw curve stays faint behind)")
        self.smoothing_label = QLabel()
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_boxes: dict[str, QCheckBox] = {}
        self.points = QLabel()
        self.readout = QLabel("Hover over a plot to read every run's values at that point.")
        self.readout.setTextFormat(Qt.RichText)
        self.readout.setWordWrap(True)
        self.readout.setMinimumHeight(40)
        self.empty_hint = QLabel("No run to plot yet: start one from the Runs tab (Ctrl+N).")
        self.empty_hint.setAlignment(Qt.AlignCenter)

        self.glw = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.hover_lines: list[pg.InfiniteLine] = []
        for i, (title, ylabel, _series, can_log) in enumerate(PLOTS):
            p = self.glw.addPlot(row=i // 2, col=i % 2, title=title)
            p.setLabel("left", ylabel)
            p.getAxis("left").enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads badly
            # Horizontal lines at the major ticks only, as W&B draws them: pyqtgraph's full grid
            # (every tick level, both axes) cost more to paint than a million-point run's curves.
            p.showGrid(x=False, y=True, alpha=0.2)
            p.getAxis("left").setStyle(maxTickLevel=0)
            if i:
                p.setXLink(self.plots[PLOTS[0][0]])
            p.getViewBox().sigXRangeChanged.connect(self._mark_dirty)
            p.getViewBox().sigResized.connect(self._mark_dirty)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888888", style=Qt.DotLine))
            line.hide()
            p.addItem(line, ignoreBounds=True)
            self.hover_lines.append(line)
            self.plots[title] = p
            if can_log:
                box = QCheckBox(f"log {ylabel}")
                box.toggled.connect(lambda on, t=title: self.set_log(t, on))
                self.log_boxes[title] = box
        # Legends live outside the data: one cell of their own, one entry per run.
        self.legend = pg.LegendItem()
        self.glw.addItem(self.legend, row=len(PLOTS) // 2, col=1)
        self._legend_ids: list[str] = []
        self._flat_pinned: set[str] = set()
        self._hover_proxy = pg.SignalProxy(self.glw.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)
        self._set_x_label()

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Runs to plot"))
        ll.addWidget(self.runs_list, 1)
        ll.addWidget(self.follow)
        form = QFormLayout()
        form.addRow("Study", self.study)
        form.addRow("x axis", self.x_axis)
        srow = QHBoxLayout()
        srow.addWidget(self.smoothing, 1)
        srow.addWidget(self.smoothing_label)
        form.addRow("Smoothing", srow)
        logs = QHBoxLayout()
        for box in self.log_boxes.values():
            logs.addWidget(box)
        form.addRow("Scale", logs)
        ll.addLayout(form)
        ll.addWidget(self.points)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.readout)
        rl.addWidget(self.empty_hint)
        rl.addWidget(self.glw, 1)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([260, 900])
        QVBoxLayout(self).addWidget(self.splitter)
        self._smoothing_changed(self.smoothing.value())
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // FPS)
        self.timer.timeout.connect(self.repaint_curves)
        self.timer.start()

    # -- run list -------------------------------------------------------------------
    def set_runs(self, runs: list[dict]) -> None:
        """Keep the list in step with the store. The first time, tick the running runs (or
        the latest one); later, tick new runs as they start when "Follow new runs" is on."""
        first = not self.runs
        old = set(self.runs)
        self.runs = {r["id"]: r for r in runs}
        known = {self.runs_list.item(i).data(Qt.UserRole): self.runs_list.item(i)
                 for i in range(self.runs_list.count())}
        self.runs_list.blockSignals(True)
        for rid, item in known.items():
            if rid not in self.runs:
                self.runs_list.takeItem(self.runs_list.row(item))
        for r in runs:
            item = known.get(r["id"])
            if item is None:
                item = QListWidgetItem()
                item.setData(Qt.UserRole, r["id"])
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Unchecked)
                item.setIcon(_swatch(run_colour(r["id"])))
                self.runs_list.addItem(item)
            item.setText(f"{run_label(r)}  ({r['status']})")
            item.setToolTip(item.text() + (f"\n{r['note']}" if r.get("note") else ""))
        if first and runs:
            pick = [r["id"] for r in runs if r["status"] == "running"] or [runs[-1]["id"]]
            self._set_checked(set(pick), add=False)
        elif self.follow.isChecked():
            new = [r["id"] for r in runs if r["id"] not in old and r["status"] == "running"]
            if new:
                self._set_checked(set(new), add=True)
        self.runs_list.blockSignals(False)
        self._fill_studies()
        self._on_checked()

    def _fill_studies(self) -> None:
        studies = sorted({s for r in self.runs.values() if (s := run_study(r))})
        current = self.study.currentData()
        self.study.blockSignals(True)
        self.study.clear()
        self.study.addItem("—", None)
        for s in studies:
            n = sum(run_study(r) == s for r in self.runs.values())
            self.study.addItem(f"{s} ({n} trials)", s)
        self.study.setCurrentIndex(max(0, self.study.findData(current)))
        self.study.blockSignals(False)
        self.study.setEnabled(bool(studies))

    def _pick_study(self, *_: object) -> None:
        study = self.study.currentData()
        if study:
            self.show_study(study)

    def show_study(self, study: str) -> None:
        """Overlay every trial of an Optuna study (and nothing else)."""
        self.show_runs([rid for rid, r in self.runs.items() if run_study(r) == study], add=False)

    def _set_checked(self, ids: set[str], add: bool) -> None:
        for i in range(self.runs_list.count()):
            item = self.runs_list.item(i)
            if item.data(Qt.UserRole) in ids:
                item.setCheckState(Qt.Checked)
            elif not add:
                item.setCheckState(Qt.Unchecked)

    def show_runs(self, ids: list[str], add: bool = True) -> None:
        """Tick these runs (added to the ticked ones, or instead of them)."""
        if not ids and add:
            return
        self.runs_list.blockSignals(True)
        self._set_checked(set(ids), add=add)
        self.runs_list.blockSignals(False)
        self._on_checked()

    def checked(self) -> set[str]:
        return {self.runs_list.item(i).data(Qt.UserRole) for i in range(self.runs_list.count())
                if self.runs_list.item(i).checkState() == Qt.Checked}

    def _on_checked(self, *_: object) -> None:
        ids = self.checked()
        for rid in set(self.data) - ids:
            self._drop(rid)
        added = ids - set(self.data)
        for rid in added:
            self.data[rid] = RunData()
        if added or len(ids) != len(self._legend_ids):
            self._dirty = True
        self.empty_hint.setVisible(not self.runs)
        if ids != getattr(self, "_watched", None):
            self._watched = ids
            self.watched_changed.emit(ids)

    def _drop(self, rid: str) -> None:
        self.data.pop(rid, None)
        for key in [k for k in self.traces if k[0] == rid]:
            self.traces.pop(key)
        for key in [k for k in self._items if k[0] == rid]:
            for item in self._items.pop(key):
                for p in self.plots.values():
                    if item in p.items:
                        p.removeItem(item)
            self._painted.pop(key, None)
        self._dirty = True

    # -- data arriving from the poller ------------------------------------------------
    def add_overview(self, run_id: str, ov: dict) -> None:
        d = self.data.get(run_id)
        if d is not None and not d.loaded:
            d.overview = ov
            self._dirty = True
            self.repaint_curves(force=True)  # the first picture of a long run, at once

    def add_metrics(self, run_id: str, block: dict) -> None:
        d = self.data.get(run_id)
        if d is None:  # rows for a run unticked meanwhile are dropped
            return
        d.step.append(block.get("step"))
        d.epoch.append(block.get("epoch"))
        if block.get("caught_up", True) and not d.loaded:
            d.loaded, d.overview = True, None
            self._dirty = True
        if d.loaded:
            for (rid, _m), tr in self.traces.items():
                if rid == run_id:
                    tr.update()
        self._new_rows = True

    def point_count(self, run_id: str) -> int:
        d = self.data.get(run_id)
        return 0 if d is None else d.step.n + d.epoch.n

    # -- controls ------------------------------------------------------------------------
    def weight(self) -> float:
        return self.smoothing.value() / 100

    def _smoothing_changed(self, v: int) -> None:
        self.smoothing_label.setText(f"{v / 100:.2f}")
        for tr in self.traces.values():
            if tr.source is not None and tr.metric in STEP_METRICS:
                tr.set_weight(self.weight())
        self._painted.clear()
        self._dirty = True

    def x_mode(self) -> str:
        return X_MODES[self.x_axis.currentText()]

    def _x_mode_changed(self, *_: object) -> None:
        self._set_x_label()
        self._painted.clear()
        self._dirty = True
        self.repaint_curves(force=True)
        for p in self.plots.values():
            p.enableAutoRange()

    def _set_x_label(self) -> None:
        text = self.x_axis.currentText()
        for p in self.plots.values():
            wall = text == "wall time"
            if wall != isinstance(p.getAxis("bottom"), pg.DateAxisItem):
                p.setAxisItems({"bottom": pg.DateAxisItem() if wall else pg.AxisItem("bottom")})
            p.setLabel("bottom", {"relative time (h)": "hours since the run started"}.get(text, text))

    def cycle_x(self) -> None:
        self.x_axis.setCurrentIndex((self.x_axis.currentIndex() + 1) % self.x_axis.count())

    def set_log(self, title: str, on: bool) -> None:
        p = self.plots[title]
        p.setLogMode(y=on)
        p.enableAutoRange(y=True)
        self._painted.clear()
        self._dirty = True
        self.repaint_curves(force=True)

    def _mark_dirty(self, *_: object) -> None:
        self._dirty = True

    # -- painting --------------------------------------------------------------------------
    def _trace(self, rid: str, metric: str) -> Trace | None:
        d = self.data[rid]
        src = d.step if metric in STEP_METRICS and _has(d.step, metric) else d.epoch
        key = (rid, metric)
        tr = self.traces.get(key)
        if tr is None or tr.source is not src:
            tr = Trace(src, metric, self.weight() if src is d.step else 0.0)
            self.traces[key] = tr
        if d.loaded:
            tr.update()
        return tr

    def _view(self, p: pg.PlotItem) -> tuple[float | None, float | None, int]:
        """The x range on screen (None, None while x follows the data) and the plot's width
        in pixels. The x axes are linked, so the first plot decides whether x follows."""
        cols = max(100, int(p.getViewBox().width()) or 800)
        master = self.plots[PLOTS[0][0]].getViewBox()
        if master.autoRangeEnabled()[0]:
            return None, None, cols
        lo, hi = master.viewRange()[0]
        return lo, hi, cols

    def repaint_curves(self, force: bool = False) -> None:
        """The timer's tick: redraw what changed. What the user does is drawn at the next
        frame; rows arriving from a growing run at most once a second (and less often when
        drawing takes long), which keeps a live million-point run cheap."""
        now = time.perf_counter()
        since = now - self._last_paint
        due = force or (self._dirty and since >= 1 / FPS) or (
            self._new_rows and since >= max(LIVE_INTERVAL_S, 10 * self._paint_cost))
        if not due:
            return
        self._dirty = self._new_rows = False
        self._last_paint = now
        mode, text = self.x_mode(), self.x_axis.currentText()
        w = self.weight()
        for title, _ylabel, series, _log in PLOTS:
            p = self.plots[title]
            lo, hi, cols = self._view(p)
            for rid in sorted(self.data):
                d = self.data[rid]
                shift = d.t0 if text.startswith("relative") else 0.0
                scale = 3600.0 if text.startswith("relative") else 1.0
                for metric, _word, dashed in series:
                    raw_item, smooth_item = self._pair(rid, title, metric, dashed)
                    if d.overview is not None and not d.loaded and metric in STEP_METRICS:
                        key = ("overview", mode, text, w, id(d.overview))
                        if self._painted.get((rid, metric)) == key:
                            continue
                        self._painted[(rid, metric)] = key
                        ex, ey, mx, sm = overview_curve(d.overview, metric, mode, w)
                        raw_item.setData((ex - shift) / scale, ey)
                        smooth_item.setData((mx - shift) / scale, sm)
                        continue
                    tr = self._trace(rid, metric)
                    xs = tr.x[mode].values
                    vlo = None if lo is None else lo * scale + shift
                    vhi = None if hi is None else hi * scale + shift
                    key = (tr.version, mode, text, w, vlo, vhi, cols)
                    if self._painted.get((rid, metric)) == key:
                        continue
                    self._painted[(rid, metric)] = key
                    smoothed = tr.source is d.step and w > 0
                    rx, ry = decimate(xs, tr.y.values, vlo, vhi, cols)
                    raw_item.setData((rx - shift) / scale, ry)
                    if smoothed:
                        sx, sy = decimate(xs, tr.smooth.values, vlo, vhi, cols)
                        smooth_item.setData((sx - shift) / scale, sy)
                    else:
                        smooth_item.setData([], [])
            self._fix_flat(title)
        self._update_legend()
        total = sum(self.point_count(r) for r in self.data)
        loading = sum(1 for d in self.data.values() if not d.loaded)
        self.points.setText(f"{len(self.data)} runs, {total:,} points"
                            + (f" ({loading} loading)" if loading else ""))
        if self.hover_x is not None:
            self.set_hover_x(self.hover_x)
        self._paint_cost = time.perf_counter() - now

    def _pair(self, rid: str, title: str, metric: str, dashed: bool) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        """The faint raw curve and the smoothed one drawn over it."""
        key = (rid, metric)
        if key not in self._items:
            colour = QColor(run_colour(rid))
            faint = QColor(colour)
            faint.setAlpha(70)
            style = Qt.DashLine if dashed else Qt.SolidLine
            p = self.plots[title]
            # Thin raw lines and a segmented smooth line: an antialiased 2-pixel stroke of a
            # noisy path costs Qt's stroker seconds per frame; these cost milliseconds.
            raw = p.plot([], [], pen=pg.mkPen(faint, width=1, style=style))
            smooth = p.plot([], [], pen=pg.mkPen(colour, width=2, style=style))
            smooth.curve.opts["segmentedLineMode"] = "on"
            if dashed:  # validation points are few: mark them
                raw.setPen(pg.mkPen(colour, width=2, style=style))
                raw.setSymbol("o")
                raw.setSymbolSize(5)
                raw.setSymbolBrush(colour)
                raw.setSymbolPen(colour)
            self._items[key] = (raw, smooth)
        return self._items[key]

    def _fix_flat(self, title: str) -> None:
        """A constant series (a fixed learning rate) is a flat line, and pyqtgraph does not
        autorange to a zero-height range: it keeps the old one, which after a switch to log
        scale shows nothing. Show a flat line from 0 (linear) or within a decade (log); a
        user's zoom is left alone."""
        p = self.plots[title]
        vb = p.getViewBox()
        ys = [it.yData for it in p.listDataItems() if it.yData is not None and len(it.yData)]
        if not ys:
            return
        lo = min(float(np.nanmin(y)) for y in ys)
        hi = max(float(np.nanmax(y)) for y in ys)
        log = bool(getattr(p.getAxis("left"), "logMode", False))
        flat = hi > 0 and hi - lo <= 1e-9 * hi and (lo > 0 or not log)
        if flat and (vb.autoRangeEnabled()[1] or title in self._flat_pinned):
            if log:
                vb.setYRange(np.log10(hi) - 0.5, np.log10(hi) + 0.5, padding=0)
            else:
                vb.setYRange(0, hi * 1.15, padding=0)
            self._flat_pinned.add(title)
        elif not flat and title in self._flat_pinned:
            self._flat_pinned.discard(title)
            vb.enableAutoRange(y=True)

    def _update_legend(self) -> None:
        ids = sorted(self.data)
        if ids == self._legend_ids and all(self.runs.get(r) for r in ids):
            return
        self._legend_ids = ids
        self.legend.clear()
        for rid in ids:
            sample = pg.PlotDataItem(pen=pg.mkPen(run_colour(rid), width=3))
            run = self.runs.get(rid, {"id": rid})
            self.legend.addItem(sample, run_label(run))
        if ids:
            self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen("#888888", width=2)), "solid: train")
            self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen("#888888", width=2, style=Qt.DashLine)),
                                "dashed: validation")

    # -- hover readout -------------------------------------------------------------------------
    def _mouse_moved(self, evt: tuple) -> None:
        pos = evt[0]
        for p in self.plots.values():
            if p.sceneBoundingRect().contains(pos):
                self.set_hover_x(p.getViewBox().mapSceneToView(pos).x())
                return

    def set_hover_x(self, x: float) -> None:
        """Crosshair at x in every plot and each plotted run's values there."""
        self.hover_x = x
        for line in self.hover_lines:
            line.setPos(x)
            line.show()
        text = self.x_axis.currentText()
        mode, w = self.x_mode(), self.weight()
        rel = text.startswith("relative")
        lines = []
        for rid in sorted(self.data):
            d = self.data[rid]
            xx = x * 3600 + d.t0 if rel else x
            vals = []
            for metric, label in (("train_loss", "loss"), ("val_loss", "val loss"), ("train_acc", "acc"),
                                  ("val_acc", "val acc"), ("val_top5", "top-5"), ("lr", "lr"),
                                  ("images_per_s", "img/s")):
                tr = self.traces.get((rid, metric))
                if tr is None or not len(tr):
                    continue
                v = tr.value_at(mode, xx, smoothed=tr.source is d.step and w > 0)
                if v is None:
                    continue
                vals.append(f"{label} {_fmt(metric, v)}")
            if vals:
                name = run_label(self.runs.get(rid, {"id": rid}), changes=False)
                lines.append(f"<span style='color:{run_colour(rid)}'>■</span> <b>{name}</b>: " + ", ".join(vals))
        where = _fmt_x(text, x)
        self.readout.setText(f"at {where}<br>" + "<br>".join(lines) if lines else f"at {where}: no data")


def _has(cs: ColumnSet, metric: str) -> bool:
    return cs.n > 0 and bool(np.isfinite(cs.column(metric)).any())


def _fmt(metric: str, v: float) -> str:
    if metric.endswith("acc") or metric == "val_top5":
        return f"{100 * v:.2f}%"
    if metric == "images_per_s":
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _fmt_x(text: str, x: float) -> str:
    if text == "wall time":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x))
    if text.startswith("relative"):
        return f"{x:.2f} h"
    return f"{text} {x:,.0f}" if text == "step" else f"{text} {x:.2f}"


def _swatch(colour: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(colour))
    return QIcon(pm)
