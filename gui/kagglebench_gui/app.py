"""Entry point of the desktop app: `kagglebench gui [--workspace DIR]` and `kagglebench-gui`.

Finds the workspace (or asks for one, offering the recent ones), applies a light
or dark palette that follows the system, and opens the main window. Opening
another workspace closes the current window (its workers are joined) and opens
a new one; training runs are unaffected either way.
"""

from __future__ import annotations

import argparse
import os
import sys

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kagglebench.errors import UserError
from kagglebench_gui import icons
from kagglebench_gui.mainwindow import MainWindow
from kagglebench_gui.wsinfo import WorkspaceInfo, open_workspace

MAX_RECENT = 8


def is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    base, text, window = QColor(35, 38, 41), QColor(230, 230, 230), QColor(49, 54, 59)
    for role, colour in [(QPalette.Window, window), (QPalette.WindowText, text), (QPalette.Base, base),
                         (QPalette.AlternateBase, window), (QPalette.Text, text), (QPalette.Button, window),
                         (QPalette.ButtonText, text), (QPalette.ToolTipBase, window), (QPalette.ToolTipText, text),
                         (QPalette.Highlight, QColor(42, 130, 218)), (QPalette.HighlightedText, Qt.white),
                         (QPalette.Link, QColor(79, 195, 247)), (QPalette.PlaceholderText, QColor(140, 140, 140))]:
        p.setColor(role, colour)
    p.setColor(QPalette.Disabled, QPalette.Text, QColor(120, 120, 120))
    p.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(120, 120, 120))
    return p


def apply_palette(app: QApplication, window: QWidget | None = None) -> None:
    """Light or dark, following the system; plots follow the palette too."""
    dark = is_dark(app)
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    bg, fg = ("#1e2124", "#d0d0d0") if dark else ("#ffffff", "#303030")
    pg.setConfigOptions(background=bg, foreground=fg, antialias=True)
    if window is not None:  # restyle plots that already exist
        for w in window.findChildren(pg.GraphicsLayoutWidget):
            w.setBackground(bg)
            for item in w.ci.items:
                if isinstance(item, pg.PlotItem):
                    for ax in item.axes.values():
                        ax["item"].setPen(fg)
                        ax["item"].setTextPen(fg)
                    item.titleLabel.setAttr("color", fg)


def remember(path: str) -> None:
    s = QSettings()
    recent = [p for p in s.value("recentWorkspaces", [], type=list) if p != path]
    s.setValue("recentWorkspaces", [path, *recent][:MAX_RECENT])


class WorkspacePicker(QDialog):
    """Asked when no workspace is given and none is found from the current folder."""

    def __init__(self, message: str = "") -> None:
        super().__init__()
        self.setWindowTitle("Open a kagglebench workspace")
        self.setWindowIcon(icons.icon("app"))
        self.choice = ""
        self.list = QListWidget()
        recent = [p for p in QSettings().value("recentWorkspaces", [], type=list) if os.path.isdir(p)]
        self.list.addItems(recent)
        self.list.itemDoubleClicked.connect(lambda it: self._pick(it.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(lambda: self.list.currentItem() and self._pick(self.list.currentItem().text()))
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        if message:
            lay.addWidget(QLabel(message))
        lay.addWidget(QLabel("A workspace is a folder with kagglebench.toml (make one with "
                             "`kagglebench data demo DIR` or `kagglebench init DIR`).\nRecent workspaces:"
                             if recent else "A workspace is a folder with kagglebench.toml (make one with "
                             "`kagglebench data demo DIR` or `kagglebench init DIR`)."))
        lay.addWidget(self.list)
        lay.addWidget(browse)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a workspace folder")
        if d:
            self._pick(d)

    def _pick(self, path: str) -> None:
        self.choice = path
        self.accept()


class App:
    """Holds the current window; swaps it when the user opens another workspace."""

    def __init__(self, qapp: QApplication) -> None:
        self.qapp = qapp
        self.window: MainWindow | None = None

    def open(self, path: str | None, message: str = "") -> bool:
        """Open `path`, or ask (looping on errors). False when the user cancels."""
        while True:
            if path is None:
                picker = WorkspacePicker(message)
                if not picker.exec():
                    return False
                path = picker.choice
            try:
                ws = open_workspace(path)
            except UserError as e:
                QMessageBox.warning(None, "Not a workspace", str(e))
                path, message = None, ""
                continue
            self.show(ws)
            return True

    def show(self, ws: WorkspaceInfo) -> None:
        remember(str(ws.root))
        old, self.window = self.window, MainWindow(ws)
        self.window.open_workspace_requested.connect(lambda p: self.open(p or None))
        apply_palette(self.qapp, self.window)
        self.window.show()
        if old is not None:
            old.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kagglebench-gui", description="The kagglebench desktop app.")
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default: found from the current "
                   "folder upward or $KAGGLEBENCH_WORKSPACE; otherwise the app asks)")
    return p.parse_args(argv)


def make_qapp() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("kagglebench")
    app.setApplicationName("kagglebench")
    app.setStyle("Fusion")
    app.setWindowIcon(icons.icon("app"))
    apply_palette(app)
    return app


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    qapp = make_qapp()
    app = App(qapp)
    qapp.styleHints().colorSchemeChanged.connect(lambda _s: apply_palette(qapp, app.window))
    path = args.workspace or os.environ.get("KAGGLEBENCH_WORKSPACE")
    if path is None:
        try:  # the current folder or one above it, as the CLI finds it
            path = str(open_workspace(None).root)
        except UserError:
            path = None
    if not app.open(path):
        return 0
    return qapp.exec()


if __name__ == "__main__":
    sys.exit(main())
