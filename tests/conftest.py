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


# ---- trainer fixtures (owned by the trainer engineer; keep this block at the end) ----------------

@pytest.fixture(scope="session")
def trained_ws(demo_ws: Path, tmp_path_factory) -> Path:
    """A copy of the demo workspace with two finished tiny `demo-cnn` runs (2 epochs each),
    named "seed0" and "seed1" (train.seed 0 and 1), checkpoints saved (`last` and the top
    epochs). Shared by the whole session: add files if you must, but do not delete runs.
    Run ids: `Store(ws / "kagglebench.db").list_runs()`."""
    from kagglebench.config import load_recipe
    from kagglebench.train.runner import train_run
    from kagglebench.workspace import Workspace

    root = tmp_path_factory.mktemp("trained") / "ws"
    shutil.copytree(demo_ws, root)
    ws = Workspace(root)
    for seed in (0, 1):
        result = train_run(ws, load_recipe("demo-cnn", [f"seed={seed}", "epochs=2"]), name=f"seed{seed}")
        assert result["status"] == "finished", result
    return root
