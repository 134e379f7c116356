"""DDP on the CPU with gloo: two ranks give the same weights as one process with the same global batch."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from kagglebench.errors import UserError
from kagglebench.train import distributed

# Each torchrun worker runs this: a two-layer MLP (no BatchNorm, so per-rank batch
# statistics cannot differ) trained for a few SGD steps on a fixed global batch order.
WORKER = textwrap.dedent('''
    import json, sys
    import torch
    from torch import nn
    from kagglebench.train import distributed as D

    out, steps, global_batch = sys.argv[1], 6, 16
    info = D.setup("cpu")
    torch.manual_seed(0)
    x = torch.randn(96, 3 * 8 * 8)
    y = (x[:, :10].sum(1) > 0).long() + (x[:, 10:20].sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(192, 64), nn.ReLU(), nn.Linear(64, 3))
    ddp = D.wrap(model, info)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    order = torch.randperm(96, generator=torch.Generator().manual_seed(1))
    losses = []
    per_rank = global_batch // info.world_size
    for s in range(steps):
        idx = order[s * global_batch:(s + 1) * global_batch]
        idx = idx[info.rank * per_rank:(info.rank + 1) * per_rank]   # this rank's shard
        loss = nn.functional.cross_entropy(ddp(x[idx]), y[idx])      # mean over the shard
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(D.all_reduce_mean(loss.item(), info))
    reduced = {"sum": D.all_reduce_sum(info.rank + 1, info),
               "mean": D.all_reduce_mean(float(info.rank), info),
               "vec": D.all_reduce_sum([1.0, info.rank], info), "any": D.any_rank(info.rank == 1, info),
               "none": D.any_rank(False, info), "bcast": D.broadcast_object(f"id-from-{info.rank}", info)}
    D.barrier(info)
    if info.is_main:
        torch.save(D.unwrap(ddp).state_dict(), out + ".pt")
        json.dump({"world": info.world_size, "losses": losses, **reduced}, open(out + ".json", "w"))
    D.cleanup()
    D.exit_worker(0)   # as `kagglebench train` workers do: no gloo abort at interpreter exit
''')


def _run(tmp_path, nproc):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"world{nproc}"
    assert distributed.launch([str(out)], nproc, target=[str(script)]) == 0
    return torch.load(f"{out}.pt"), json.loads((tmp_path / f"world{nproc}.json").read_text())


def test_two_gloo_ranks_match_one_process(tmp_path):
    w1, r1 = _run(tmp_path, 1)
    w2, r2 = _run(tmp_path, 2)
    assert (r1["world"], r2["world"]) == (1, 2)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-5, atol=1e-6)
    assert r2["losses"] == pytest.approx(r1["losses"], rel=1e-5)
    assert r1["losses"][-1] < r1["losses"][0]  # it did learn something
    assert (r2["sum"], r2["mean"], r2["vec"], r2["any"], r2["none"]) == (3, 0.5, [2.0, 1.0], True, False)
    assert r2["bcast"] == "id-from-0"
    assert (r1["sum"], r1["any"], r1["bcast"]) == (1, False, "id-from-0")


def test_without_torchrun_it_is_rank_zero_of_one(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = distributed.setup("cpu")
    assert (info.rank, info.world_size, info.is_main, info.device) == (0, 1, True, "cpu")
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, info) is model
    assert distributed.all_reduce_mean(2.5, info) == 2.5


def test_cuda_without_a_gpu_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no GPU"):
        distributed.setup("cuda")


def test_launch_strips_nproc_and_reports_exit_status():
    cmd = distributed.launch_command(["train", "demo-cnn", "--nproc", "2", "epochs=1", "--nproc=3"], 2)
    assert cmd[-4:] == ["kagglebench", "train", "demo-cnn", "epochs=1"]
    assert cmd[cmd.index("--nproc_per_node") + 1] == "2" and "--standalone" in cmd
    with pytest.raises(UserError):
        distributed.launch(["runs"], 0)


# Augmentations draw different random numbers per rank by design; switch them off so that
# the only difference between the two runs is how each global batch is computed.
PLAIN = ["data.input_size=32", "data.crop_padding=0", "data.random_resized_crop=0", "data.hflip=false",
         "data.vflip=false",
         "data.color_jitter=0", "data.affine_degrees=0", "data.perspective=0", "data.grayscale=0",
         "epochs=1", "batch_size=32", "lr=0.05", "train.deterministic=true"]


def _train(ws, *extra):
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "kagglebench", "train", "twolayer-mlp", *PLAIN, "--json",
                        *extra],
                       cwd=ws, capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_train_nproc_2_matches_a_single_process_run(fresh_ws):
    from kagglebench.store import Store

    one = _train(fresh_ws)
    two = _train(fresh_ws, "--nproc", "2")
    assert one["status"] == two["status"] == "finished"
    assert two["best_val_acc"] == pytest.approx(one["best_val_acc"], abs=1e-9)
    ckpt = {r["id"]: torch.load(fresh_ws / "runs" / r["id"] / "checkpoints" / "last.pt", weights_only=False)
            for r in (one, two)}
    a, b = ckpt[one["id"]], ckpt[two["id"]]
    assert a["step"] == b["step"] > 0
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-4, atol=1e-6)
    cfg = json.loads((fresh_ws / "runs" / two["id"] / "config.json").read_text())
    assert cfg["world_size"] == 2
    with Store(fresh_ws / "kagglebench.db") as s:  # only rank 0 wrote: one row per run
        assert sorted(r["id"] for r in s.list_runs()) == sorted([one["id"], two["id"]])


def test_fast_trains_on_two_ranks_past_the_whitening_bias_freeze(tmp_path):
    """`train fast --nproc 2` (gloo): the whitening bias stops training after epoch 3, which turns a
    parameter off mid-run; the DDP wrapper is rebuilt then (a wrapper built with it expects its
    gradient every step). Five epochs of 5 steps: the bias moves in epochs 1-3 and not after
    (every epoch's checkpoint kept)."""
    import os
    import subprocess
    import sys

    from kagglebench.data.demo import write_demo

    ws = write_demo(tmp_path / "ws", classes=10, train=200, test=10, seed=1, ood=False)
    r = subprocess.run([sys.executable, "-m", "kagglebench", "train", "fast", "--nproc", "2", "--json",
                        "epochs=5", "batch_size=32", "lr=0.047", "data.val_fraction=0.2", "train.device=cpu",
                        "train.keep_top_k=5", "train.last_epoch_fraction=1"],
                       cwd=ws, capture_output=True, text=True, timeout=600,
                       env={k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and out["epochs"] == 5, out
    ckpts = ws / "runs" / out["id"] / "checkpoints"
    bias = [torch.load(ckpts / f"epoch{e:03d}.pt", weights_only=False)["model"]["whiten.bias"] for e in range(1, 6)]
    assert not torch.equal(bias[0], bias[1]) and not torch.equal(bias[1], bias[2])
    assert torch.equal(bias[2], bias[3]) and torch.equal(bias[3], bias[4])
    cfg = json.loads((ws / "runs" / out["id"] / "config.json").read_text())
    assert cfg["world_size"] == 2
