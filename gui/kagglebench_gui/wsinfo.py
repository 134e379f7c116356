"""What the app needs to know about a workspace: where its store, runs and CSVs are.

Uses `kagglebench.workspace.find_workspace` (the same rules as the CLI) and
reads nothing heavier: the app never loads datasets. Also small file helpers
the workers use (the tail of a log).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kagglebench.errors import UserError

CONFIG_NAME = "kagglebench.toml"


@dataclass(frozen=True)
class WorkspaceInfo:
    root: Path
    competition: str | None = None

    @property
    def db_path(self) -> Path:
        return self.root / "kagglebench.db"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    def run_dir(self, run: dict) -> Path:
        return self.root / (run.get("run_dir") or f"runs/{run['id']}")


def open_workspace(path: str | Path | None) -> WorkspaceInfo:
    """The workspace at or above `path` (None: the current folder, or $KAGGLEBENCH_WORKSPACE)."""
    try:
        from kagglebench.workspace import find_workspace
    except ImportError:  # the engine's workspace module is optional for the app
        find_workspace = None
    if find_workspace is not None:
        ws = find_workspace(str(path) if path is not None else None)
        return WorkspaceInfo(Path(ws.root).resolve(), getattr(ws, "competition", None))
    root = Path(path or ".").resolve()
    for d in (root, *root.parents):
        if (d / CONFIG_NAME).is_file():
            return WorkspaceInfo(d, _competition(d / CONFIG_NAME))
    raise UserError(root, f"not a kagglebench workspace (no {CONFIG_NAME} here or above); "
                          "create one with `kagglebench init DIR` or `kagglebench data demo DIR`")


def _competition(toml_path: Path) -> str | None:
    try:
        data = tomllib.loads(toml_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(toml_path, f"cannot read the workspace settings ({e})") from None
    comp = data.get("competition")
    if isinstance(comp, dict):
        comp = comp.get("slug") or comp.get("name")
    return comp if isinstance(comp, str) and comp else None


def tail_lines(path: Path, n: int = 10, max_bytes: int = 64_000) -> str:
    """The last `n` lines of a text file ('' when it is missing), reading only its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    # Progress bars rewrite one line with \r: keep only what the terminal would show.
    lines = [ln.rstrip("\r").rsplit("\r", 1)[-1] for ln in data.split("\n")]
    return "\n".join([ln for ln in lines if ln.strip()][-n:])
