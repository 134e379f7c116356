"""Many workers: two machines' workers against one PostgreSQL study, and SLURM jobs through submitit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from kagglebench.store import Store
from tests.tune.conftest import kb, kb_env, write_space


def _study_exists(url: str, name: str) -> bool:
    from kagglebench.tune.study import open_storage, storage_spec, study_names

    return name in study_names(open_storage(storage_spec(None, url)))


def test_two_workers_share_a_postgresql_study(tune_ws, tmp_path, postgres_url):
    other = tmp_path / "other-machine"                      # a second workspace: another machine's copy
    shutil.copytree(tune_ws, other)
    write_space(tune_ws, 'optim.lr = {log = [0.01, 0.2]}\n[tune]\npruner = "none"\n')
    first = subprocess.Popen([sys.executable, "-m", "kagglebench", "tune", "demo-cnn", "epochs=1", "--space",
                              "space.toml", "--trials", "4", "--study", "pg", "--storage", postgres_url, "--json"],
                             cwd=tune_ws, env=kb_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not _study_exists(postgres_url, "pg") and time.time() < deadline and first.poll() is None:
            time.sleep(0.3)
        joined = kb("tune", "--worker", "--study", "pg", "--storage", postgres_url, "--json", cwd=other)
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert joined.returncode == 0, joined.stderr
    assert "postgresql+psycopg2://kb@127.0.0.1" in err
    # Each process stops when no trial is left to start; once both have, all four are done.
    rep = kb("tune", "--report", "pg", "--storage", postgres_url, "--json", cwd=other)
    assert rep.returncode == 0, rep.stderr
    trials = json.loads(rep.stdout)["trials"]
    assert len(trials) == 4 and all(t["state"] == "complete" for t in trials), trials
    assert len(json.loads(out)["trials"]) == len(json.loads(joined.stdout)["trials"]) == 4
    # Each trial is a run in the store of the workspace (machine) that trained it, tagged with the study.
    ids = set()
    for ws in (tune_ws, other):
        if (ws / "kagglebench.db").exists():
            with Store(ws / "kagglebench.db") as s:
                ids |= {(r["trial"], r["id"]) for r in s.list_runs(study="pg")}
    assert ids == {(t["number"], t["run_id"]) for t in trials}


def test_workers_with_workspaces_of_their_own_ask_one_at_a_time_through_the_database(tmp_path, postgres_url):
    """Two machines with their own workspaces share no lock file: PostgreSQL's advisory lock keeps them
    from both taking the budget's last trial. Each side here has its own lock file and connection."""
    import threading

    from kagglebench.tune import study as st

    spec = st.storage_spec(None, postgres_url)
    events: list[str] = []
    entered = threading.Event()

    def other_machine(study: str) -> None:
        with st.asking(spec, study, tmp_path / "b.lock"):
            events.append(f"b asks in {study}")
            entered.set()

    with st.asking(spec, "s", tmp_path / "a.lock"):
        elsewhere = threading.Thread(target=other_machine, args=("t",))   # another study: not held up
        elsewhere.start()
        assert entered.wait(30)
        entered.clear()
        same = threading.Thread(target=other_machine, args=("s",))
        same.start()
        assert not entered.wait(1.0)                        # waits while this side counts and asks
        events.append("a done")
    assert entered.wait(30)
    same.join(30)
    elsewhere.join(30)
    assert events == ["b asks in t", "a done", "b asks in s"]


def test_slurm_jobs_through_submitits_local_executor_with_the_ood_objective(tune_ws):
    write_space(tune_ws, 'optim.lr = {log = [0.01, 0.2]}\n[tune]\npruner = "none"\nood_samples = 4\n')
    r = kb("tune", "demo-cnn", "epochs=1", "--space", "space.toml", "--trials", "1", "--study", "sl",
           "--objective", "ood_acc", "--slurm", "gpu", "--gpus-per-trial", "0", "--time", "00:20", "--json",
           cwd=tune_ws, env={"KAGGLEBENCH_SUBMITIT_CLUSTER": "local"})
    assert r.returncode == 0, r.stderr
    assert "submitted 1 SLURM job(s)" in r.stderr and "done, 1 trial(s)" in r.stderr
    (trial,) = json.loads(r.stdout)["trials"]
    assert trial["state"] == "complete"
    with Store(tune_ws / "kagglebench.db") as s:
        (run,) = s.list_runs(study="sl")
        (ev,) = s.list_evals(run["id"])
    # The objective is the run's local OOD estimate (stored with the run), not its clean accuracy.
    assert trial["value"] == run["ood_acc"] == ev["ood_acc"] and ev["details"]["ood"]["samples"] == 4
    logs = list((tune_ws / "tunes" / "sl" / "slurm").rglob("*_log.err"))
    assert logs and (tune_ws / "tunes" / "sl" / "trial-000.log").stat().st_size > 0


def test_slurm_submission_asks_for_partition_gpus_time_and_extra_options(tune_ws, tmp_path, monkeypatch):
    """The sbatch file submitit writes, with a stand-in sbatch (no cluster here): what SLURM is asked for."""
    from kagglebench.tune import slurm
    from kagglebench.tune.study import create_or_resume, storage_spec
    from kagglebench.workspace import Workspace

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in (("sbatch", 'echo "Submitted batch job 4242"'), ("srun", "exit 0")):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.delenv(slurm.CLUSTER_ENV, raising=False)
    ws = Workspace(tune_ws)
    spec = storage_spec(ws, None)
    create_or_resume(spec, "s", {"recipe": {"name": "demo-cnn"}, "objective": "val_acc", "trials": 4,
                                 "space": {"params": {}, "settings": {"pruner": "none", "startup_trials": 1,
                                                                      "warmup_epochs": 0, "ood_samples": 1},
                                           "first": []}})
    jobs = slurm.submit(ws, spec, "s", partition="gpu", workers=2, gpus_per_trial=2,
                        minutes=slurm.parse_time("1-02:30"),
                        folder=tmp_path / "slurm", extra={"account": "ds542"})
    assert [j.job_id for j in jobs] == ["4242_0", "4242_1"]
    (script,) = (tmp_path / "slurm").rglob("*_submission.sh")
    text = script.read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --time=1590",
                 "#SBATCH --array=0-1%2", "#SBATCH --account=ds542", "#SBATCH --job-name=kb-s"):
        assert line in text, text
