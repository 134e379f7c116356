"""One atomic-write helper: the old file or the whole new one, never a torn file or a stray temp file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kagglebench.atomic import replacing, write_text

SRC = Path(__file__).resolve().parents[1] / "src" / "kagglebench"


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.txt"
    write_text(path, "old")
    assert path.read_text() == "old" and oct(path.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the disk filled up")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]      # no temp file left behind
    with replacing(path, suffix=".png") as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".out.txt.") and tmp.suffix == ".png"
        tmp.write_text("new")
    assert path.read_text() == "new"


def test_no_module_renames_files_by_itself() -> None:
    pattern = re.compile(r"os\.replace\(|mkstemp\(")
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "atomic.py" and pattern.search(p.read_text())]
    # Only whole folders are renamed elsewhere: the demo workspace and an unpacked download.
    assert sorted(offenders) == ["data/demo.py", "kaggle/download.py"], offenders
