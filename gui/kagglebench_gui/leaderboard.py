"""The Leaderboard tab: my public scores over time, local estimate against public
score, the latest leaderboard snapshot with my rank, and each submission's details.

Rows come from the store (poller signals). The Sync button runs
`kagglebench submissions --sync --json` and `kagglebench leaderboard --sync --json`
as subprocesses on the task pool, so the network never blocks the window; the
poller then sees the new rows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.labels import fmt_pct
from kagglebench_gui.workers import TaskPool, run_cli

SUB_COLUMNS = ["When", "Message", "Status", "Public", "Private", "Local val", "Local OOD", "Members", "CSV"]


def submission_time(s: dict) -> float:
    """Kaggle's date when known (submissions made elsewhere), else when we recorded it."""
    if s.get("kaggle_date"):
        try:
            return dt.datetime.fromisoformat(s["kaggle_date"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return float(s["created"])


def best_so_far(times: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running maximum of public scores in time order (higher is better)."""
    order = np.argsort(times)
    return times[order], np.maximum.accumulate(scores[order])


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Least-squares slope and intercept of public score on local estimate (None below 2 points)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _item(text: str, sort_key: float | str | None = None) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    if sort_key is not None:
        it.setData(Qt.UserRole, sort_key)
    it.setFlags(it.flags() & ~Qt.ItemIsEditable)
    return it


def _score(v: float | None) -> str:
    """Scores and estimates in the same format as the Runs tab's accuracies."""
    return fmt_pct(v)


class LeaderboardTab(QWidget):
    sync_finished = Signal(str)  # a line for the status bar
    sync_failed = Signal(str)    # the whole error, for the window's banner

    def __init__(self, tasks: TaskPool, ws_root: Path) -> None:
        super().__init__()
        self.tasks, self.ws_root = tasks, ws_root
        self.submissions: list[dict] = []
        self.snapshot: dict | None = None
        self.sync_button = QPushButton("Sync with Kaggle")
        self.sync_button.setToolTip("Fetch my submissions' scores and the public leaderboard (F5)")
        self.sync_button.clicked.connect(self.sync)
        self.summary = QLabel("No submissions yet.")
        self.plots = pg.GraphicsLayoutWidget()
        self.time_plot = self.plots.addPlot(row=0, col=0, title="My public scores over time",
                                            axisItems={"bottom": pg.DateAxisItem()})
        self.time_plot.addLegend(offset=(-10, -10))
        self.fit_plot = self.plots.addPlot(row=0, col=1, title="Local OOD estimate vs public score")
        self.fit_plot.setLabel("bottom", "local estimate")
        self.fit_plot.setLabel("left", "public score")
        for p in (self.time_plot, self.fit_plot):
            p.showGrid(x=True, y=True, alpha=0.25)
            for side in ("left", "bottom"):
                p.getAxis(side).enableAutoSIPrefix(False)
        self.board = QTableWidget(0, 4)
        self.board.setHorizontalHeaderLabels(["Rank", "Team", "Score", "Date"])
        self.subs = QTableWidget(0, len(SUB_COLUMNS))
        self.subs.setHorizontalHeaderLabels(SUB_COLUMNS)
        for t in (self.board, self.subs):
            t.verticalHeader().hide()
            t.setSelectionBehavior(QAbstractItemView.SelectRows)
            t.horizontalHeader().setStretchLastSection(True)
            t.setAlternatingRowColors(True)
        self.board_label = QLabel("Latest leaderboard: not synced yet")
        board_box = QWidget()
        bl = QVBoxLayout(board_box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.board_label)
        bl.addWidget(self.board)
        subs_box = QWidget()
        sl = QVBoxLayout(subs_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("My submissions"))
        sl.addWidget(self.subs)
        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(subs_box)
        lower.addWidget(board_box)
        lower.setSizes([700, 350])
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(lower)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.sync_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.splitter)

    # -- sync -------------------------------------------------------------------------
    def sync(self) -> None:
        if not self.sync_button.isEnabled():
            return
        self.sync_button.setEnabled(False)
        self.sync_button.setText("Syncing…")
        root = self.ws_root

        def work() -> str:
            subs = run_cli(root, ["submissions", "--sync", "--json"])["json"] or []
            run_cli(root, ["leaderboard", "--sync", "--json"])
            return f"synced with Kaggle: {len(subs)} submissions"

        self.tasks.submit(work, self._sync_done, self._sync_error)

    def _sync_error(self, msg: str) -> None:
        self._sync_done("sync with Kaggle failed (details above the tabs)")
        self.sync_failed.emit(f"Sync with Kaggle failed: {msg}")

    def _sync_done(self, msg: str) -> None:
        self.sync_button.setEnabled(True)
        self.sync_button.setText("Sync with Kaggle")
        self.sync_finished.emit(msg)

    # -- data ---------------------------------------------------------------------------
    def set_submissions(self, subs: list[dict]) -> None:
        self.submissions = subs
        self._fill_submissions()
        self._draw()

    def set_snapshot(self, snap: dict | None) -> None:
        self.snapshot = snap
        self._fill_board()
        self._draw()

    def _fill_submissions(self) -> None:
        self.subs.setSortingEnabled(False)
        self.subs.setRowCount(len(self.submissions))
        for i, s in enumerate(sorted(self.submissions, key=submission_time, reverse=True)):
            when = dt.datetime.fromtimestamp(submission_time(s)).strftime("%Y-%m-%d %H:%M")
            members = ", ".join(f"{m.get('run', '?')}:{m.get('checkpoint', '')}".rstrip(":")
                                for m in s.get("members") or []) or ("made on Kaggle" if s.get("source") == "kaggle"
                                                                     else "—")
            status = s["status"] + (f": {s['error']}" if s.get("error") else "")
            cells = [when, s.get("message") or "", status, _score(s.get("public_score")),
                     _score(s.get("private_score")), _score(s.get("local_estimate")),
                     _score(s.get("ood_estimate")), members, Path(s["file"]).name]
            for c, text in enumerate(cells):
                it = _item(text)
                if c == 0:
                    it.setToolTip(json.dumps({k: s.get(k) for k in ("ref", "sha256", "rows", "file")}, indent=1))
                if c == 2 and (s["status"] == "error" or str(s["status"]).startswith("failed")):
                    it.setForeground(QBrush(QColor("#d9534f")))
                self.subs.setItem(i, c, it)
        self.subs.resizeColumnsToContents()
        scored = [s for s in self.submissions if s.get("public_score") is not None]
        best = max((s["public_score"] for s in scored), default=None)
        self.summary.setText(f"{len(self.submissions)} submissions, {len(scored)} scored"
                             + (f", best public score {fmt_pct(best)}" if best is not None else "")
                             + (f" · my rank {self.snapshot['my_rank']}" if self.snapshot and
                                self.snapshot.get("my_rank") else ""))

    def _fill_board(self) -> None:
        snap = self.snapshot
        entries = (snap or {}).get("entries") or []
        self.board.setRowCount(len(entries))
        mine = (snap or {}).get("my_rank")
        for i, e in enumerate(entries):
            cells = [str(e.get("rank", i + 1)), str(e.get("team", "")), _score(e.get("score")),
                     str(e.get("date") or "")[:16]]
            for c, text in enumerate(cells):
                it = _item(text)
                if mine is not None and e.get("rank") == mine:
                    it.setBackground(QBrush(QColor(42, 157, 244, 90)))
                    f = it.font()
                    f.setBold(True)
                    it.setFont(f)
                self.board.setItem(i, c, it)
        self.board.resizeColumnsToContents()
        if snap:
            taken = dt.datetime.fromtimestamp(snap["taken"]).strftime("%Y-%m-%d %H:%M")
            rank = f"my rank {mine} of {len(entries)}" if mine else "I am not on it yet"
            self.board_label.setText(f"Latest leaderboard ({taken}): {rank}")
            if mine and mine <= len(entries):
                self.board.scrollToItem(self.board.item(mine - 1, 0))
        else:
            self.board_label.setText("Latest leaderboard: not synced yet")
        self._fill_submissions()

    def _draw(self) -> None:
        self.time_plot.clear()
        self.fit_plot.clear()
        scored = [s for s in self.submissions if s.get("public_score") is not None]
        if not scored:
            return
        t = np.array([submission_time(s) for s in scored])
        y = np.array([s["public_score"] for s in scored], dtype=float)
        self.time_plot.plot(t, y, pen=None, symbol="o", symbolBrush="#1f77b4", name="public score")
        bt, by = best_so_far(t, y)
        # Drawn as steps: the best score holds until a better one arrives.
        sx, sy = np.repeat(bt, 2)[1:], np.repeat(by, 2)[:-1]
        self.time_plot.plot(sx, sy, pen=pg.mkPen("#ff7f0e", width=2), name="best so far")
        est = [(s.get("ood_estimate") if s.get("ood_estimate") is not None else s.get("local_estimate"),
                s["public_score"]) for s in scored]
        est = np.array([e for e in est if e[0] is not None], dtype=float).reshape(-1, 2)
        if not len(est):
            hint = pg.TextItem("Submissions made with kagglebench carry a local estimate;\n"
                               "they appear here once Kaggle scores them.", color="#888888", anchor=(0.5, 0.5))
            self.fit_plot.addItem(hint, ignoreBounds=True)
            hint.setPos(0.5, 0.5)
            self.fit_plot.setRange(xRange=(0, 1), yRange=(0, 1))
        else:
            self.fit_plot.plot(est[:, 0], est[:, 1], pen=None, symbol="o", symbolBrush="#2ca02c")
            line = fit_line(est[:, 0], est[:, 1])
            if line:
                xs = np.array([est[:, 0].min(), est[:, 0].max()])
                self.fit_plot.plot(xs, line[0] * xs + line[1], pen=pg.mkPen("#d62728", width=2, style=Qt.DashLine))
                self.fit_plot.setTitle(f"Local OOD estimate vs public score "
                                       f"(public ≈ {line[0]:.2f} × local {line[1]:+.3f})")
