"""Evaluation tests share the session's `trained_ws` (two tiny demo-cnn runs, tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def eval_ws(trained_ws: Path, tmp_path: Path) -> tuple[Path, str]:
    """(workspace, run id of "seed0"): a writable copy, so each test has its own store and logits cache."""
    from kagglebench.store import Store

    dest = tmp_path / "ws"
    shutil.copytree(trained_ws, dest)
    with Store(dest / "kagglebench.db") as st:
        run_id = next(r["id"] for r in st.list_runs() if r["name"] == "seed0")
    return dest, run_id


@pytest.fixture
def trained_eval_ws(eval_ws: tuple[Path, str]) -> tuple[Path, str]:
    """Alias kept for tests that only read the trained workspace."""
    return eval_ws
