"""The package's boundaries: a light import, a light --help, an engine without Qt."""

import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kagglebench"

_PROBE = """
import sys, runpy
sys.argv = {argv!r}
try:
    {body}
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "torchvision", "PySide6", "pyqtgraph", "pandas", "matplotlib")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy_modules(body: str, argv: list[str]) -> str:
    code = _PROBE.format(body=body, argv=argv)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def test_import_is_light():
    assert _heavy_modules("import kagglebench", ["x"]) == "HEAVY="


def test_help_is_light_and_lists_commands():
    assert _heavy_modules("from kagglebench.cli import main; main(['--help'])", ["kagglebench"]) == "HEAVY="
    out = subprocess.run([sys.executable, "-m", "kagglebench", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "usage: kagglebench" in out.stdout


def test_engine_never_imports_qt():
    pattern = re.compile(r"^\s*(from|import)\s+(PySide6|pyqtgraph|kagglebench_gui)\b", re.M)
    offenders = [str(p) for p in SRC.rglob("*.py")
                 if pattern.search(p.read_text()) and p.name != "gui.py"]
    assert offenders == []


def test_unknown_command_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "kagglebench", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
