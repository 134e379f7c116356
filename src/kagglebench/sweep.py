"""Sweeps: a grid of settings trained as ordinary runs tagged with one sweep id.

`run_sweep(ws, recipe, grid, parallel=N)` records the sweep in the store and starts every
combination of the grid's values as one `kagglebench train` child process (its own process,
so a crash or an out-of-memory in one run never takes the others down), tagged with the
sweep's id through the environment variable `SWEEP_ENV`, at most N at a time. SIGTERM or
Ctrl-C (in the main thread) stop the running children cleanly (they checkpoint, and can be
resumed) and start no more. `kagglebench sweep` (cli/sweep.py) and the GUI call this.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

SWEEP_ENV = "KAGGLEBENCH_SWEEP_ID"


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """`["lr=0.1,0.01", "epochs=5"]` -> `{"lr": ["0.1", "0.01"], "epochs": ["5"]}`.

    UserError on bad syntax, a key given twice, or a grid with nothing to vary."""
    from kagglebench.config import SHORTCUTS

    grid: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UserError(item, "expected key=value1,value2 (for example lr=0.1,0.01)")
        vals = [v.strip() for v in values.split(",")]
        if not values.strip() or any(v == "" for v in vals):
            raise UserError(item, f"empty value for {key}: list values separated by commas, "
                                  "with nothing between two commas (for example lr=0.1,0.01)")
        canonical = SHORTCUTS.get(key, key)
        if canonical in seen:
            raise UserError(item, f"{key} is already given as {seen[canonical]}: "
                                  "list all its values in one key=v1,v2")
        if len(set(vals)) != len(vals):
            raise UserError(item, f"a value is listed twice for {key}")
        seen[canonical] = item
        grid[key] = vals
    if not any(len(v) > 1 for v in grid.values()):
        raise UserError("sweep", "nothing to sweep: give at least one key with several values, "
                                 "e.g. lr=0.1,0.01 (for a single run use `kagglebench train`)")
    return grid


def expand(grid: dict[str, list[str]]) -> list[list[str]]:
    """The combinations as override lists, first key slowest (as nested loops would run them)."""
    keys = list(grid)
    combos = itertools.product(*grid.values())
    return [[f"{k}={v}" for k, v in zip(keys, combo, strict=True)] for combo in combos]


@dataclass
class Child:
    """One grid point: its overrides, its run name and, once started, its process."""
    index: int
    overrides: list[str]
    name: str
    proc: subprocess.Popen | None = None
    out: IO[bytes] | None = None
    log: IO[bytes] | None = None
    result: dict[str, Any] = field(default_factory=dict)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Sweep:
    """A sweep being run: the workspace, the recipe argument, its children and how many at once."""
    ws: Workspace
    recipe: str                       # a built-in name or a .toml path, as `kagglebench train` takes it
    sweep_id: str
    children: list[Child]
    parallel: int = 1
    debug: bool = False
    say: Callable[[str], None] = _say

    def start(self, child: Child) -> None:
        cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(self.ws.root), "train", self.recipe,
               *child.overrides, "--name", child.name, "--json"]
        if self.debug:
            cmd.insert(3, "--debug")
        child.out = tempfile.TemporaryFile()
        stderr = None  # one at a time: the run's progress bar shows in this terminal
        if self.parallel > 1:
            log_dir = Path(self.ws.root) / "sweeps" / self.sweep_id
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{child.index:02d}.log"
            child.log = stderr = open(log_path, "wb")  # noqa: SIM115 - closed in finish()
            child.result["log"] = os.path.relpath(log_path)
        child.proc = subprocess.Popen(cmd, stdout=child.out, stderr=stderr,
                                      env={**os.environ, SWEEP_ENV: self.sweep_id})
        self.say(f"{self.sweep_id}: run {child.index}/{len(self.children)} started: {' '.join(child.overrides)}"
                 + (f" (progress in {child.result['log']})" if child.log else ""))

    def finish(self, child: Child) -> None:
        code = child.proc.wait()
        child.out.seek(0)
        text = child.out.read().decode(errors="replace").strip()
        child.out.close()
        if child.log:
            child.log.close()
        try:
            child.result.update(json.loads(text.splitlines()[-1]) if text else {})
        except (json.JSONDecodeError, IndexError):
            pass  # a child that died before its JSON line: reported below as failed, with its exit code
        child.result["exit"] = code
        acc = child.result.get("best_val_acc")
        what = f"{child.result.get('id', '?')} {child.result.get('status', 'failed')}" + \
            (f", best val acc {acc:.2%}" if isinstance(acc, (int, float)) else "")
        self.say(f"{self.sweep_id}: run {child.index}/{len(self.children)} done: {' '.join(child.overrides)}"
                 f" -> {what}")

    def run_all(self) -> bool:
        """Start children, at most `parallel` at once, until all are done or a stop is asked for.
        Returns whether the sweep was stopped early."""
        pending, running = list(self.children), []
        stop = {"asked": 0}

        def on_signal(signum: int, _frame: Any) -> None:
            stop["asked"] += 1
            if stop["asked"] == 1:
                self.say(f"{self.sweep_id}: stopping: the running runs checkpoint and stop; no new runs start")
                for c in running:
                    c.proc.send_signal(signal.SIGTERM)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt

        main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)} if main else {}
        try:
            while pending or running:
                while pending and len(running) < self.parallel and not stop["asked"]:
                    child = pending.pop(0)
                    self.start(child)
                    running.append(child)
                if stop["asked"] and not running:
                    break
                for c in [c for c in running if c.proc.poll() is not None]:
                    self.finish(c)
                    running.remove(c)
                time.sleep(0.2)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return bool(stop["asked"])


@dataclass
class Plan:
    """A checked sweep: the recipe argument, its name, the grid and its combinations."""
    recipe: str
    name: str
    grid: dict[str, list[str]]
    combos: list[list[str]]


def plan(recipe: str, grid: dict[str, list[str]]) -> Plan:
    """Check every combination of `grid` on `recipe` (a typo is refused before anything starts,
    not at run 5 of 6)."""
    from kagglebench.config import load_recipe

    combos = expand(grid)
    name = load_recipe(recipe, []).name
    for overrides in combos:
        load_recipe(recipe, overrides)
    return Plan(recipe, name, grid, combos)


def run_sweep(ws: Workspace, p: Plan, *, parallel: int = 1, debug: bool = False,
              say: Callable[[str], None] = _say) -> dict[str, Any]:
    """Train every combination of a checked plan as runs tagged with a new sweep id.

    Returns {"sweep", "grid", "stopped", "runs": [{"overrides", "exit", "id", "status",
    "best_val_acc", ...}]}."""
    if parallel < 1:
        raise UserError("--parallel", f"needs at least 1 (got {parallel})")
    recipe, name, grid, combos = p.recipe, p.name, p.grid, p.combos
    with ws.store() as store:
        sweep_id = store.create_sweep(name, grid)
    varying = [k for k, v in grid.items() if len(v) > 1]
    children = [Child(i + 1, o, " ".join([name, *(x for x in o if x.split("=")[0] in varying)]))
                for i, o in enumerate(combos)]
    say(f"{sweep_id}: {len(children)} runs of {name}, {parallel} at a time")
    sweep = Sweep(ws, recipe, sweep_id, children, parallel, debug, say)
    stopped = sweep.run_all()
    for c in children:
        if c.result.get("exit") not in (0, None):
            say(f"{sweep_id}: run {c.index} ({' '.join(c.overrides)}) exited with status {c.result['exit']}"
                + (f"; see {c.result['log']}" if c.result.get("log") else ""))
    return {"sweep": sweep_id, "grid": grid, "stopped": stopped,
            "runs": [{"overrides": c.overrides, **c.result} for c in children]}
