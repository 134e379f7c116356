"""`kagglebench gui`: one-line errors for a bad workspace or a missing Qt, no window."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(args: list[str], code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "kagglebench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})


def test_gui_on_a_folder_that_is_not_a_workspace_is_one_line(tmp_path: Path):
    r = run(["gui", "--workspace", str(tmp_path)])
    assert r.returncode == 2
    assert r.stderr.startswith("kagglebench: error: ") and "kagglebench.toml" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_gui_without_pyside6_says_how_to_install_it(tmp_path: Path):
    # Make `import PySide6` fail in the child, as on an install without the gui extra.
    code = ("import sys; sys.modules['PySide6'] = None; from kagglebench.cli import main; "
            "sys.argv[0] = 'kagglebench'; main(sys.argv[1:])")
    r = run(["gui", "--workspace", str(tmp_path)], code=code)
    assert r.returncode == 2
    assert "pip install 'kagglebench[gui]'" in r.stderr and "Traceback" not in r.stderr


def test_gui_is_listed_in_help():
    r = run(["--help"])
    assert r.returncode == 0 and "gui" in r.stdout
