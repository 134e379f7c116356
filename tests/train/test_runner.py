"""The trainer end to end on the demo workspace: exact resume, stop, divergence, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kagglebench.config import load_recipe
from kagglebench.store import Store
from kagglebench.train import checkpoints
from kagglebench.train.runner import train_run
from kagglebench.workspace import Workspace

# A tiny deterministic recipe that still draws from every generator the trainer uses:
# pipeline crops/flips, a policy augmentation, mixup, dropout-free SGD + Lookahead, EMA.
TINY = """
description = "tiny test recipe"
[model]
name = "simplecnn-1conv"
[data]
val_fraction = 0.5
policy = "trivialaugment"
[optim]
name = "sgd"
lr = 0.05
nesterov = true
lookahead = true
lookahead_k = 3
[schedule]
name = "cosine"
warmup_epochs = 0.5
[train]
epochs = 3
batch_size = 32
deterministic = true
mixup_alpha = 0.2
ema_decay = 0.9
keep_top_k = 2
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _final_weights(ws: Workspace, run_id: str) -> dict:
    ckpt = checkpoints.load(checkpoints.resolve(ws, run_id, "last"))
    return {"model": ckpt["model"], "ema": ckpt["ema"], "step": ckpt["step"], "epoch": ckpt["epoch"]}


@pytest.mark.parametrize("stop_at", [4, 3])  # 3 steps per epoch: mid-epoch 2, and the end of epoch 1
def test_interrupted_then_resumed_run_matches_uninterrupted(small_ws: Path, tiny: Path, stop_at: int) -> None:
    ws = Workspace(small_ws)
    full = train_run(ws, load_recipe(str(tiny)))
    assert full["status"] == "finished" and full["epochs"] == 3

    part = train_run(ws, load_recipe(str(tiny)), stop_after_steps=stop_at)
    assert part["status"] == "stopped"
    assert "--resume" in part["message"]
    resumed = train_run(ws, None, run_id=part["id"])
    assert resumed["status"] == "finished" and resumed["epochs"] == 3

    a, b = _final_weights(ws, full["id"]), _final_weights(ws, part["id"])
    assert a["step"] == b["step"] == 9
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    assert resumed["best_val_acc"] == full["best_val_acc"]

    with Store(ws.db_path) as store:
        epochs = store.metrics_since(part["id"], scope="epoch")
        assert [round(r["epoch"]) for r in epochs] == [1, 2, 3]       # no duplicated epoch rows
        steps = [r["step"] for r in store.metrics_since(part["id"], scope="step")]
        assert steps == sorted(set(steps)) and steps[-1] == 9
        run = store.get_run(part["id"])
        assert run["status"] == "finished" and run["epoch"] == 3


def test_run_records_config_checkpoints_and_store_rows(small_ws: Path, tiny: Path) -> None:
    ws = Workspace(small_ws)
    res = train_run(ws, load_recipe(str(tiny), ["epochs=3", "train.keep_top_k=1"]), name="my first run")
    run_dir = ws.runs_dir / res["id"]
    import json
    cfg = json.loads((run_dir / "config.json").read_text())
    norm = cfg["normalization"]
    assert len(norm["mean"]) == 3 and all(0 < s < 1 for s in norm["std"]) and norm["input_size"] == 32
    assert cfg["split"]["n_val"] == 120 and len(cfg["split"]["val_indices_sha256"]) == 64
    assert "epoch 3/3" in (run_dir / "train.log").read_text()

    with Store(ws.db_path) as store:
        run = store.get_run(res["id"])
        assert run["name"] == "my first run" and run["status"] == "finished"
        assert run["versions"]["torch"] and run["config"]["data"]["mean"] == norm["mean"]
        tags = {c["tag"] for c in store.list_checkpoints(res["id"])}
        assert tags == {"last", checkpoints.resolve(ws, res["id"], "best").stem}
        assert len(tags) == 2                                          # keep_top_k=1 plus last
        rows = store.metrics_since(res["id"], scope="epoch")
        assert all(r["val_acc"] is not None and r["lr"] > 0 and r["images_per_s"] > 0 for r in rows)
    files = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert files == sorted(f"{t}.pt" for t in tags)                   # evicted files are gone, no temp files

    model, recipe, meta = checkpoints.load_for_inference(checkpoints.resolve(ws, res["id"], "best"))
    assert not model.training and meta["weights"] == "ema"
    assert recipe.data.mean == norm["mean"] and recipe.data.input_size == 32
    x = torch.zeros(2, 3, 32, 32)
    assert model(x).shape == (2, 10)


def test_nan_loss_marks_run_diverged_with_the_step(small_ws: Path, tiny: Path) -> None:
    ws = Workspace(small_ws)
    res = train_run(ws, load_recipe(str(tiny), ["lr=1e12", "optim.lookahead=false",
                                                 "schedule.warmup_epochs=0"]))
    assert res["status"] == "diverged"
    assert "at step" in res["message"] and "lower the learning rate" in res["message"]
    with Store(ws.db_path) as store:
        run = store.get_run(res["id"])
    assert run["status"] == "diverged" and run["message"] == res["message"]


def test_resume_refuses_finished_and_unknown_runs(small_ws: Path, tiny: Path) -> None:
    from kagglebench.errors import UserError

    ws = Workspace(small_ws)
    res = train_run(ws, load_recipe(str(tiny), ["epochs=1"]))
    with pytest.raises(UserError, match="already finished"):
        train_run(ws, None, run_id=res["id"])
    with pytest.raises(UserError, match="no such run"):
        train_run(ws, None, run_id="nope-0000")


def test_swa_weights_then_frozen_fine_tune_from_them(small_ws: Path, tiny: Path) -> None:
    ws = Workspace(small_ws)
    base = train_run(ws, load_recipe(str(tiny), ["epochs=2", "train.swa=true", "train.swa_start_epoch=1",
                                                 "train.ema_decay=0"]))
    assert base["status"] == "finished"
    _, _, meta = checkpoints.load_for_inference(checkpoints.resolve(ws, base["id"], "last"))
    assert meta["weights"] == "swa"          # predictions use the averaged weights
    swa = checkpoints.averaged_weights(checkpoints.load(checkpoints.resolve(ws, base["id"], "last"))["swa"])

    # Fine-tune from those weights with the backbone frozen for the only epoch:
    # the body must come out unchanged, the fresh head must have trained.
    tuned = train_run(ws, load_recipe(str(tiny), [f"model.init_from={base['id']}:last", "epochs=1",
                                                  "model.freeze_backbone_epochs=1", "train.ema_decay=0",
                                                  "optim.lookahead=false", "model.backbone_lr_scale=0.1"]))
    assert tuned["status"] == "finished"
    after = checkpoints.load(checkpoints.resolve(ws, tuned["id"], "last"))["model"]
    model, _, _ = checkpoints.load_for_inference(checkpoints.resolve(ws, tuned["id"], "last"))
    for name, _ in model.named_parameters():
        if name.startswith("fc."):
            assert not torch.equal(after[name], swa[name])
        else:
            assert torch.equal(after[name], swa[name]), name
