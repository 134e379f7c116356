"""`kagglebench sweep RECIPE key=v1,v2 [key2=a,b ...] [--parallel N]`: a grid of ordinary runs.

Every combination of the listed values becomes one `kagglebench train` child process,
tagged with the sweep's id through KAGGLEBENCH_SWEEP_ID, at most N at a time. The
runs are ordinary runs (resume, eval, ensemble them as usual); at the end the ranked
table of `kagglebench runs --sweep ID` is printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kagglebench.errors import UserError

SWEEP_ENV = "KAGGLEBENCH_SWEEP_ID"

_DESCRIPTION = """\
Train every combination of the values you list, as ordinary runs tagged with one sweep id.

  kagglebench sweep demo-cnn lr=0.1,0.01,0.001 batch_size=32,128      6 runs, one at a time
  kagglebench sweep demo-cnn lr=0.1,0.01 epochs=5 --parallel 2        2 runs, both at once

A key with one value (epochs=5 above) applies to every run. With --parallel above 1 each
run's progress goes to sweeps/<sweep-id>/NN.log in the workspace. Ctrl-C (or SIGTERM)
stops the running runs cleanly (they can be resumed) and starts no more. At the end the
runs are ranked by best validation accuracy, as `kagglebench runs --sweep ID` shows them.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sweep", parents=[common], help="train a grid of settings as tagged runs",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", metavar="RECIPE", help="a built-in recipe name or a .toml file")
    p.add_argument("grid", nargs="*", metavar="key=v1,v2", help="settings and the values to try")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at the same time (default 1)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON document {"sweep", "runs": [...]} on stdout instead of the table')
    p.set_defaults(func=run)


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
class _Child:
    index: int
    overrides: list[str]
    name: str
    proc: subprocess.Popen | None = None
    out: IO[bytes] | None = None
    log: IO[bytes] | None = None
    result: dict[str, Any] = field(default_factory=dict)


def run(args: argparse.Namespace) -> int:
    from kagglebench.config import load_recipe
    from kagglebench.workspace import find_workspace

    if args.parallel < 1:
        raise UserError("--parallel", f"needs at least 1 (got {args.parallel})")
    grid = parse_grid(args.grid)
    combos = expand(grid)
    recipe = load_recipe(args.recipe, [])
    for overrides in combos:  # refuse a typo before anything starts, not at run 5 of 6
        load_recipe(args.recipe, overrides)
    ws = find_workspace(args.workspace)
    with ws.store() as store:
        sweep_id = store.create_sweep(recipe.name, grid)
    varying = [k for k, v in grid.items() if len(v) > 1]
    children = [_Child(i + 1, o, " ".join([recipe.name, *(x for x in o if x.split("=")[0] in varying)]))
                for i, o in enumerate(combos)]
    _say(f"{sweep_id}: {len(children)} runs of {recipe.name}, {args.parallel} at a time")
    stopped = _run_all(children, args, ws, sweep_id)
    failed = [c for c in children if c.result.get("exit") not in (0, None)]
    for c in failed:
        _say(f"{sweep_id}: run {c.index} ({' '.join(c.overrides)}) exited with status {c.result['exit']}"
             + (f"; see {c.result['log']}" if c.result.get("log") else ""))
    if args.json:
        print(json.dumps({"sweep": sweep_id, "grid": grid, "stopped": stopped,
                          "runs": [{"overrides": c.overrides, **c.result} for c in children]}))
    else:
        _print_table(ws, sweep_id)
    return 1 if failed or stopped else 0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _start(child: _Child, args: argparse.Namespace, ws: Any, sweep_id: str, total: int) -> None:
    cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(ws.root), "train", args.recipe,
           *child.overrides, "--name", child.name, "--json"]
    if args.debug:
        cmd.insert(3, "--debug")
    child.out = tempfile.TemporaryFile()
    stderr = None  # one at a time: the run's progress bar shows in this terminal
    if args.parallel > 1:
        log_dir = Path(ws.root) / "sweeps" / sweep_id
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{child.index:02d}.log"
        child.log = stderr = open(log_path, "wb")
        child.result["log"] = os.path.relpath(log_path)
    child.proc = subprocess.Popen(cmd, stdout=child.out, stderr=stderr,
                                  env={**os.environ, SWEEP_ENV: sweep_id})
    _say(f"{sweep_id}: run {child.index}/{total} started: {' '.join(child.overrides)}"
         + (f" (progress in {child.result['log']})" if child.log else ""))


def _finish(child: _Child, sweep_id: str, total: int) -> None:
    code = child.proc.wait()
    child.out.seek(0)
    text = child.out.read().decode(errors="replace").strip()
    child.out.close()
    if child.log:
        child.log.close()
    try:
        child.result.update(json.loads(text.splitlines()[-1]) if text else {})
    except (json.JSONDecodeError, IndexError):
        pass
    child.result["exit"] = code
    acc = child.result.get("best_val_acc")
    what = f"{child.result.get('id', '?')} {child.result.get('status', 'failed')}" + \
        (f", best val acc {acc:.2%}" if isinstance(acc, (int, float)) else "")
    _say(f"{sweep_id}: run {child.index}/{total} done: {' '.join(child.overrides)} -> {what}")


def _run_all(children: list[_Child], args: argparse.Namespace, ws: Any, sweep_id: str) -> bool:
    """Start children, at most --parallel at once, until all are done or a stop is asked for.
    Returns whether the sweep was stopped early."""
    pending, running = list(children), []
    stop = {"asked": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["asked"] += 1
        if stop["asked"] == 1:
            _say(f"{sweep_id}: stopping: the running runs checkpoint and stop; no new runs start")
            for c in running:
                c.proc.send_signal(signal.SIGTERM)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        while pending or running:
            while pending and len(running) < args.parallel and not stop["asked"]:
                child = pending.pop(0)
                _start(child, args, ws, sweep_id, len(children))
                running.append(child)
            if stop["asked"] and not running:
                break
            for c in [c for c in running if c.proc.poll() is not None]:
                _finish(c, sweep_id, len(children))
                running.remove(c)
            time.sleep(0.2)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return bool(stop["asked"])


def _print_table(ws: Any, sweep_id: str) -> None:
    """The same ranked table as `kagglebench runs --sweep ID`."""
    from kagglebench.cli import build_parser

    args = build_parser().parse_args(["runs", "--sweep", sweep_id, "--workspace", str(ws.root)])
    args.func(args)
