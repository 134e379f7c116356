"""The Runs tab: a sortable, filterable table of runs and the actions on them.

Rows come from the store poller's `runs_changed` signal. Actions start or
signal child processes (procs.py) or run on the task pool (delete, open a
report); none of them touches the store or the disk on the UI thread.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ["Name", "Recipe", "Status", "Epoch", "Best val acc", "OOD estimate", "Images/s",
           "Started", "Duration"]
STATUS_COLOURS = {"running": "#2a9df4", "finished": "#3c9a5f", "stopped": "#c98a1b",
                  "diverged": "#d9534f", "failed": "#d9534f"}
RunRole = Qt.UserRole + 1
_NO_PARENT = QModelIndex()


def fmt_pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def run_duration(run: dict, now: float | None = None) -> float | None:
    if not run.get("started"):
        return None
    end = run.get("finished")
    if run["status"] == "running":
        end = now or time.time()
    return None if end is None else max(0.0, end - run["started"])


class RunsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict[str, Any]] = []

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self.endResetModel()

    def refresh_durations(self) -> None:
        if self.runs:
            c = COLUMNS.index("Duration")
            self.dataChanged.emit(self.index(0, c), self.index(len(self.runs) - 1, c))

    def rowCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        run = self.runs[index.row()]
        col = COLUMNS[index.column()]
        if role == RunRole:
            return run
        if role == Qt.DisplayRole:
            return self._text(run, col)
        if role == Qt.UserRole:  # the sort key
            return self._key(run, col)
        if role == Qt.ForegroundRole and col == "Status":
            return QColor(STATUS_COLOURS.get(run["status"], "#888888"))
        if role == Qt.ToolTipRole:
            tip = run.get("message") or ""
            if run.get("log_tail"):
                tip += ("\n\n" if tip else "") + "Last lines of train.log:\n" + run["log_tail"]
            return tip or run["id"]
        if role == Qt.TextAlignmentRole and col in ("Epoch", "Best val acc", "OOD estimate", "Images/s"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    @staticmethod
    def _text(run: dict, col: str) -> str:
        if col == "Name":
            return run["name"] or run["id"]
        if col == "Recipe":
            return run["recipe"]
        if col == "Status":
            return run["status"]
        if col == "Epoch":
            return f"{run['epoch']}/{run['total_epochs'] or '?'}"
        if col == "Best val acc":
            return fmt_pct(run.get("best_val_acc"))
        if col == "OOD estimate":
            return fmt_pct(run.get("ood_acc"))
        if col == "Images/s":
            return "—" if run.get("images_per_s") is None else f"{run['images_per_s']:,.0f}"
        if col == "Started":
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"])) if run.get("started") else "—"
        return fmt_duration(run_duration(run))

    @staticmethod
    def _key(run: dict, col: str) -> Any:
        keys = {"Epoch": run["epoch"], "Best val acc": run.get("best_val_acc"),
                "OOD estimate": run.get("ood_acc"), "Images/s": run.get("images_per_s"),
                "Started": run.get("started"), "Duration": run_duration(run)}
        if col in keys:
            v = keys[col]
            return -1.0 if v is None else float(v)
        return RunsModel._text(run, col).lower()


class RunsTab(QWidget):
    """The table plus a details pane; `selection_changed` carries the selected run ids."""

    selection_changed = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.model = RunsModel()
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.UserRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, recipe or status (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Started"), Qt.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a run to see its details; a failed run shows the end of its log.")
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.filter)
        tl.addLayout(row)
        tl.addWidget(self.table)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.splitter)
        self._clock = QTimer(self)  # running runs' durations tick without a store poll
        self._clock.timeout.connect(self.model.refresh_durations)
        self._clock.start(1000)

    def set_runs(self, runs: list[dict]) -> None:
        selected = set(self.selected_ids())
        self.model.set_runs(runs)
        self.table.resizeColumnsToContents()
        self.select_ids(selected)
        self._show_details()

    def select_ids(self, ids: set[str]) -> None:
        sel = self.table.selectionModel()
        sel.blockSignals(True)
        self.table.clearSelection()
        for r in range(self.proxy.rowCount()):
            if self.proxy.index(r, 0).data(RunRole)["id"] in ids:
                sel.select(self.proxy.index(r, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
        sel.blockSignals(False)

    def selected_runs(self) -> list[dict]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(RunRole) for r in rows]

    def selected_ids(self) -> list[str]:
        return [r["id"] for r in self.selected_runs()]

    def run_by_id(self, run_id: str) -> dict | None:
        return next((r for r in self.model.runs if r["id"] == run_id), None)

    def _on_selection(self, *_: Any) -> None:
        self._show_details()
        self.selection_changed.emit(self.selected_ids())

    def _show_details(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            self.details.setPlainText(f"{len(runs)} runs selected" if runs else "")
            return
        r = runs[0]
        lines = [f"{r['id']}  ·  {r['status']}  ·  recipe {r['recipe']}  ·  folder {r['run_dir']}",
                 f"host {r.get('host') or '?'}  pid {r.get('pid') or '?'}  step {r['step']}"]
        if r.get("message"):
            lines.append(f"message: {r['message']}")
        if r.get("log_tail"):
            lines += ["", "Last lines of train.log:", r["log_tail"]]
        self.details.setPlainText("\n".join(lines))
