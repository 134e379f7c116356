"""`kagglebench recipes --json | head -1`: when the reader leaves early, no traceback."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import os, sys
r, w = os.pipe()
os.close(r)                      # the reader is gone before anything is written
os.dup2(w, sys.stdout.fileno())
from kagglebench.cli import main
main(["recipes", "--json"])
"""


def test_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 141
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
