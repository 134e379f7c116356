"""Icons from the project's `assets/icons/` SVGs, with Qt's own icons as a fallback.

The SVGs live in the repository's `assets/` (shared with the README); an
installed copy may also ship them inside the package under `icons/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

_HERE = Path(__file__).resolve().parent
SEARCH = [_HERE / "icons", _HERE.parents[1] / "assets" / "icons"]


def icon_path(name: str) -> Path | None:
    return next((d / f"{name}.svg" for d in SEARCH if (d / f"{name}.svg").is_file()), None)


@cache
def icon(name: str) -> QIcon:
    """The named icon, or an empty icon when the SVG is missing (the action still has its text)."""
    path = icon_path(name)
    return QIcon(str(path)) if path else QIcon()
