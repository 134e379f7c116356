"""The GPU check's CPU rehearsal: the same script, every check, on tiny data, so it never rots.

A GPU is lent to this project rarely and for minutes; the check must work the first time
it meets one. This runs it as the GPU machine will (a plain `python tools/gpu_check.py`,
kagglebench from src/ on PYTHONPATH, not installed) with `--cpu --tiny`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ["environment", "data", "recipes", "fast vs airbench94", "training FLOP/s", "eval --ood",
          "predict DS-542", "telemetry", "find batch-size", "kill and resume", "DDP"]


def test_cpu_rehearsal_runs_every_check_and_writes_the_report(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAGGLEBENCH_WORKSPACE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT / "src")  # as on the GPU machine: nothing installed
    out = tmp_path / "report"
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), str(out), "--cpu", "--tiny",
                               "--budget", "100000"], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=1800, check=False)
    finally:  # the scratch folder holds a few GB of checkpoints (ResNet-152's among them): the report stays
        shutil.rmtree(out / "work", ignore_errors=True)
    doc = json.loads((out / "report.json").read_text())
    results = {r["check"]: r for r in doc["results"]}
    assert list(results) == CHECKS, proc.stderr[-3000:]
    bad = {k: r["detail"] for k, r in results.items() if r["status"] != "pass"}
    assert not bad, bad
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the figures a reader of the report looks for are there
    assert results["kill and resume"]["figures"]["bit_identical"] is True
    assert results["eval --ood"]["figures"]["cells"] == 95
    assert results["predict DS-542"]["figures"]["rows"] == 19 * 5 * 20
    assert results["recipes"]["figures"]["fast"]["ok"] is True
    md = (out / "report.md").read_text()
    assert "| kill and resume | pass |" in md and "torch" in md


def test_a_check_that_fails_is_reported_as_failed_and_the_others_still_run(tmp_path: Path) -> None:
    """Asking for a GPU where there is none is a failure in the report, not a crash, and the
    GPU checks are skipped rather than silently run on the CPU."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["CUDA_VISIBLE_DEVICES"] = ""
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    doc = json.loads((out / "report.json").read_text())
    statuses = {r["check"]: r["status"] for r in doc["results"]}
    assert statuses["environment"] == "fail"
    assert "no GPU visible" in doc["results"][0]["detail"]
    assert {statuses[c] for c in CHECKS[1:]} == {"skipped"}
    assert proc.returncode == 1
