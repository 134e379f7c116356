"""Training faults: NaN/inf loss, out of memory, a full disk mid-checkpoint, weights that do not fit.

NaN/inf and CUDA out-of-memory are simulated in-process on the CPU by replacing one training
step; the full disk runs the real CLI with the fault hook (hooks/sitecustomize.py) making one
checkpoint write fail with ENOSPC half-way through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kagglebench.config import load_recipe
from kagglebench.errors import UserError
from kagglebench.store import Store
from kagglebench.train import checkpoints, finders, loop
from kagglebench.train.runner import train_run
from kagglebench.workspace import Workspace
from tests.reliability.helpers import assert_one_line_error, cli_env, kb, write_recipe


def _fault_on_step(monkeypatch: pytest.MonkeyPatch, n: int, fault) -> None:
    """Make the n-th training step of this process misbehave (`fault(loss, correct)`)."""
    real, calls = loop.train_step, [0]

    def step(*args, **kw):
        calls[0] += 1
        out = real(*args, **kw)
        return fault(*out) if calls[0] == n else out
    monkeypatch.setattr(loop, "train_step", step)


def _recipe(tmp_path: Path, *over: str):
    return load_recipe(str(write_recipe(tmp_path, epochs=3, every=0)), list(over))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_loss_stops_as_diverged_with_the_step_and_a_hint(rel_ws: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    bad: float) -> None:
    _fault_on_step(monkeypatch, 8, lambda loss, correct: (loss * 0 + bad, correct))
    result = train_run(Workspace(rel_ws), _recipe(tmp_path))
    assert result["status"] == "diverged"
    assert "at step 8" in result["message"] and "lower the learning rate" in result["message"]
    with Store(rel_ws / "kagglebench.db") as s:
        run = s.get_run(result["id"])
        rows = s.metrics_since(result["id"])
    assert run["status"] == "diverged" and "step 8" in run["message"]
    # The epoch before the fault was kept: its checkpoint loads and its metrics are all finite.
    assert result["epochs"] == 1
    checkpoints.load(checkpoints.resolve(Workspace(rel_ws), result["id"], "last"))
    assert all(r["train_loss"] == r["train_loss"] for r in rows)


def test_cuda_out_of_memory_stops_with_the_batch_size_the_finder_suggests(rel_ws: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    def oom(loss, correct):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    _fault_on_step(monkeypatch, 3, oom)
    seen = []
    real_finder = finders.find_batch_size

    def spy(*args, **kw):
        seen.append(real_finder(*args, **kw))
        return seen[-1]
    monkeypatch.setattr(finders, "find_batch_size", spy)
    with pytest.raises(UserError) as e:
        train_run(Workspace(rel_ws), _recipe(tmp_path))
    assert len(seen) == 1 and 0 < seen[0].batch_size < 16  # below the batch that failed
    fit = seen[0].batch_size
    assert e.value.where == "train.batch_size=16"
    assert "out of CPU memory at step 3" in e.value.what and f"batch_size={fit}" in e.value.what
    with Store(rel_ws / "kagglebench.db") as s:
        (run,) = s.list_runs()
    assert run["status"] == "failed" and f"batch_size={fit}" in run["message"]


def test_full_disk_during_a_checkpoint_write_keeps_the_previous_one(rel_ws: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, epochs=3, every=2)
    env = cli_env({"KB_FAULT_CKPT": "enospc:4"}, hooks=True)
    proc = kb("train", str(recipe), "--json", ws=rel_ws, env=env)
    line = assert_one_line_error(proc, "last.pt", "no space left on device", "--resume")
    # --json: nothing half-printed, the error answered as data (the same words as stderr's line)
    assert json.loads(proc.stdout)["error"]["message"] == line.removeprefix("kagglebench: error: ")
    with Store(rel_ws / "kagglebench.db") as s:
        (run,) = s.list_runs()
    assert run["status"] == "failed" and "No space left" in run["message"], run
    ck = rel_ws / "runs" / run["id"] / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["epoch001.pt", "last.pt"], line  # no temp file
    assert checkpoints.load(ck / "last.pt")["step"] == 6  # the 3rd write (end of epoch 1) survived
    # Space freed: the run resumes from that checkpoint and finishes.
    done = kb("train", "--resume", run["id"], "--json", ws=rel_ws)
    assert done.returncode == 0, done.stderr
    assert "at epoch 1 step 6" in done.stderr and json.loads(done.stdout)["status"] == "finished"


def test_init_from_weights_of_another_model_are_refused_naming_the_keys(rel_ws: Path, tmp_path: Path
                                                                        ) -> None:
    from kagglebench.config import ModelConfig
    from kagglebench.models import build_model

    other = build_model(ModelConfig(name="simplecnn-3block"), num_classes=4, input_size=32)
    bad = tmp_path / "other.pt"
    torch.save({"model": other.state_dict()}, bad)
    with pytest.raises(UserError) as e:
        train_run(Workspace(rel_ws), _recipe(tmp_path, f"model.init_from={bad}"))
    assert "do not match" in e.value.what or "missing" in e.value.what
    # A mismatched key is named, e.g. the conv layer that differs or is missing.
    own = build_model(ModelConfig(name="simplecnn-1conv"), num_classes=4, input_size=32).state_dict()
    differing = [k for k in own if not k.startswith("fc.") and (k not in other.state_dict()
                 or other.state_dict()[k].shape != own[k].shape)]
    assert differing and any(k in e.value.what for k in differing), e.value.what


def test_pretrained_cache_file_for_another_model_is_refused(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import models as tvm

    from kagglebench.config import ModelConfig
    from kagglebench.models import build_model, cache_path, weights_for

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KAGGLEBENCH_OFFLINE", "1")
    path = cache_path(weights_for("resnet18", "IMAGENET1K_V1"))
    path.parent.mkdir(parents=True)
    torch.save(tvm.resnet34(weights=None).state_dict(), path)  # the wrong network's weights
    with pytest.raises(UserError) as e:
        build_model(ModelConfig(name="resnet18", pretrained=True), num_classes=4)
    assert e.value.where == str(path)
    assert "layer1.2" in e.value.what  # resnet34 has a third block in layer1; resnet18 does not
