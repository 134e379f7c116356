"""`kagglebench runs`: the table of training runs in this workspace (or of one sweep, ranked)."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.store import Store
    from kagglebench.workspace import Workspace

DESCRIPTION = """\
List the training runs recorded in this workspace: status (running, finished, stopped,
diverged, failed, pruned), epochs done, best validation accuracy and the out-of-distribution
accuracy once `kagglebench eval RUN_ID --ood` has measured it.
With --sweep ID, only that sweep's runs, best first, with the settings each one tried;
with --study NAME, only the trials of that `kagglebench tune` study, best first."""

def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("runs", parents=[common], help="list training runs and their best scores",
                       description=DESCRIPTION)
    p.add_argument("--sweep", metavar="ID", help="only the runs of this sweep, ranked by validation accuracy")
    p.add_argument("--study", metavar="NAME", help="only the runs of this tune study, ranked by validation accuracy")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help='print a JSON list of {"id", "name", "recipe", "status", "epoch", "best_val_acc", '
                          '"ood_acc", "study", "trial"} on stdout')
    out.add_argument("--csv", action="store_true",
                     help="print the runs as CSV (one row per run, a column per field) for a spreadsheet")
    p.set_defaults(func=run)


def _lookup(config: dict[str, Any], key: str) -> Any:
    from kagglebench.config import SHORTCUTS

    section, _, name = SHORTCUTS.get(key, key).partition(".")
    return (config.get(section) or {}).get(name)


def _rows(store: Store, sweep_id: str | None, study: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    keys: list[str] = []
    if sweep_id:
        sweep = store.get_sweep(sweep_id)
        if sweep is None:
            raise UserError(sweep_id, "no such sweep in this workspace (`kagglebench runs` lists every run "
                            "with its sweep)")
        keys = list(sweep["grid"])
    runs = store.list_runs(sweep_id=sweep_id, study=study)
    rows = []
    for r in runs:
        row = {"id": r["id"], "name": r["name"], "recipe": r["recipe"], "status": r["status"],
               "epoch": r["epoch"], "total_epochs": r["total_epochs"], "best_val_acc": r["best_val_acc"],
               "ood_acc": r["ood_acc"], "images_per_s": r["images_per_s"], "sweep": r["sweep_id"],
               "created": r["created"], "message": r["message"], "study": r.get("study"),
               "trial": r.get("trial")}
        if sweep_id:
            row["overrides"] = {k: _lookup(r["config"], k) for k in keys}
        rows.append(row)
    if sweep_id or study:
        rows.sort(key=lambda x: (x["best_val_acc"] is None, -(x["best_val_acc"] or 0.0)))
    return rows, keys


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    head = ["id", "name", "status", "epoch", "best val", "ood", *keys, "started"]
    body = []
    for r in rows:
        ep = f"{r['epoch']}/{r['total_epochs']}" if r["total_epochs"] else str(r["epoch"])
        extra = [str(r["overrides"].get(k)) for k in keys] if keys else []
        body.append([r["id"], r["name"], r["status"], ep, _pct(r["best_val_acc"]), _pct(r["ood_acc"]),
                     *extra, time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body]]
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], keys: list[str]) -> str:
    """The rows as CSV text (pandas): a sweep's settings become columns of their own."""
    import pandas as pd

    flat = [{**{k: v for k, v in r.items() if k != "overrides"}, **r.get("overrides", {})} for r in rows]
    columns = [c for c in _COLUMNS if c != "overrides"] + keys
    return pd.DataFrame(flat, columns=columns).to_csv(index=False, lineterminator="\n")


_COLUMNS = ("id", "name", "recipe", "status", "epoch", "total_epochs", "best_val_acc", "ood_acc", "images_per_s",
            "sweep", "study", "trial", "created", "message")


def print_runs(ws: Workspace, sweep_id: str | None = None, fmt: str = "table", study: str | None = None) -> None:
    """Print the runs (or one sweep's or tune study's, ranked) as a table, JSON or CSV; reads the store only."""
    from kagglebench.store import Store

    if not ws.db_path.exists():
        rows, keys = [], []
        if sweep_id:
            raise UserError(sweep_id, "no runs in this workspace yet")
    else:
        with Store(ws.db_path) as store:
            rows, keys = _rows(store, sweep_id, study)
    if fmt == "json":
        print(json.dumps(rows))
    elif fmt == "csv":
        print(_csv(rows, keys), end="")
    elif not rows:
        print("no runs yet: start one with `kagglebench train demo-cnn` (or any recipe from "
              "`kagglebench recipes`)")
    else:
        print(_table(rows, keys))


def run(args: argparse.Namespace) -> int:
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    print_runs(ws, args.sweep, "json" if args.json else "csv" if args.csv else "table", args.study)
    return 0
