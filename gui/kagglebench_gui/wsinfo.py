"""What the app needs to know about a workspace: where its store, runs and CSVs are.

Uses `kagglebench.workspace.find_workspace` (the same rules as the CLI) and
reads nothing heavier: the app never loads datasets. A run's settings come from the
engine's Run record (`open_run` -> `kagglebench.runs.Run.open`), opened on demand (a dialog,
a diff) or once per run id (the changes column), never on every poll. Also small file
helpers the workers use (the tail of a log).
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.runs import Run
    from kagglebench.store import Store
    from kagglebench.workspace import Workspace

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


def suggested_recipe(ws: WorkspaceInfo) -> str:
    """The recipe a new run starts from: the workspace's own choice (`recipe = "..."` in
    kagglebench.toml), else demo-cnn on the demo competition, else fast (airbench94)."""
    try:
        data = tomllib.loads((ws.root / CONFIG_NAME).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        data = {}
    for key in ("recipe", "suggested_recipe"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    return "demo-cnn" if data.get("profile") == "demo" else "fast"


@functools.lru_cache(maxsize=4)
def engine_workspace(root: Path) -> Workspace:
    """The engine's Workspace for `root` (its settings only; the data loads only when asked)."""
    from kagglebench.workspace import Workspace
    return Workspace(root)


def open_run(ws: WorkspaceInfo, run_id: str, store: Store | None = None) -> Run:
    """The engine's record of a run (`Run.open`): its resolved recipe, split and normalization.
    Cheap (a store row and a small JSON file); `store`: an already open store to read from."""
    from kagglebench.runs import Run
    return Run.open(engine_workspace(ws.root), run_id, store=store)


def epoch_estimate(ws: WorkspaceInfo, model: str, max_runs: int = 50) -> str:
    """Time per epoch of `model` on this machine from the latest run of it in the store (its
    images/s and its training-set size); the fallback while `find epoch-time` measures."""
    from kagglebench.store import Store

    if not ws.db_path.exists():
        return "No run yet: the Runs tab shows the first epoch's progress and time left as it trains."
    with Store(ws.db_path) as store:
        runs = [r for r in store.list_runs() if r.get("images_per_s")]
        for r in sorted(runs, key=lambda r: -(r.get("created") or 0))[:max_runs]:
            try:
                run = open_run(ws, r["id"], store)
            except Exception:  # noqa: BLE001 - an unreadable record is skipped, not an error here
                continue
            n = run.split.get("n_train")
            if run.recipe.model.name == model and n:
                secs = n / r["images_per_s"]
                return (f"About {human_seconds(secs)} per epoch here ({n:,} images at {r['images_per_s']:,.0f} "
                        f"images/s, measured by run {r['id']}).")
    return f"No run of {model} here yet: the Runs tab shows the first epoch's progress and time left."


def human_seconds(s: float) -> str:
    """0.25 -> '0.25 s', 16.4 -> '16 s', 600 -> '10.0 min', 7200 -> '2.0 h' (never '0 s')."""
    if s < 10:
        return f"{s:.2g} s"
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h"


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


# Recipe fields the trainer fills in from the data when the recipe leaves them empty.
RESOLVED = ("data.mean", "data.std", "data.input_size")


def flatten(cfg: dict) -> dict[str, Any]:
    """{section: {key: value}} as {"section.key": value} (top-level scalars are skipped)."""
    return {f"{sec}.{k}": v for sec, fields in cfg.items() if isinstance(fields, dict) for k, v in fields.items()}


def resolved_by_trainer(key: str, recipe_value: Any, run_value: Any, normalization: dict | None) -> bool:
    """True when the run's value was measured by the trainer (the recipe left it empty), so
    it is not the user's change: data.mean / data.std / data.input_size."""
    if key not in RESOLVED or recipe_value not in ([], 0, None, ""):
        return False
    if normalization is None:
        return True
    return normalization.get(key.split(".", 1)[1]) == run_value


def config_changes(run_cfg: dict, recipe_cfg: dict, normalization: dict | None = None) -> dict[str, Any]:
    """The settings a run changed from its recipe, `section.key` -> the run's value, leaving
    out what the trainer resolved from the data."""
    mine, base = flatten(run_cfg), flatten(recipe_cfg)
    return {k: v for k, v in mine.items() if k in base and v != base[k]
            and not resolved_by_trainer(k, base[k], v, normalization)}


def short_changes(changes: dict[str, Any]) -> str:
    """`lr=0.05 bs=256`: the short form for the table, plot list and legend."""
    short = {"optim.lr": "lr", "train.batch_size": "bs", "train.epochs": "epochs", "train.seed": "seed",
             "model.name": "model"}
    return " ".join(f"{short.get(k, k.split('.', 1)[1])}={_fmt(v)}" for k, v in changes.items())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


class RunChanges:
    """Each run's changes from its recipe, computed once per run id from its Run record (the
    poller's thread, with the poller's open store)."""

    def __init__(self, ws: WorkspaceInfo) -> None:
        self.ws = ws
        self._recipes: dict[str, dict | None] = {}
        self._runs: dict[str, dict[str, Any]] = {}

    def recipe_defaults(self, recipe: str) -> dict | None:
        if recipe not in self._recipes:
            try:
                from kagglebench.config import load_recipe, recipe_to_dict
                self._recipes[recipe] = recipe_to_dict(load_recipe(recipe))
            except Exception:  # noqa: BLE001 - a recipe file moved away: no changes column, no error
                self._recipes[recipe] = None
        return self._recipes[recipe]

    def of(self, run: dict, store: Store | None = None) -> dict[str, Any]:
        if run["id"] not in self._runs:
            base = self.recipe_defaults(run["recipe"])
            changes: dict[str, Any] = {}
            if base is not None:
                try:
                    rec = open_run(self.ws, run["id"], store)
                    changes = config_changes(rec.config, base, rec.normalization)
                except Exception:  # noqa: BLE001 - an unreadable record: no changes shown, no error
                    changes = {}
            self._runs[run["id"]] = changes
        return self._runs[run["id"]]
