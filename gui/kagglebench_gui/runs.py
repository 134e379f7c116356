"""The Runs tab: a sortable, filterable table of runs, a details pane with the run's tags
and note (kept in the store), and a side-by-side config diff of two runs.

Rows come from the store poller's `runs_changed` signal. Actions start or signal child
processes (procs.py) or run on the task pool; none of them touches the store or the disk
on the UI thread.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProxyStyle,
    QPushButton,
    QSplitter,
    QStyle,
    QStyleOptionHeader,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.labels import fmt_pct, run_colour, run_study
from kagglebench_gui.wsinfo import flatten, short_changes

COLUMNS = ["Name", "Id", "Changes", "Recipe", "Tags", "Status", "Progress", "Epoch", "Best val acc",
           "OOD estimate", "Images/s", "Started", "Duration"]
STATUS_COLOURS = {"running": "#2a9df4", "finished": "#3c9a5f", "stopped": "#c98a1b",
                  "diverged": "#d9534f", "failed": "#d9534f", "pruned": "#8c8c8c"}
RunRole = Qt.UserRole + 1
_NO_PARENT = QModelIndex()
_NUMERIC = ("Progress", "Epoch", "Best val acc", "OOD estimate", "Images/s")
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def first_started(run: dict) -> float | None:
    """When the run first started: `created` (a resume restarts `started`, not this)."""
    return run.get("created") or run.get("started")


def run_duration(run: dict, now: float | None = None) -> float | None:
    """Time from the first start to the end (or now while running); a resume does not reset it."""
    start = first_started(run)
    if not start:
        return None
    end = run.get("finished")
    if run["status"] == "running":
        end = now or time.time()
    return None if end is None else max(0.0, end - start)


def fmt_ood(run: dict) -> str:
    """The OOD estimate, with its interval when the evaluation gave one: 56.20% [52.1–60.3]."""
    v = run.get("ood_acc")
    if v is None:
        return "—"
    ci = run.get("ood_ci")
    if ci and len(ci) == 2 and None not in ci:
        return f"{fmt_pct(v)} [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"
    return fmt_pct(v)


def fmt_progress(run: dict) -> str:
    p, eta = run.get("progress"), run.get("eta_s")
    if run["status"] != "running" or p is None:
        return "—"
    return f"{100 * p:.1f}%" + (f", {fmt_duration(eta)} left" if eta is not None else "")


def header_sort_indicator(order: Qt.SortOrder) -> QStyleOptionHeader.SortIndicator:
    """Ascending draws an arrow pointing up, descending one pointing down (Qt's header
    passes the opposite to the style)."""
    return QStyleOptionHeader.SortUp if order == Qt.AscendingOrder else QStyleOptionHeader.SortDown


class SortArrowStyle(QProxyStyle):
    """Draws the header's sort arrow the way file managers and spreadsheets do."""

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 - Qt's name
        if element == QStyle.PE_IndicatorHeaderArrow and isinstance(option, QStyleOptionHeader) and widget:
            view = widget if isinstance(widget, QHeaderView) else widget.parent()
            if isinstance(view, QHeaderView):
                option = QStyleOptionHeader(option)
                option.sortIndicator = header_sort_indicator(view.sortIndicatorOrder())
        super().drawPrimitive(element, option, painter, widget)


class RunsTable(QTableView):
    """The runs table, with sort arrows that point the usual way."""

    def __init__(self) -> None:
        super().__init__()
        self._arrow_style = SortArrowStyle()  # a proxy of the application's style
        self.horizontalHeader().setStyle(self._arrow_style)


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

    def rowCount(self, parent: QModelIndex = _NO_PARENT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: QModelIndex = _NO_PARENT) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
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
        if role == Qt.DecorationRole and col == "Name":
            return QColor(run_colour(run["id"]))
        if role == Qt.ToolTipRole:
            tip = run.get("message") or ""
            if run.get("note"):
                tip = run["note"] + ("\n\n" + tip if tip else "")
            if run.get("log_tail"):
                tip += ("\n\n" if tip else "") + "Last lines of train.log:\n" + run["log_tail"]
            return tip or run["id"]
        if role == Qt.TextAlignmentRole and col in _NUMERIC:
            return _RIGHT
        return None

    @staticmethod
    def _text(run: dict, col: str) -> str:
        started = first_started(run)
        texts = {
            "Name": lambda: run["name"] or run["id"],
            "Id": lambda: run["id"],
            "Changes": lambda: short_changes(run.get("changes") or {}),
            "Recipe": lambda: run["recipe"],
            "Tags": lambda: ", ".join(run.get("tags") or []),
            "Status": lambda: run["status"],
            "Progress": lambda: fmt_progress(run),
            "Epoch": lambda: f"{run['epoch']}/{run['total_epochs'] or '?'}",
            "Best val acc": lambda: fmt_pct(run.get("best_val_acc")),
            "OOD estimate": lambda: fmt_ood(run),
            "Images/s": lambda: "—" if run.get("images_per_s") is None else f"{run['images_per_s']:,.0f}",
            "Started": lambda: time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "—",
            "Duration": lambda: fmt_duration(run_duration(run)),
        }
        return texts[col]()

    @staticmethod
    def _key(run: dict, col: str) -> Any:
        keys = {"Epoch": run["epoch"], "Best val acc": run.get("best_val_acc"), "Progress": run.get("progress"),
                "OOD estimate": run.get("ood_acc"), "Images/s": run.get("images_per_s"),
                "Started": first_started(run), "Duration": run_duration(run)}
        if col in keys:
            v = keys[col]
            return -1.0 if v is None else float(v)
        return RunsModel._text(run, col).lower()


def facet_values(runs: list[dict]) -> list[tuple[str, str]]:
    """The filter menu's entries: (label, key) for every tag, recipe, study and sweep in use."""
    out: list[tuple[str, str]] = []
    for kind, values in (("tag", sorted({t for r in runs for t in r.get("tags") or []})),
                         ("recipe", sorted({r["recipe"] for r in runs})),
                         ("study", sorted({s for r in runs if (s := run_study(r))})),
                         ("sweep", sorted({r["sweep_id"] for r in runs if r.get("sweep_id")}))):
        out += [(f"{kind}: {v}", f"{kind}:{v}") for v in values]
    return out


def matches_facet(run: dict, facet: str | None) -> bool:
    if not facet:
        return True
    kind, value = facet.split(":", 1)
    return {"tag": lambda: value in (run.get("tags") or []), "recipe": lambda: run["recipe"] == value,
            "study": lambda: run_study(run) == value, "sweep": lambda: run.get("sweep_id") == value}[kind]()


class RunsFilter(QSortFilterProxyModel):
    """The text filter (any column) and one facet (tag, recipe, study or sweep)."""

    def __init__(self) -> None:
        super().__init__()
        self.facet: str | None = None

    def set_facet(self, facet: str | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10 and later; invalidateFilter is deprecated there
            self.beginFilterChange()
            self.facet = facet
            self.endFilterChange()
        else:
            self.facet = facet
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        run = self.sourceModel().runs[row]
        return matches_facet(run, self.facet) and super().filterAcceptsRow(row, parent)


def config_diff(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """(section.key, a's value, b's value) for every setting of two resolved recipes
    (`Run.config`), differences first."""
    fa, fb = flatten(a), flatten(b)
    keys = sorted(set(fa) | set(fb))
    rows = [(k, fa.get(k), fb.get(k)) for k in keys]
    return sorted(rows, key=lambda r: r[1] == r[2])


class ConfigDiffDialog(QDialog):
    """Two runs' settings side by side, the differing ones first and highlighted."""

    def __init__(self, a: Any, b: Any, parent: QWidget | None = None) -> None:
        """`a`, `b`: the two runs' records (`kagglebench.runs.Run`, opened off the UI thread)."""
        super().__init__(parent)
        self.setWindowTitle(f"Settings: {a.id} vs {b.id}")
        self.resize(760, 560)
        rows = config_diff(a.config, b.config)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Setting", a.id, b.id])
        self.table.verticalHeader().hide()
        self.differing = [k for k, x, y in rows if x != y]
        hi = QBrush(QColor(249, 171, 0, 70))
        for i, (k, x, y) in enumerate(rows):
            for c, text in enumerate((k, "—" if x is None else str(x), "—" if y is None else str(y))):
                it = QTableWidgetItem(text)
                if x != y:
                    it.setBackground(hi)
                self.table.setItem(i, c, it)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"{len(self.differing)} settings differ" if self.differing else
                             "The two runs have the same settings."))
        lay.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


class RunsTab(QWidget):
    """The table plus a details pane; `selection_changed` carries the selected run ids,
    `labels_edited` (run id, tags, note) asks the window to store a run's tags and note."""

    selection_changed = Signal(list)
    labels_edited = Signal(str, list, str)

    def __init__(self) -> None:
        super().__init__()
        self.model = RunsModel()
        self.proxy = RunsFilter()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.UserRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, id, changes, recipe, tag or status (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.facet = QComboBox()
        self.facet.setToolTip("Only the runs with a tag, of a recipe, of a tune study or of a sweep")
        self.facet.addItem("All runs", None)
        self.facet.currentIndexChanged.connect(lambda _i: self.proxy.set_facet(self.facet.currentData()))
        self.table = RunsTable()
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
        self.empty_hint = QWidget()
        eh = QVBoxLayout(self.empty_hint)
        self.empty_label = QLabel("<b>No runs yet.</b> Train the suggested recipe to see this workspace's "
                                  "first curves in a minute or two, or choose another with New run (Ctrl+N).")
        self.empty_label.setWordWrap(True)
        self.train_suggested = QPushButton("Train the suggested recipe")
        eh.addWidget(self.empty_label)
        eh.addWidget(self.train_suggested, 0, Qt.AlignLeft)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a run to see its details; a failed run shows the end of its log.")
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("tags, comma separated (e.g. baseline, augment)")
        self.note_edit = QPlainTextEdit()
        self.note_edit.setPlaceholderText("A note about this run: what you tried, what you saw")
        self.note_edit.setMaximumHeight(70)
        self.save_labels = QPushButton("Save tags and note")
        self.save_labels.clicked.connect(self._emit_labels)
        labels = QWidget()
        lb = QVBoxLayout(labels)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.addWidget(self.tags_edit)
        lb.addWidget(self.note_edit)
        lb.addWidget(self.save_labels, 0, Qt.AlignRight)
        self.labels_box = labels
        labels.setEnabled(False)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.filter, 3)
        row.addWidget(self.facet, 1)
        tl.addLayout(row)
        tl.addWidget(self.empty_hint)
        tl.addWidget(self.table)
        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(self.details)
        bottom.addWidget(labels)
        bottom.setSizes([600, 400])
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.splitter)
        self._clock = QTimer(self)  # running runs' durations tick without a store poll
        self._clock.timeout.connect(self.model.refresh_durations)
        self._clock.start(1000)
        self.empty_hint.setVisible(True)

    def set_runs(self, runs: list[dict]) -> None:
        selected = set(self.selected_ids())
        same = [r["id"] for r in runs] == [r["id"] for r in self.model.runs]
        self.model.set_runs(runs)
        self.empty_hint.setVisible(not runs)
        if not same:  # sizing every cell is the costly part of an update: only for new rows
            self.table.resizeColumnsToContents()
        self.select_ids(selected)
        self._fill_facets(runs)
        self._show_details(keep_edits=True)

    def _fill_facets(self, runs: list[dict]) -> None:
        current = self.facet.currentData()
        self.facet.blockSignals(True)
        self.facet.clear()
        self.facet.addItem("All runs", None)
        for label, key in facet_values(runs):
            self.facet.addItem(label, key)
        i = self.facet.findData(current)
        self.facet.setCurrentIndex(max(0, i))
        self.facet.blockSignals(False)
        if i < 0 and current is not None:
            self.proxy.set_facet(None)

    def set_facet(self, key: str | None) -> None:
        i = self.facet.findData(key)
        if i >= 0:
            self.facet.setCurrentIndex(i)

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

    def _emit_labels(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            tags = [t.strip() for t in self.tags_edit.text().split(",") if t.strip()]
            self.labels_edited.emit(runs[0]["id"], tags, self.note_edit.toPlainText().strip())

    def _show_details(self, keep_edits: bool = False) -> None:
        runs = self.selected_runs()
        self.labels_box.setEnabled(len(runs) == 1)
        if len(runs) != 1:
            self.details.setPlainText(f"{len(runs)} runs selected" + (" (Run ▸ Compare settings shows their "
                                      "differences)" if len(runs) == 2 else "") if runs else "")
            self._shown = None
            return
        r = runs[0]
        lines = [f"{r['id']}  ·  {r['status']}  ·  recipe {r['recipe']}  ·  folder {r['run_dir']}",
                 f"host {r.get('host') or '?'}  pid {r.get('pid') or '?'}  step {r['step']}"]
        if r.get("changes"):
            lines.append("changes from the recipe: " + short_changes(r["changes"]))
        if run_study(r) or r.get("sweep_id"):
            lines.append(" · ".join(x for x in (run_study(r) and f"study {run_study(r)}",
                                                r.get("sweep_id") and f"sweep {r['sweep_id']}") if x))
        if r.get("message"):
            lines.append(f"message: {r['message']}")
        if r.get("log_tail"):
            lines += ["", "Last lines of train.log:", r["log_tail"]]
        self.details.setPlainText("\n".join(lines))
        # Refill the editors when another run is shown; keep what the user types meanwhile.
        if not keep_edits or getattr(self, "_shown", None) != r["id"]:
            self.tags_edit.setText(", ".join(r.get("tags") or []))
            self.note_edit.setPlainText(r.get("note") or "")
        self._shown = r["id"]


