"""Tune workers as SLURM jobs, through submitit (no sbatch script of our own).

`submit` sends one job per worker as a job array on PARTITION, each with --gpus-per-trial GPUs and
the --time limit; each job runs `run_worker` (the same loop `--parallel` runs) against the study's
storage, which must be reachable from the compute nodes: the workspace's journal file on a shared
filesystem, or a database URL. submitit pickles the call, writes the sbatch file, and keeps each
job's stdout/stderr under tunes/<study>/slurm/. KAGGLEBENCH_SUBMITIT_CLUSTER=local runs the same
jobs as local processes through submitit's LocalExecutor (how the tests exercise this path).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

CLUSTER_ENV = "KAGGLEBENCH_SUBMITIT_CLUSTER"


def parse_time(text: str) -> int:
    """`HH:MM` (or `D-HH:MM`) -> minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d{1,3}):(\d{2})", text.strip())
    if not m or int(m.group(3)) >= 60:
        raise UserError(f"--time {text}", "write the time limit as HH:MM (e.g. 02:00) or D-HH:MM")
    minutes = int(m.group(1) or 0) * 1440 + int(m.group(2)) * 60 + int(m.group(3))
    if minutes < 1:
        raise UserError(f"--time {text}", "the time limit must be at least one minute")
    return minutes


def cluster(partition: str) -> str:
    """submitit's executor name: slurm, unless KAGGLEBENCH_SUBMITIT_CLUSTER says local (or debug)."""
    name = os.environ.get(CLUSTER_ENV) or "slurm"
    if name not in ("slurm", "local", "debug"):
        raise UserError(CLUSTER_ENV, f"{name!r} is not one of: slurm, local, debug")
    if name == "slurm" and shutil.which("sbatch") is None:
        raise UserError(f"--slurm {partition}", "sbatch is not on this machine: run the tune from the "
                        "cluster's login node (see docs/TUNE.md)")
    return name


def _job(ws_root: str, spec: str, name: str, label: str, gpus_per_trial: int) -> list[dict[str, Any]]:
    from kagglebench.tune.worker import run_worker

    return run_worker(ws_root, spec, name, label=label, gpus_per_trial=gpus_per_trial, log_trials=True)


def submit(ws: Workspace, spec: str, name: str, *, partition: str, workers: int, gpus_per_trial: int,
           minutes: int, folder: Path, extra: dict[str, str] | None = None) -> list[Any]:
    """Submit `workers` SLURM jobs (a job array); returns submitit's Job objects. `extra`: more
    sbatch options (account, qos, constraint, ...), written as `#SBATCH --key=value`."""
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster(partition))
    executor.update_parameters(name=f"kb-{name}", timeout_min=minutes, gpus_per_node=gpus_per_trial,
                               tasks_per_node=1, nodes=1, cpus_per_task=max(2, 4 * gpus_per_trial),
                               slurm_partition=partition, slurm_array_parallelism=workers,
                               slurm_additional_parameters=dict(extra or {}))
    labels = [f"job{i + 1}" for i in range(workers)]
    return executor.map_array(_job, [str(ws.root)] * workers, [spec] * workers, [name] * workers, labels,
                              [gpus_per_trial] * workers)


def wait(jobs: list[Any], say: Any) -> int:
    """Wait for every job; say how each ended. Returns how many failed."""
    failed = 0
    for job in jobs:
        try:
            trials = job.result()
            say(f"slurm job {job.job_id}: done, {len(trials)} trial(s)")
        except Exception as e:  # noqa: BLE001 - submitit re-raises the job's error with its log path
            failed += 1
            first = str(e).strip().splitlines()
            say(f"slurm job {job.job_id}: failed: {first[-1] if first else type(e).__name__} "
                f"(log: {job.paths.stderr})")
    return failed
