"""Fixtures for the reliability tests: tiny workspaces (helpers live in helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.kaggle.conftest import kaggle_env, make_double  # noqa: F401 - the Kaggle double's fixtures


@pytest.fixture(scope="session")
def rel_demo(tmp_path_factory) -> Path:
    """A tiny demo workspace without the OOD test set: 4 classes, 128 training images
    (96 train / 32 val at val_fraction 0.25 -> 6 steps of 16 per epoch). Read-only."""
    from kagglebench.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("rel") / "ws", classes=4, train=128, test=5, seed=3, ood=False)


@pytest.fixture
def rel_ws(rel_demo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(rel_demo, dest)
    return dest
