"""`kagglebench runs --csv`: the same rows as --json, as a table a spreadsheet opens."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path


def _kb(ws: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(ws), *argv],
                          capture_output=True, text=True, timeout=120)


def test_runs_csv_holds_the_json_rows(trained_ws: Path) -> None:
    as_json = json.loads(_kb(trained_ws, "runs", "--json").stdout)
    out = _kb(trained_ws, "runs", "--csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["id"] for r in rows] == [r["id"] for r in as_json] and len(rows) == 2
    for got, want in zip(rows, as_json):
        assert got["name"] == want["name"] and got["status"] == want["status"] == "finished"
        assert float(got["best_val_acc"]) == want["best_val_acc"] and int(got["epoch"]) == want["epoch"]
        assert got["ood_acc"] == ""                      # never measured: an empty cell
    both = _kb(trained_ws, "runs", "--csv", "--json")
    assert both.returncode == 2 and "not allowed with" in both.stderr
