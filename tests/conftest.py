"""Shared test fixtures. The demo-workspace fixtures come first; other fixtures follow below."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory) -> Path:
    """A small demo workspace (10 classes, 1,000 train, 20 test, OOD 19x5x20). Read-only."""
    from kagglebench.data.demo import write_demo

    root = tmp_path_factory.mktemp("demo") / "ws"
    return write_demo(root, classes=10, train=1000, test=20, seed=0)


@pytest.fixture
def fresh_ws(demo_ws: Path, tmp_path: Path) -> Path:
    """A writable copy of the demo workspace for one test."""
    dest = tmp_path / "ws"
    shutil.copytree(demo_ws, dest)
    return dest
