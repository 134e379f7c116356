"""`kagglebench train` and `kagglebench runs` as a student runs them: subprocesses, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kagglebench.store import Store

TINY = """
description = "tiny CLI test recipe"
[model]
name = "simplecnn-1conv"
[data]
val_fraction = 0.5
[train]
epochs = 4
batch_size = 32
"""


def kb(*args: str, ws: Path, check_rc: int | None = 0, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(ws), *args],
                          check=False, capture_output=True, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def _wait_for_step_row(db: Path, proc: subprocess.Popen, timeout: float = 240) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if db.exists():
            with Store(db) as store:
                for run in store.list_runs():
                    if store.metrics_since(run["id"], scope="step"):
                        return run["id"]
        time.sleep(0.1)
    raise AssertionError("the trainer logged no step in time")


def test_sigterm_stops_with_checkpoint_and_resume_finishes(small_ws: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY)
    proc = subprocess.Popen([sys.executable, "-m", "kagglebench", "--workspace", str(small_ws), "train",
                             str(recipe), "--json", "--name", "cli run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = _wait_for_step_row(small_ws / "kagglebench.db", proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    doc = json.loads(out)                                   # exactly one JSON document on stdout
    assert set(doc) >= {"id", "status", "best_val_acc", "epochs"}
    assert doc["id"] == run_id and doc["status"] == "stopped"
    assert (small_ws / "runs" / run_id / "checkpoints" / "last.pt").exists()
    assert "Traceback" not in err

    runs = json.loads(kb("runs", "--json", ws=small_ws).stdout)
    assert runs == [{**runs[0], "id": run_id, "name": "cli run", "recipe": "tiny", "status": "stopped"}]
    assert {"epoch", "best_val_acc", "ood_acc"} <= set(runs[0])

    done = json.loads(kb("train", "--resume", run_id, "--json", ws=small_ws).stdout)
    assert done["id"] == run_id and done["status"] == "finished" and done["epochs"] == 4
    assert 0.0 <= done["best_val_acc"] <= 1.0
    (row,) = json.loads(kb("runs", "--json", ws=small_ws).stdout)
    assert row["status"] == "finished" and row["epoch"] == 4 and row["best_val_acc"] == done["best_val_acc"]
    assert row["ood_acc"] is None
    table = kb("runs", ws=small_ws).stdout
    assert run_id in table and "finished" in table and "4/4" in table


@pytest.mark.parametrize("args, message", [
    (["train"], "name a recipe"),
    (["train", "simplecnn-1conv", "--resume", "x-0000"], "keeps its own recipe"),
    (["train", "no-such-recipe"], "no built-in recipe"),
    (["train", "--resume", "x-0000"], "no such run"),
    (["runs", "--sweep", "sweep-nope"], "no runs in this workspace yet"),
])
def test_mistakes_are_one_line_errors(small_ws: Path, args: list[str], message: str) -> None:
    proc = kb(*args, ws=small_ws, check_rc=2, timeout=120)
    assert proc.stderr.startswith("kagglebench: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_runs_with_sweep_ranks_by_validation_accuracy(small_ws: Path) -> None:
    with Store(small_ws / "kagglebench.db") as store:
        sweep = store.create_sweep("demo-cnn", {"lr": [0.1, 0.01], "batch_size": [32]})
        for rid, lr, acc in [("a-0001", 0.1, 0.5), ("b-0002", 0.01, 0.7)]:
            store.create_run(rid, name=rid, recipe="demo-cnn", run_dir=f"runs/{rid}", sweep_id=sweep,
                             config={"optim": {"lr": lr}, "train": {"batch_size": 32}}, status="finished",
                             pid=os.getpid())
            store.update_run(rid, best_val_acc=acc, epoch=3)
        store.create_run("c-0003", name="other", recipe="demo-cnn", run_dir="runs/c-0003", config={},
                         status="stopped", pid=os.getpid())
    ranked = json.loads(kb("runs", "--sweep", sweep, "--json", ws=small_ws).stdout)
    assert [r["id"] for r in ranked] == ["b-0002", "a-0001"]
    assert ranked[0]["overrides"] == {"lr": 0.01, "batch_size": 32}
    table = kb("runs", "--sweep", sweep, ws=small_ws).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "name", "status"] and "lr" in table[0]
    assert table[1].startswith("b-0002") and "70.00%" in table[1]
    everything = json.loads(kb("runs", "--json", ws=small_ws).stdout)
    assert {r["id"] for r in everything} == {"a-0001", "b-0002", "c-0003"}
