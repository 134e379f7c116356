"""A banner above the tabs for errors and notices: the whole message, wrapped, never cut,
until the user dismisses it (errors in the status bar were cut off and vanished)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

STYLES = {"error": "background: #f8d7da; color: #58151c; border-bottom: 1px solid #f1aeb5;",
          "info": "background: #cfe2ff; color: #052c65; border-bottom: 1px solid #9ec5fe;"}


class Banner(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        self.close_button = close
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        lay.addWidget(self.label, 1)
        lay.addWidget(close, 0, Qt.AlignTop)
        self.messages: list[str] = []
        self.hide()

    def show_error(self, msg: str) -> None:
        self._show(msg, "error")

    def show_info(self, msg: str) -> None:
        self._show(msg, "info")

    def _show(self, msg: str, kind: str) -> None:
        msg = msg.strip()
        if msg in self.messages:
            return
        self.messages = [*self.messages[-4:], msg]  # the last five, newest last
        self.setStyleSheet(f"QFrame {{{STYLES[kind]}}} QLabel {{background: transparent;}}")
        self.label.setText("\n".join(self.messages))
        self.show()

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.messages = []
        self.label.clear()
        self.hide()
