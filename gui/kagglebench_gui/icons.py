"""Icons: the package's `icons/` SVGs (also reachable as `assets/icons/`), with Qt's own
icons as a fallback."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

_HERE = Path(__file__).resolve().parent
SEARCH = [_HERE / "icons"]


def icon_path(name: str) -> Path | None:
    return next((d / f"{name}.svg" for d in SEARCH if (d / f"{name}.svg").is_file()), None)


@cache
def icon(name: str) -> QIcon:
    """The named icon, or an empty icon when the SVG is missing (the action still has its text)."""
    path = icon_path(name)
    return QIcon(str(path)) if path else QIcon()
