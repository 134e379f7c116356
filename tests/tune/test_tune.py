"""`kagglebench tune` end to end on the demo competition: parallel workers, pruning, report, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from kagglebench.store import Store
from tests.tune.conftest import kb, kb_env, write_space

# Two good settings first, then a planted lr=10 (chance level on the demo) that the median pruner
# must stop before its last epoch: it starts only once a good trial has finished (one worker is free
# only then), and startup_trials = 1 lets the pruner judge from that one.
SPACE = """
optim.lr = {log = [0.01, 10]}
train.batch_size = {choice = [32, 64]}

[tune]
pruner = "median"
startup_trials = 1

[[first]]
optim.lr = 0.05
train.batch_size = 32

[[first]]
optim.lr = 0.1
train.batch_size = 32

[[first]]
optim.lr = 10.0
train.batch_size = 32
"""


def _runs(ws, study):
    with Store(ws / "kagglebench.db") as s:
        return s.list_runs(study=study)


def test_parallel_tune_prunes_reports_and_continues(tune_ws):
    write_space(tune_ws, SPACE)
    r = kb("tune", "demo-cnn", "epochs=3", "--space", "space.toml", "--trials", "6", "--parallel", "2",
           "--study", "demo", "--json", cwd=tune_ws)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    trials = doc["trials"]
    assert len(trials) == 6 and all(t["state"] in ("complete", "pruned") for t in trials), (trials, r.stderr)
    assert {t["host"] for t in trials} and "worker1" in r.stderr and "worker2" in r.stderr

    # Every trial is an ordinary run tagged with the study; the planted one ended as pruned, early.
    runs = {r_["trial"]: r_ for r_ in _runs(tune_ws, "demo")}
    assert sorted(runs) == list(range(6))
    assert all(runs[t["number"]]["id"] == t["run_id"] for t in trials)
    planted = trials[2]
    assert planted["params"] == {"optim.lr": 10.0, "train.batch_size": 32}
    assert planted["state"] == "pruned" and runs[2]["status"] == "pruned"
    assert runs[2]["epoch"] < 3 and "pruned by the median pruner" in runs[2]["message"]
    listed = json.loads(kb("runs", "--json", cwd=tune_ws).stdout)
    assert {x["id"]: x["status"] for x in listed}[runs[2]["id"]] == "pruned"
    for t in trials:
        if t["state"] == "complete":
            assert runs[t["number"]]["status"] == "finished" and t["value"] == runs[t["number"]]["best_val_acc"]

    # The report names the best trial's settings and writes Optuna's figures.
    rep = kb("tune", "--report", "demo", cwd=tune_ws)
    assert rep.returncode == 0, rep.stderr
    best = max((t for t in trials if t["state"] == "complete"), key=lambda t: t["value"])
    lr, bs = best["params"]["optim.lr"], best["params"]["train.batch_size"]
    assert f"best: trial {best['number']}, val_acc {best['value']:.4f} (run {best['run_id']}): " \
           f"optim.lr={json.dumps(lr)} train.batch_size={bs}" in rep.stdout
    for name in ("history", "importances", "parallel", "intermediate"):
        png = tune_ws / "tunes" / "demo" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    # The same study again with a larger budget continues the count: one more trial, number 6.
    again = kb("tune", "demo-cnn", "epochs=3", "--space", "space.toml", "--trials", "7", "--study", "demo",
               "--json", cwd=tune_ws)
    assert again.returncode == 0, again.stderr
    assert "continuing, 6 of 7 trials" in again.stderr
    numbers = [t["number"] for t in json.loads(again.stdout)["trials"]]
    assert numbers == list(range(7))
    assert sorted(r_["trial"] for r_ in _runs(tune_ws, "demo")) == list(range(7))

    # A different space under the same name is refused rather than mixed in.
    write_space(tune_ws, "optim.lr = {log = [0.001, 1]}\n", "other.toml")
    bad = kb("tune", "demo-cnn", "epochs=3", "--space", "other.toml", "--trials", "8", "--study", "demo", cwd=tune_ws)
    assert bad.returncode == 2 and "already exists with a different search space" in bad.stderr


def test_a_killed_tune_continues_and_its_dead_trial_is_failed_once(tune_ws):
    write_space(tune_ws, 'optim.lr = {log = [0.01, 0.2]}\n[tune]\npruner = "none"\n')
    # epochs=4 and a 50 ms poll: on a quiet machine two epochs of demo-cnn ended before the kill
    args = ["tune", "demo-cnn", "epochs=4", "--space", "space.toml", "--trials", "2", "--study", "k"]
    proc = subprocess.Popen([sys.executable, "-m", "kagglebench", *args], cwd=tune_ws, env=kb_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        step, deadline = 0, time.time() + 300
        while step == 0 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if (tune_ws / "kagglebench.db").exists():
                with Store(tune_ws / "kagglebench.db") as s:
                    step = max((r["step"] for r in s.db.execute("SELECT step FROM metrics")), default=0)
        assert step > 0, "the first trial never started training"
        os.kill(proc.pid, signal.SIGKILL)      # no chance to tell the study anything
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The training child learns of its parent's death (SIGTERM), checkpoints and stops.
    deadline = time.time() + 120
    while time.time() < deadline and any(r["status"] == "running" for r in _runs(tune_ws, "k")):
        time.sleep(0.5)
    first = _runs(tune_ws, "k")
    assert [r["status"] for r in first] == ["stopped"], first

    r = kb(*args, "--json", cwd=tune_ws)
    assert r.returncode == 0, r.stderr
    assert "trial 0 was left running by a worker that died: marked failed" in r.stderr
    trials = json.loads(r.stdout)["trials"]
    assert [t["state"] for t in trials] == ["fail", "complete", "complete"]
    assert trials[1]["retry_of"] == 0 and trials[1]["params"] == trials[0]["params"]  # tried again, once
    assert sorted(r_["status"] for r_ in _runs(tune_ws, "k")) == ["finished", "finished", "stopped"]
