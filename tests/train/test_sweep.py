"""`kagglebench sweep`: grid syntax, runs tagged with the sweep, the ranked table, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kagglebench.errors import UserError
from kagglebench.store import Store
from kagglebench.sweep import expand, parse_grid


def kb(*args, cwd=None, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("KAGGLEBENCH_SWEEP_ID", None)
    return subprocess.run([sys.executable, "-m", "kagglebench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240, **kw)


def test_grid_expands_first_key_slowest():
    grid = parse_grid(["lr=0.1,0.01", "batch_size=32,64", "epochs=1"])
    assert grid == {"lr": ["0.1", "0.01"], "batch_size": ["32", "64"], "epochs": ["1"]}
    assert expand(grid) == [["lr=0.1", "batch_size=32", "epochs=1"], ["lr=0.1", "batch_size=64", "epochs=1"],
                            ["lr=0.01", "batch_size=32", "epochs=1"],
                            ["lr=0.01", "batch_size=64", "epochs=1"]]


@pytest.mark.parametrize("items, fragment", [
    (["lr"], "expected key=value1,value2"),
    (["=0.1,0.2"], "expected key=value1,value2"),
    (["lr=0.1,,0.2"], "empty value"),
    (["lr="], "empty value"),
    (["lr=0.1,0.1"], "listed twice"),
    (["lr=0.1,0.2", "optim.lr=0.3,0.4"], "already given"),
    (["epochs=1"], "nothing to sweep"),
    ([], "nothing to sweep"),
])
def test_bad_grid_syntax_is_refused(items, fragment):
    with pytest.raises(UserError, match=fragment):
        parse_grid(items)


def test_bad_grid_exits_2_before_anything_runs(fresh_ws):
    r = kb("sweep", "twolayer-mlp", "lr=0.1,,0.01", cwd=fresh_ws)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("kagglebench: error: lr=0.1,,0.01: empty value")
    assert "Traceback" not in r.stderr
    r = kb("sweep", "twolayer-mlp", "lr=0.1,0.01", "optim.nosuchkey=1,2", cwd=fresh_ws)
    assert r.returncode == 2 and "nosuchkey" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with Store(fresh_ws / "kagglebench.db") as s:
        assert s.db.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 0
        assert s.list_runs() == []


def test_sweep_runs_the_grid_as_tagged_runs_and_ranks_them(fresh_ws):
    r = kb("sweep", "twolayer-mlp", "lr=0.05,0.001", "--parallel", "2", "epochs=1", "--json", cwd=fresh_ws)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    sweep_id = out["sweep"]
    assert out["grid"] == {"lr": ["0.05", "0.001"], "epochs": ["1"]}
    assert [x["overrides"] for x in out["runs"]] == [["lr=0.05", "epochs=1"], ["lr=0.001", "epochs=1"]]
    assert all(x["status"] == "finished" and x["exit"] == 0 for x in out["runs"])
    with Store(fresh_ws / "kagglebench.db") as s:
        runs = s.list_runs(sweep_id)
        assert s.get_sweep(sweep_id)["recipe"] == "twolayer-mlp"
    assert sorted(r["id"] for r in runs) == sorted(x["id"] for x in out["runs"])
    assert sorted(r["name"] for r in runs) == ["twolayer-mlp lr=0.001", "twolayer-mlp lr=0.05"]
    assert sorted(r["config"]["optim"]["lr"] for r in runs) == [0.001, 0.05]
    assert all(r["epoch"] == 1 for r in runs)
    for i in (1, 2):  # with --parallel 2 each run's progress went to its own log
        assert (fresh_ws / "sweeps" / sweep_id / f"0{i}.log").stat().st_size > 0

    table = kb("runs", "--sweep", sweep_id, cwd=fresh_ws)
    assert table.returncode == 0
    best = max(runs, key=lambda r: r["best_val_acc"])
    lines = [ln for ln in table.stdout.splitlines() if "twolayer-mlp" in ln]
    assert len(lines) == 2 and best["id"] in lines[0]


def test_sigterm_stops_the_running_run_and_starts_no_more(fresh_ws):
    env = {**os.environ}
    env.pop("KAGGLEBENCH_SWEEP_ID", None)
    proc = subprocess.Popen([sys.executable, "-m", "kagglebench", "sweep", "twolayer-mlp",
                             "lr=0.05,0.01,0.001", "epochs=200", "--json"], cwd=fresh_ws, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        step = 0
        while time.time() < deadline and step == 0:
            time.sleep(0.5)
            if (fresh_ws / "kagglebench.db").exists():
                with Store(fresh_ws / "kagglebench.db") as s:
                    step = max((r["step"] or 0 for r in s.db.execute("SELECT step FROM metrics")), default=0)
        assert step > 0, "the first run never started training"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    doc = json.loads(out)
    assert doc["stopped"] is True
    assert doc["runs"][0]["status"] == "stopped"
    assert "id" not in doc["runs"][1] and "id" not in doc["runs"][2]
    with Store(fresh_ws / "kagglebench.db") as s:
        runs = s.list_runs(doc["sweep"])
    assert [r["status"] for r in runs] == ["stopped"]
