"""The System tab: the machine now (each GPU's utilisation, memory, temperature and
power; CPU and RAM) and the samples a selected run recorded while it trained.

Machine figures come from `kagglebench.telemetry.read_system()`, called by the
poller thread once a second; a run's samples are the store's `system_samples`
rows. Without NVML or a GPU the tab says "No GPU found" and shows the CPU.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from kagglebench_gui.labels import run_label

HISTORY_S = 300  # seconds of live history kept on screen
GB = 1024 ** 3
# (key in a GPU dict, plot title, unit, scale)
GPU_FIELDS = [("gpu_util", "utilisation", "%", 1.0), ("gpu_mem_used", "memory", "GB", 1 / GB),
              ("gpu_temp", "temperature", "°C", 1.0), ("gpu_power", "power", "W", 1.0)]


class SystemTab(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.time()
        self.live: dict[str, deque] = defaultdict(lambda: deque(maxlen=HISTORY_S * 2))
        self.run_samples: dict[str, list[dict]] = defaultdict(list)
        self.gpu_label = QLabel("Waiting for the first reading…")
        self.gpu_label.setWordWrap(True)
        self.machine = pg.GraphicsLayoutWidget()
        self._live_curves: dict[str, pg.PlotDataItem] = {}
        self._gpu_rows: set[int] = set()
        self._gpu_plots: dict[tuple[int, str], pg.PlotItem] = {}
        self.cpu_plot = self._plot(self.machine, 0, 0, "CPU (whole machine)", "%", colspan=2)
        self.cpu_plot.setYRange(0, 100)
        self.ram_plot = self._plot(self.machine, 0, 2, "RAM used", "GB", colspan=2)
        self.run_pick = QComboBox()
        self.run_pick.setToolTip("Samples recorded by this run's training process")
        self.run_pick.currentIndexChanged.connect(self._draw_run)
        self.run_view = pg.GraphicsLayoutWidget()
        self.run_util = self._plot(self.run_view, 0, 0, "Run: GPU utilisation / process CPU", "%")
        self.run_util.addLegend(offset=(-10, 10))
        self.run_mem = self._plot(self.run_view, 0, 1, "Run: process memory (RSS) / GPU memory", "GB")
        self.run_mem.addLegend(offset=(-10, 10))
        for p in (self.run_util, self.run_mem):
            p.setLabel("bottom", "seconds since the run started")
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.gpu_label)
        tl.addWidget(self.machine)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Recorded by run"))
        row.addWidget(self.run_pick, 1)
        bl.addLayout(row)
        bl.addWidget(self.run_view)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setSizes([500, 300])
        QVBoxLayout(self).addWidget(self.splitter)

    @staticmethod
    def _plot(glw: pg.GraphicsLayoutWidget, row: int, col: int, title: str, unit: str,
              colspan: int = 1) -> pg.PlotItem:
        p = glw.addPlot(row=row, col=col, colspan=colspan, title=title)
        p.setLabel("left", unit)
        p.getAxis("left").enableAutoSIPrefix(False)
        p.setLabel("bottom", "seconds")
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setDownsampling(auto=True)
        p.setClipToView(True)
        return p

    # -- live machine figures -----------------------------------------------------------
    def add_system(self, d: dict) -> None:
        t = time.time() - self.t0
        self._push("cpu", t, d.get("cpu_percent"), self.cpu_plot, "#1f77b4")
        ram = d.get("ram_used")
        self._push("ram", t, None if ram is None else ram / GB, self.ram_plot, "#ff7f0e")
        if d.get("ram_total"):
            self.ram_plot.setYRange(0, d["ram_total"] / GB)
        gpus = d.get("gpus") or []
        if not gpus:
            cores = d.get("cpu_count")
            self.gpu_label.setText("<b>No GPU found</b> (no NVIDIA driver or NVML): training runs on the CPU"
                                   + (f", {cores} cores." if cores else "."))
            return
        names = ", ".join(f"GPU {g['gpu']}: {g.get('name') or '?'}" for g in gpus)
        self.gpu_label.setText(names)
        for g in gpus:
            self._ensure_gpu_row(g["gpu"])
            for key, _title, _unit, scale in GPU_FIELDS:
                v = g.get(key)
                self._push(f"gpu{g['gpu']}.{key}", t, None if v is None else v * scale, None, "#2ca02c")
            if g.get("gpu_mem_total"):
                self._gpu_plots[(g["gpu"], "gpu_mem_used")].setYRange(0, g["gpu_mem_total"] / GB)

    def _ensure_gpu_row(self, index: int) -> None:
        if index in self._gpu_rows:
            return
        self._gpu_rows.add(index)
        row = len(self._gpu_rows)
        for col, (key, title, unit, _s) in enumerate(GPU_FIELDS):
            p = self._plot(self.machine, row, col, f"GPU {index} {title}", unit)
            if key == "gpu_util":
                p.setYRange(0, 100)
            self._gpu_plots[(index, key)] = p

    def _push(self, key: str, t: float, v: float | None, plot: pg.PlotItem | None, colour: str) -> None:
        if v is None:
            return
        buf = self.live[key]
        buf.append((t, v))
        if key not in self._live_curves:
            if plot is None:
                gpu, field = key[3:].split(".", 1)
                plot = self._gpu_plots[(int(gpu), field)]
            self._live_curves[key] = plot.plot([], [], pen=pg.mkPen(colour, width=2))
        arr = np.asarray(buf)
        self._live_curves[key].setData(arr[:, 0], arr[:, 1])

    # -- samples recorded by runs ---------------------------------------------------------
    def set_runs(self, runs: list[dict]) -> None:
        current = self.run_pick.currentData()
        self.run_pick.blockSignals(True)
        self.run_pick.clear()
        for r in reversed(runs):
            self.run_pick.addItem(f"{run_label(r)} ({r['status']})", r["id"])
        i = self.run_pick.findData(current)
        self.run_pick.setCurrentIndex(max(i, 0))
        self.run_pick.blockSignals(False)
        if self.run_pick.currentData() != current:  # new samples redraw through add_samples
            self._draw_run()

    def select_run(self, run_id: str) -> None:
        i = self.run_pick.findData(run_id)
        if i >= 0:
            self.run_pick.setCurrentIndex(i)

    def add_samples(self, rows: list[dict]) -> None:
        touched = set()
        for r in rows:
            if r.get("run_id"):
                self.run_samples[r["run_id"]].append(r)
                touched.add(r["run_id"])
        if self.run_pick.currentData() in touched:
            self._draw_run()

    def _draw_run(self, *_: object) -> None:
        rid = self.run_pick.currentData()
        for p in (self.run_util, self.run_mem):
            p.clear()
        rows = self.run_samples.get(rid) or []
        if not rows:
            msg = pg.TextItem("no samples recorded by this run", color="#888888", anchor=(0.5, 0.5))
            self.run_util.addItem(msg)
            msg.setPos(0.5, 0.5)
            return
        t0 = rows[0]["time"]
        series = [(self.run_util, "gpu_util", "GPU util", 1.0, "#2ca02c"),
                  (self.run_util, "cpu_percent", "process CPU", 1.0, "#1f77b4"),
                  (self.run_mem, "rss", "RSS", 1 / GB, "#ff7f0e"),
                  (self.run_mem, "gpu_mem_used", "GPU memory", 1 / GB, "#9467bd")]
        tops = {}
        for plot, key, name, scale, colour in series:
            pts = [(r["time"] - t0, r[key] * scale) for r in rows if r.get(key) is not None]
            if pts:
                arr = np.asarray(pts)
                plot.plot(arr[:, 0], arr[:, 1], pen=pg.mkPen(colour, width=2), name=name)
                tops[id(plot)] = max(tops.get(id(plot), 0.0), float(arr[:, 1].max()))
        # From zero: a few MB of jitter on a 2 GB process must not fill the plot's height.
        self.run_util.setYRange(0, max(100.0, tops.get(id(self.run_util), 0.0)), padding=0.02)
        if tops.get(id(self.run_mem)):
            self.run_mem.setYRange(0, tops[id(self.run_mem)] * 1.1, padding=0)
