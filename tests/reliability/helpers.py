"""Helpers shared by the reliability tests: a CLI runner, the fault-hook environment, recipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOOKS = HERE / "hooks"
CORPUS = HERE / "corpus"

TINY_RECIPE = """
description = "reliability test recipe: tiny and quick"
[model]
name = "simplecnn-1conv"
[data]
val_fraction = 0.25
[optim]
lr = 0.001  # stable for hundreds of steps (the default diverges on this tiny data after ~140)
[train]
epochs = {epochs}
batch_size = 16
checkpoint_every_steps = {every}
"""


def cli_env(extra: dict[str, str] | None = None, hooks: bool = False) -> dict[str, str]:
    """The environment for a `python -m kagglebench` child: no real Kaggle credentials,
    offline, and (with `hooks`) the fault hooks on the import path."""
    env = dict(os.environ)
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLEBENCH_WORKSPACE"):
        env.pop(var, None)
    env["KAGGLEBENCH_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if hooks:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def kb(*args: str, ws: Path | None = None, env: dict[str, str] | None = None, cwd: Path | None = None,
       timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI; returns the finished process (stdout and stderr as text)."""
    head = [sys.executable, "-m", "kagglebench"] + (["--workspace", str(ws)] if ws else [])
    return subprocess.run([*head, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or cli_env(), cwd=cwd, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, one `kagglebench: error:` line that contains every needle."""
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("kagglebench: error: ")]
    assert len(lines) == 1, err
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
    return lines[0]


def write_recipe(folder: Path, epochs: int = 2, every: int = 0, name: str = "tiny") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(TINY_RECIPE.format(epochs=epochs, every=every))
    return path
