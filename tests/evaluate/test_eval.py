"""`kagglebench eval`: JSON and store row, the run's own normalization, cached logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kagglebench.evaluate.runner import evaluate_run
from kagglebench.workspace import Workspace


def _cli(ws, *args):
    return subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(ws), *args],
                          check=False, capture_output=True, text=True, timeout=300)


def test_eval_json_and_store_row(eval_ws):
    root, run_id = eval_ws
    p = _cli(root, "eval", run_id, "--ood", "--ood-samples", "4", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("run", "checkpoint", "val_acc", "val_top5", "ece", "ood_acc", "ood"):
        assert key in out
    assert out["run"] == run_id and 0 <= out["val_acc"] <= out["val_top5"] <= 1
    from kagglebench.data.corruptions import CORRUPTIONS
    assert list(out["ood"]) == list(CORRUPTIONS)
    assert all(sorted(v) == ["1", "2", "3", "4", "5"] for v in out["ood"].values())
    with Workspace(root).store() as st:
        rows = st.list_evals(run_id)
        run = st.get_run(run_id)
    assert len(rows) == 1 and rows[0]["val_acc"] == pytest.approx(out["val_acc"])
    assert rows[0]["checkpoint"] == out["checkpoint"]
    assert len(rows[0]["details"]["val"]["confusion"]) == 10
    assert run["ood_acc"] == pytest.approx(out["ood_acc"])
    # the human table names the numbers a student looks for
    p = _cli(root, "eval", run_id)
    assert p.returncode == 0 and "top-1" in p.stdout and "ECE" in p.stdout


def test_evaluated_with_the_normalization_it_was_trained_with(eval_ws, monkeypatch):
    """The DS-542 starter trained with (0.5, 0.5, 0.5) and evaluated with CIFAR-100 statistics;
    here every evaluation batch uses the normalization recorded with the run."""
    root, run_id = eval_ws
    from kagglebench.data import pipeline

    recorded = json.loads((root / "runs" / run_id / "config.json").read_text())["normalization"]
    seen = []
    real = pipeline.prepare_eval

    def spy(images, mean, std, size, device="cpu"):
        seen.append((list(mean), list(std), size))
        return real(images, mean, std, size, device)

    monkeypatch.setattr(pipeline, "prepare_eval", spy)
    ws = Workspace(root)
    res = evaluate_run(ws, run_id, checkpoint="last", store=False)
    assert seen and all(m == recorded["mean"] and s == recorded["std"] and size == recorded["input_size"]
                        for m, s, size in seen)
    # ... and so it reproduces the accuracy the trainer measured on the same split
    with ws.store() as st:
        last = next(r for r in st.list_checkpoints(run_id) if r["tag"] == "last")
    assert abs(res["val_acc"] - last["val_acc"]) <= 1.0 / res["val_n"] + 1e-9


def test_second_eval_reuses_cached_logits(eval_ws, monkeypatch):
    root, run_id = eval_ws
    ws = Workspace(root)
    first = evaluate_run(ws, run_id, store=False)
    assert first["details"]["forward_passes"] > 0
    tag = first["checkpoint"]
    assert (root / "runs" / run_id / "logits" / tag / "val-plain.npz").exists()

    from kagglebench.train import checkpoints

    def no_model(*a, **k):
        raise AssertionError("the model was loaded although the logits are cached")

    monkeypatch.setattr(checkpoints, "load_for_inference", no_model)
    again = evaluate_run(ws, run_id, store=False)
    assert again["details"]["forward_passes"] == 0 and again["val_acc"] == first["val_acc"]
    monkeypatch.undo()
    # flip TTA reuses the plain view and computes only the mirrored one
    flip = evaluate_run(ws, run_id, tta="flip", store=False)
    # validation (100 images) and the labelled test split (20): one batch each, mirrored view only
    assert flip["details"]["forward_passes"] == 2
    assert (root / "runs" / run_id / "logits" / tag / "val-hflip.npz").exists()
    # a rewritten checkpoint file invalidates its cache
    path = first["details"]["checkpoint_file"]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert evaluate_run(ws, run_id, store=False)["details"]["forward_passes"] > 0


def test_cache_contract_for_ensembles(eval_ws):
    root, run_id = eval_ws
    from kagglebench.evaluate import cache

    ws = Workspace(root)
    logits = cache.logits(ws, run_id, "best", "val")
    labels = cache.labels(ws, run_id, "val")
    assert logits.dtype == np.float16 and logits.shape == (len(labels), 10)
    assert cache.labels(ws, run_id, "test") is not None          # the demo's local answer key


def test_cli_errors_are_one_line(eval_ws):
    root, run_id = eval_ws
    p = _cli(root, "eval", "no-such-run")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0
    assert p.stderr.startswith("kagglebench: error: no-such-run:")
    p = _cli(root, "eval", run_id, "--checkpoint", "99")
    assert p.returncode == 2 and "no such checkpoint" in p.stderr and "Traceback" not in p.stderr


def test_bad_device_is_a_user_error():
    import torch

    from kagglebench.devices import pick_device
    from kagglebench.errors import UserError

    with pytest.raises(UserError, match="choose cpu, cuda"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            pick_device("cuda")
