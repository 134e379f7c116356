"""`kagglebench gui [--workspace DIR]`: open the desktop app on a workspace.

The app is its own package (kagglebench_gui, from the `gui` extra); it is
imported here, inside the command, so the engine never imports Qt.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "gui", parents=[common], help="open the desktop app (runs, live curves, GPU use, leaderboard)",
        description="Open the kagglebench window on a workspace: start and stop runs, watch their loss "
                    "and accuracy curves live, see GPU and CPU use, sync and plot your Kaggle scores, "
                    "and submit. Without --workspace it uses the workspace around the current folder, "
                    "or asks. Closing the window leaves runs training.")
    p.set_defaults(func=run)


def missing_x11_library(platform: str | None = None, env: dict | None = None,
                        find_library=None) -> str | None:
    """The package to install when Qt's X11 plugin would abort at start for want of
    libxcb-cursor0 (Qt 6.5+ needs it; fresh Debian and Ubuntu lack it), else None."""
    import os
    import sys
    from ctypes.util import find_library as _find

    platform = platform or sys.platform
    env = os.environ if env is None else env
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None  # offscreen, wayland, ...: no X11 plugin
    if not qpa and env.get("WAYLAND_DISPLAY"):
        return None  # Qt picks its Wayland plugin first
    return None if (find_library or _find)("xcb-cursor") else "libxcb-cursor0"


def run(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    from kagglebench.errors import UserError

    # The engine never imports Qt itself: it only checks that the app's packages are there,
    # then hands over to the app package.
    missing = [m for m in ("PySide6", "pyqtgraph", "kagglebench_gui") if find_spec(m) is None]
    if missing:
        raise UserError("kagglebench gui", f"the desktop app needs PySide6 and pyqtgraph ({missing[0]} is "
                        "missing): install with pip install 'kagglebench[gui]'")
    package = missing_x11_library()
    if package:
        raise UserError("kagglebench gui", f"Qt needs the {package} library to open a window on X11: "
                        f"install it with sudo apt-get install {package}")
    from kagglebench_gui import app
    from kagglebench_gui.wsinfo import open_workspace
    argv = []
    if args.workspace:
        argv = ["--workspace", str(open_workspace(args.workspace).root)]  # a bad folder: one line, no window
    return app.main(argv)
