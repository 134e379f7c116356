"""Crash safety: SIGKILL `kagglebench train` at random moments, resume, and check nothing is lost.

Each cycle starts the real CLI (a new run, then `--resume`), kills it with SIGKILL either at a
random step (polling the store as the GUI would) or in the middle of a checkpoint write (the
fault hook in hooks/sitecustomize.py writes half the file, syncs it, then kills the process).
After every kill: the run shows `failed` the next time the store is opened, every checkpoint
file loads, and the last good checkpoint is at most one checkpoint interval behind the last
metric the store recorded. The next process must resume from exactly that checkpoint. At the
end the run finishes with each epoch and each step recorded exactly once.

KB_KILL_CYCLES sets the number of kills (default 3; the recorded run in RELIABILITY.md used 12).
KB_KILL_SEED makes the moments reproducible (default: a fresh seed, printed on failure).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kagglebench.store import Store
from tests.reliability.helpers import cli_env, kb, write_recipe

EVERY = 3            # checkpoint_every_steps: the most work a crash may cost
STEPS_PER_EPOCH = 6  # 96 training images / batch 16 (see the rel_demo fixture)


def _max_step(db: Path, run_id: str) -> int:
    with Store(db) as s:
        rows = s.metrics_since(run_id)
    return max((r["step"] for r in rows), default=0)


def _the_run(db: Path) -> str | None:
    if not db.exists():
        return None
    with Store(db) as s:
        runs = s.db.execute("SELECT id FROM runs").fetchall()
    return runs[0]["id"] if runs else None


def _kill_at_random_step(proc: subprocess.Popen, db: Path, run_id: str | None, start: int,
                         rng: random.Random) -> str:
    """Wait until the trainer records a step a random distance past `start` (at least one
    checkpoint interval in, so the first run always has a checkpoint), then SIGKILL it."""
    target = max(start, EVERY) + rng.randint(1, 2 * EVERY)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        run_id = run_id or _the_run(db)
        if run_id and _max_step(db, run_id) >= target:
            time.sleep(rng.uniform(0, 0.03))  # land anywhere: mid-step, mid-write, mid-commit (a step takes ms)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    return run_id or _the_run(db)


def _check_after_kill(ws: Path, run_id: str) -> int:
    """The state a crash leaves; returns the step of the checkpoint a resume must start from."""
    import torch

    from kagglebench.train import checkpoints

    db = ws / "kagglebench.db"
    with Store(db) as s:  # opening the store is enough to notice the dead process
        run = {r["id"]: r for r in s.list_runs()}[run_id]
        rows = s.list_checkpoints(run_id)
    assert run["status"] == "failed", run
    assert "without reporting" in (run["message"] or "")
    ck_dir = ws / "runs" / run_id / "checkpoints"
    for f in ck_dir.glob("*.pt"):
        checkpoints.load(f)  # never an unreadable checkpoint: raises UserError if torn
    for r in rows:
        assert (ws / r["path"]).exists(), f"store lists {r['path']} but the file is gone"
    last = ck_dir / "last.pt"
    assert last.exists(), "no checkpoint after a kill past the first checkpoint interval"
    step = torch.load(last, map_location="cpu", weights_only=False)["step"]
    lost = _max_step(db, run_id) - step
    assert 0 <= lost <= EVERY, f"{lost} steps after the last good checkpoint (interval {EVERY})"
    return step


def _check_finished(ws: Path, run_id: str, epochs: int) -> None:
    from kagglebench.train import checkpoints

    with Store(ws / "kagglebench.db") as s:
        run = s.get_run(run_id)
        epoch_rows = s.metrics_since(run_id, scope="epoch")
        step_rows = s.metrics_since(run_id, scope="step")
    assert run["status"] == "finished" and run["epoch"] == epochs, run
    assert [r["epoch"] for r in epoch_rows] == [float(e) for e in range(1, epochs + 1)]
    assert [r["step"] for r in epoch_rows] == [STEPS_PER_EPOCH * e for e in range(1, epochs + 1)]
    # log_every is 1 at 6 steps per epoch: every step has exactly one row, none missing.
    assert sorted(r["step"] for r in step_rows) == list(range(1, STEPS_PER_EPOCH * epochs + 1))
    ck_dir = ws / "runs" / run_id / "checkpoints"
    for f in ck_dir.glob("*.pt"):
        checkpoints.load(f)
    assert not [p.name for p in ck_dir.iterdir() if p.suffix != ".pt"], "half-written files left behind"


@pytest.mark.slow
def test_sigkill_at_random_moments_always_resumes_from_last_good_checkpoint(rel_ws: Path,
                                                                            tmp_path: Path) -> None:
    cycles = int(os.environ.get("KB_KILL_CYCLES", "3"))
    seed = int(os.environ.get("KB_KILL_SEED", str(random.SystemRandom().randrange(10**6))))
    rng = random.Random(seed)
    epochs = 4 * cycles + 6  # enough steps that the run cannot finish before the last kill, even on a quiet machine
    recipe = write_recipe(tmp_path, epochs=epochs, every=EVERY)
    db = rel_ws / "kagglebench.db"
    run_id: str | None = None
    resume_step = -1
    kinds = []
    for cycle in range(cycles):
        mid_write = cycle % 2 == 1  # alternate: random step / inside a checkpoint write
        env = cli_env({"KB_FAULT_CKPT": f"kill:{rng.randint(2, 3)}"} if mid_write else None, hooks=mid_write)
        args = ["--resume", run_id] if run_id else [str(recipe), "--name", "kill-loop"]
        proc = subprocess.Popen([sys.executable, "-m", "kagglebench", "--workspace", str(rel_ws), "train",
                                 *args, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            if mid_write:
                proc.wait(timeout=300)
            else:
                start = _max_step(db, run_id) if run_id else 0  # rows from before the resume count not
                run_id = _kill_at_random_step(proc, db, run_id, start, rng)
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        why = f"seed {seed}, cycle {cycle}\n{err}"
        assert proc.returncode == -signal.SIGKILL, why
        assert "Traceback" not in err, why
        if resume_step >= 0:
            m = re.search(rf"resuming {re.escape(run_id)} at epoch \d+ step (\d+)", err)
            assert m and int(m.group(1)) == resume_step, why
        run_id = run_id or _the_run(db)
        assert run_id, why
        resume_step = _check_after_kill(rel_ws, run_id)
        kinds.append(("checkpoint-write" if mid_write else "random-step", resume_step))
    proc = kb("train", "--resume", run_id, "--json", ws=rel_ws, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    assert f"resuming {run_id} at epoch" in proc.stderr and f"step {resume_step}" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "finished" and result["epochs"] == epochs, (seed, kinds, result)
    _check_finished(rel_ws, run_id, epochs)
    runs = json.loads(kb("runs", "--json", ws=rel_ws).stdout)
    assert [r["status"] for r in runs if r["id"] == run_id] == ["finished"]
    print(f"kill loop: seed {seed}, {cycles} kills: {kinds}")
