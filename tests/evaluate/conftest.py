"""A demo workspace with one tiny trained run, shared by the evaluation tests.

The run uses the DS-542 starter's training normalization (0.5, 0.5, 0.5) on purpose: the
evaluation must apply exactly that, never CIFAR-100's statistics or the data's own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TRAIN_NORM = [0.5, 0.5, 0.5]
OVERRIDES = ["epochs=2", "batch_size=32", "lr=0.003", "schedule.name=none", "data.val_fraction=0.15",
             f"data.mean={TRAIN_NORM}", f"data.std={TRAIN_NORM}", "data.crop_padding=0"]


@pytest.fixture(scope="session")
def trained_eval_ws(demo_ws: Path, tmp_path_factory) -> tuple[Path, str]:
    """(workspace, run id): a copy of the demo workspace with one finished simplecnn-1conv run."""
    from kagglebench.config import load_recipe
    from kagglebench.train.runner import train_run
    from kagglebench.workspace import Workspace

    root = tmp_path_factory.mktemp("evalws") / "ws"
    shutil.copytree(demo_ws, root)
    out = train_run(Workspace(root), load_recipe("simplecnn-1conv", OVERRIDES), name="eval-fixture")
    assert out["status"] == "finished", out
    return root, out["id"]


@pytest.fixture
def eval_ws(trained_eval_ws, tmp_path) -> tuple[Path, str]:
    """A writable copy of the trained workspace (its own store and logits cache)."""
    root, run_id = trained_eval_ws
    dest = tmp_path / "ws"
    shutil.copytree(root, dest)
    return dest, run_id
