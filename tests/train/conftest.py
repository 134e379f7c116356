"""Fixtures for the trainer tests: a demo workspace small enough for several short runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A demo workspace with 240 training images (10 classes, 32x32). Read-only."""
    from kagglebench.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("small") / "ws", classes=10, train=240, test=10, seed=1,
                      ood=False)


@pytest.fixture
def small_ws(small_demo: Path, tmp_path: Path) -> Path:
    """A writable copy of `small_demo` for one test."""
    dest = tmp_path / "ws"
    shutil.copytree(small_demo, dest)
    return dest
