"""kagglebench's `fast` recipe is airbench94: side by side with a transcription of the original
(tests/reference/airbench94.py), on the CPU.

- the recipe's values are airbench's hyp, converted to a mean-reduced loss;
- the same seed gives the same initial weights, and the same images the same whitening filters;
- `kagglebench train fast` (the real `train_run`: model factory, optimizer groups, schedule, loop,
  lookahead-EMA, whitening-bias freeze) and airbench's training loop, started from the same weights
  and fed the same batches in the same order, give the same loss at every step, the same learning
  rates, and the same final weights;
- kagglebench's flip-shift TTA gives airbench's tta_level=2 logits;
- over a few seeds on the demo data, the same accuracy within noise (slow).
docs/AIRBENCH.md has the figures.
"""

from __future__ import annotations

import copy
import json
import math
import os
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from kagglebench.config import load_recipe
from kagglebench.models import create_model
from kagglebench.train import build, checkpoints, loop
from kagglebench.train.runner import train_run
from kagglebench.workspace import Workspace
from tests.reference import airbench94 as ab

CPU = torch.device("cpu")


def converted(batch_size: int, hyp: dict = ab.hyp) -> tuple[float, float]:
    """airbench's (lr, weight_decay) for `batch_size` as kagglebench states them (mean-reduced loss):
    airbench's torch SGD lr for its summed loss times the batch size, and the decay per unit lr."""
    o = hyp["opt"]
    kilostep_scale = 1024 * (1 + 1 / (1 - o["momentum"]))
    lr = o["lr"] / kilostep_scale
    wd = o["weight_decay"] * batch_size / kilostep_scale
    return lr * batch_size, wd / lr / batch_size


def _map_state(src: dict, dst_keys: list[str]) -> dict:
    """The same tensors under the other side's names (both state dicts list them in the same order)."""
    assert len(src) == len(dst_keys)
    out = {}
    for (name, tensor), key in zip(src.items(), dst_keys):
        assert name.split(".")[-1] == key.split(".")[-1], (name, key)
        out[key] = tensor
    return out


def test_recipe_is_airbench_hyp_converted() -> None:
    r, o = load_recipe("fast"), ab.hyp["opt"]
    lr, wd = converted(r.train.batch_size)
    assert r.train.batch_size == o["batch_size"] and r.optim.lr == pytest.approx(lr, rel=1e-12)
    assert r.optim.weight_decay == pytest.approx(wd, rel=1e-12)
    assert r.optim.momentum == o["momentum"] and r.optim.nesterov and r.optim.name == "sgd"
    assert r.optim.norm_bias_lr_scale == o["bias_scaler"] and r.schedule.name == "airbench"
    assert r.train.label_smoothing == o["label_smoothing"] and r.train.epochs == math.ceil(o["train_epochs"])
    assert r.train.epochs - 1 + r.train.last_epoch_fraction == pytest.approx(o["train_epochs"], abs=1e-12)
    # airbench's step count on CIFAR-10: ceil(len(train_loader) * 9.9), its loader dropping the last batch
    per_epoch = 50_000 // o["batch_size"]
    assert loop.total_steps(per_epoch, r.train) == math.ceil(per_epoch * o["train_epochs"]) == 476
    assert r.train.half_weights == "cuda"
    assert r.optim.lookahead_ema and (r.optim.lookahead_ema_every, r.optim.lookahead_ema_decay) == (5, 0.95)
    assert r.data.crop_padding == ab.hyp["aug"]["translate"] and r.data.hflip and r.data.alternating_flip
    assert r.data.tta == "flip-shift" and r.train.amp == "fp16" and r.train.channels_last


def test_same_seed_same_initial_weights_and_whitening() -> None:
    torch.manual_seed(3)
    kb = create_model("fast", 10)
    torch.manual_seed(3)
    ref = ab.make_net()
    ref_state = ref.state_dict()
    for name, tensor in _map_state(kb.state_dict(), list(ref_state)).items():
        assert torch.equal(tensor, ref_state[name]), name
    images = torch.randn(40, 3, 32, 32) * torch.tensor([1.0, 0.5, 2.0]).view(1, 3, 1, 1) + 0.3
    kb.init_from_data(images)
    ab.init_whitening_conv(ref[0], images)
    assert torch.equal(kb.whiten.weight, ref[0].weight)


def test_flip_shift_tta_is_airbench_tta_level_2() -> None:
    from kagglebench.evaluate import tta

    torch.manual_seed(0)
    net = ab.make_net().eval()
    x = torch.randn(6, 3, 32, 32)
    loader = type("L", (), {"normalize": staticmethod(lambda v: v), "images": x})()
    expected = ab.infer(net, loader, tta_level=2)
    with torch.no_grad():
        views = {v: net(tta.apply(v, x)).numpy() for v, _ in tta.views("flip-shift")}
    torch.testing.assert_close(torch.from_numpy(tta.combine(views, "flip-shift")), expected,
                               rtol=1e-5, atol=1e-6)


# 180 training images at batch 32: 5 steps an epoch; 3.5 epochs as airbench counts them (its
# train_epochs; kagglebench: epochs = 4, last_epoch_fraction = 0.5), so ceil(5 x 3.5) = 18 steps: the
# whitening bias trains for 3 epochs and is frozen in the cut 4th (3 steps), the lookahead-EMA
# updates at steps 5, 10 and 15 and syncs at 18, and the schedule warms up over int(0.23 * 18) = 4.
BATCH, EPOCHS, FRACTION = 32, 4, 0.5


def test_train_fast_matches_airbench_step_for_step(small_ws: Path, monkeypatch) -> None:
    ws = Workspace(small_ws)
    lr, wd = converted(BATCH)
    recipe = load_recipe("fast", [f"batch_size={BATCH}", f"epochs={EPOCHS}", f"lr={lr!r}",
                                  f"optim.weight_decay={wd!r}", "data.val_fraction=0.25", "train.device=cpu",
                                  "seed=5", f"train.last_epoch_fraction={FRACTION}"])
    seen: dict = {"init": None, "groups": None, "batches": [], "losses": [], "lrs": []}
    real_step = loop.train_step

    def spy(parts, x, y, recipe, num_classes):
        if seen["init"] is None:
            seen["init"] = copy.deepcopy(parts.raw.state_dict())
            seen["groups"] = [(len(g["params"]), g["weight_decay"]) for g in parts.optimizer.param_groups]
        seen["batches"].append((x.clone(), y.clone()))
        seen.setdefault("whiten_bias", []).append((parts.raw.whiten.bias.detach().clone(),
                                                   parts.raw.whiten.bias.requires_grad))
        seen["lrs"].append([g["lr"] for g in parts.optimizer.param_groups])
        loss, correct = real_step(parts, x, y, recipe, num_classes)
        seen["losses"].append(float(loss))
        return loss, correct

    monkeypatch.setattr(loop, "train_step", spy)
    out = train_run(ws, recipe)
    assert out["status"] == "finished" and out["epochs"] == EPOCHS
    per_epoch = 5
    steps = math.ceil(per_epoch * (EPOCHS - 1 + FRACTION))
    assert len(seen["batches"]) == steps == 18

    data = build.load_data(ws, recipe, CPU)
    ref_keys = list(ab.make_net().state_dict())
    got: dict = {"losses": [], "lrs": []}

    def on_step(step: int, loss: float, lrs: list[float]) -> None:
        got["losses"].append(loss)
        got["lrs"].append(lrs)

    res = ab.train(data.train_x, data.train_y,
                   hyp=ab.with_hyp(opt_batch_size=BATCH, opt_train_epochs=EPOCHS - 1 + FRACTION),
                   mean=data.mean, std=data.std, init_state=_map_state(seen["init"], ref_keys),
                   batches=lambda epoch: seen["batches"][epoch * per_epoch:(epoch + 1) * per_epoch],
                   on_step=on_step)

    # The optimizer: airbench's two groups (BatchNorm biases first), kagglebench's lr = airbench's x batch,
    # its decay / batch (the frozen whitening filters and BatchNorm scales sit in kagglebench's groups
    # but never get a gradient).
    ref_model = res["model"]
    n_bias = sum(1 for k, p in ref_model.named_parameters() if "norm" in k and p.requires_grad)
    assert seen["groups"][0][0] == n_bias and len(seen["groups"]) == 2
    o = ab.hyp["opt"]
    ks = 1024 * (1 + 1 / (1 - o["momentum"]))
    wd_ab = o["weight_decay"] * BATCH / ks
    for (_, kb_wd), ab_lr in zip(seen["groups"], (o["lr"] / ks * o["bias_scaler"], o["lr"] / ks)):
        assert kb_wd * BATCH == pytest.approx(wd_ab / ab_lr, rel=1e-9)
    torch.testing.assert_close(torch.tensor(seen["lrs"], dtype=torch.float64),
                               torch.tensor(got["lrs"], dtype=torch.float64) * BATCH, rtol=1e-9, atol=0)

    # The losses, step by step, and the weights at the end (after the final lookahead sync).
    kb_losses, ref_losses = torch.tensor(seen["losses"]), torch.tensor(got["losses"])
    assert len(kb_losses) == len(ref_losses) == steps
    torch.testing.assert_close(kb_losses, ref_losses, rtol=2e-5, atol=2e-5)
    assert float(kb_losses[-5:].mean()) < float(kb_losses[:5].mean())     # and it did learn
    final = checkpoints.load(checkpoints.resolve(ws, out["id"], "last"))["model"]
    ref_final = ref_model.state_dict()
    for name, tensor in _map_state(final, list(ref_final)).items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, ref_final[name], rtol=1e-4, atol=1e-5, msg=name)
        else:
            assert torch.equal(tensor, ref_final[name]), name
    # The whitening bias trained in the first 3 epochs and not in the (cut) 4th (the lookahead
    # update after step 15 is the last thing that moved it).
    bias = seen["whiten_bias"]
    assert [trains for _, trains in bias] == [True] * 3 * per_epoch + [False] * (steps - 3 * per_epoch)
    assert not torch.equal(bias[3 * per_epoch][0], seen["init"]["whiten.bias"])
    assert torch.equal(final["whiten.bias"], bias[3 * per_epoch][0])


# -- half-precision weights (train.half_weights; airbench94 on a GPU) ---------------------------

def test_half_weights_convert_what_airbench_converts() -> None:
    """build.to_half_weights puts the same tensors in fp16 as airbench's make_net (net.half(), then
    BatchNorm back to float32): every parameter and buffer, by position."""
    kb = build.to_half_weights(create_model("fast", 10))
    ref = ab.make_net(half=True)
    ref_state = ref.state_dict()
    kb_state = _map_state(kb.state_dict(), list(ref_state))
    assert {k: v.dtype for k, v in kb_state.items()} == {k: v.dtype for k, v in ref_state.items()}
    dtypes = {v.dtype for v in ref_state.values()}
    assert dtypes == {torch.float16, torch.float32, torch.int64}      # both kinds present: not vacuous
    assert build.half_weights_on("cuda", torch.device("cuda")) and not build.half_weights_on("cuda", CPU)
    assert build.half_weights_on("on", CPU) and not build.half_weights_on("off", torch.device("cuda"))


# 180 training images at batch 16: 11 steps an epoch, one epoch cut to 0.75 (airbench's train_epochs
# 0.75): ceil(11 x 0.75) = 9 steps; the lookahead-EMA updates at step 5 and syncs at 9.
HALF_BATCH, HALF_FRACTION = 16, 0.75


@pytest.mark.slow      # fp16 kernels are slow on a CPU: about 35 s on 2 free cores
def test_half_weights_match_airbench_step_for_step_on_cpu(small_ws: Path, monkeypatch) -> None:
    """`train fast` with the weights in fp16 (train.half_weights=on, which is what "cuda" does on a
    GPU) against airbench's loop in fp16 (half=True), both on the CPU: the same whitening filters from
    the same fp16-normalized images, same initial fp16 weights, the same fp16 batches, the summed loss,
    airbench's own lr and decay in the optimizer's groups. The same losses, and the same final
    weights bit for bit (fp16, BatchNorm float32)."""
    ws = Workspace(small_ws)
    lr, wd = converted(HALF_BATCH)
    recipe = load_recipe("fast", [f"batch_size={HALF_BATCH}", "epochs=1", f"lr={lr!r}",
                                  f"optim.weight_decay={wd!r}", "data.val_fraction=0.25", "train.device=cpu",
                                  "seed=5", f"train.last_epoch_fraction={HALF_FRACTION}",
                                  "train.half_weights=on"])
    seen: dict = {"init": None, "batches": [], "losses": [], "groups": []}
    real_step = loop.train_step

    def spy(parts, x, y, recipe, num_classes):
        if seen["init"] is None:
            seen["init"] = copy.deepcopy(parts.raw.state_dict())
            assert parts.half_weights and parts.scaler is None and parts.amp_dtype is None
        seen["batches"].append((x.clone(), y.clone()))
        seen["groups"].append([(g["lr"], g["weight_decay"]) for g in parts.optimizer.param_groups])
        loss, correct = real_step(parts, x, y, recipe, num_classes)
        seen["losses"].append(float(loss))
        return loss, correct

    monkeypatch.setattr(loop, "train_step", spy)
    out = train_run(ws, recipe)
    assert out["status"] == "finished" and out["best_val_acc"] is not None
    assert len(seen["batches"]) == 9

    data = build.load_data(ws, recipe, CPU)
    ref_keys = list(ab.make_net().state_dict())
    init = _map_state(seen["init"], ref_keys)
    # the batches and the whitening images are normalized in fp16, as airbench's loader does it
    assert all(x.dtype == torch.float16 for x, _ in seen["batches"])
    loader = ab.CifarLoader(data.train_x, data.train_y, mean=data.mean, std=data.std, half=True)
    net = ab.make_net(half=True)
    ab.init_whitening_conv(net[0], loader.normalize(loader.images[:5000]))
    assert torch.equal(seen["init"]["whiten.weight"], net[0].weight)
    got: dict = {"losses": [], "lrs": []}
    res = ab.train(data.train_x, data.train_y, half=True,
                   hyp=ab.with_hyp(opt_batch_size=HALF_BATCH, opt_train_epochs=HALF_FRACTION),
                   mean=data.mean, std=data.std, init_state=init,
                   batches=lambda epoch: seen["batches"],
                   on_step=lambda step, loss, lrs: (got["losses"].append(loss), got["lrs"].append(lrs)))

    # airbench's torch-SGD lr and decay, in the groups themselves (BatchNorm biases first)
    o = ab.hyp["opt"]
    ks = 1024 * (1 + 1 / (1 - o["momentum"]))
    ab_lr, ab_wd = o["lr"] / ks, o["weight_decay"] * HALF_BATCH / ks
    for (_, bias_wd), (_, wd_) in seen["groups"]:
        assert bias_wd == pytest.approx(ab_wd / (ab_lr * o["bias_scaler"]), rel=1e-9)
        assert wd_ == pytest.approx(ab_wd / ab_lr, rel=1e-9)
    torch.testing.assert_close(torch.tensor([[g[0] for g in step] for step in seen["groups"]], dtype=torch.float64),
                               torch.tensor(got["lrs"], dtype=torch.float64), rtol=1e-9, atol=0)
    # the losses: kagglebench reports the float32 mean of the fp16 per-image losses, airbench its
    # fp16 sum / batch (the fp16 rounding of a sum near 37 is up to 0.016, / 16)
    torch.testing.assert_close(torch.tensor(seen["losses"]), torch.tensor(got["losses"]), rtol=0, atol=1.5e-3)
    final = checkpoints.load(checkpoints.resolve(ws, out["id"], "last"))["model"]
    ref_final = res["model"].state_dict()
    for name, tensor in _map_state(final, list(ref_final)).items():   # bit for bit, fp16 and float32
        assert tensor.dtype == ref_final[name].dtype and torch.equal(tensor, ref_final[name]), name
    moved = [k for k in init if init[k].is_floating_point() and not torch.equal(init[k], ref_final[k])]
    assert len(moved) > 10
    # eval/predict load the fp16 checkpoint into a float32 network: the same weights, finite logits
    from kagglebench.evaluate import cache

    logits = np.asarray(cache.logits(ws, out["id"], "last", "val", tta=recipe.data.tta, device="cpu"))
    assert logits.shape == (len(data.val_y), 10) and np.isfinite(logits).all()


# -- accuracy over seeds on the demo data -------------------------------------------------------
# CI counts (the whole suite runs on 2 CPU cores); docs/AIRBENCH.md has a run with more seeds and images.
ACC_SEEDS = int(os.environ.get("KB_AIRBENCH_SEEDS", "2"))
ACC_IMAGES = int(os.environ.get("KB_AIRBENCH_IMAGES", "400"))   # 80% train, 20% validation
ACC_EPOCHS = int(os.environ.get("KB_AIRBENCH_EPOCHS", "6"))
ACC_BATCH = 32


def _acc_recipe(seed: int, extra: tuple[str, ...] = ()):
    lr, wd = converted(ACC_BATCH)
    return load_recipe("fast", [f"batch_size={ACC_BATCH}", f"epochs={ACC_EPOCHS}", f"lr={lr!r}",
                                f"optim.weight_decay={wd!r}", "data.val_fraction=0.2", "train.device=cpu",
                                f"seed={seed}", *extra])


def kagglebench_accuracy(ws: Workspace, seed: int, extra: tuple[str, ...] = ()) -> float:
    """`kagglebench train fast` then its 6-view TTA accuracy on the validation split (last weights)."""
    from kagglebench.evaluate import cache

    recipe = _acc_recipe(seed, extra)
    out = train_run(ws, recipe)
    assert out["status"] == "finished", out
    logits = cache.logits(ws, out["id"], "last", "val", tta=recipe.data.tta, device="cpu")
    labels = cache.labels(ws, out["id"], "val", device="cpu")
    return float((np.asarray(logits, np.float32).argmax(1) == labels).mean())


def airbench_accuracy(ws: Workspace, seed: int) -> float:
    """airbench94's own loop (loader, augmentation, init, TTA level 2) on the same split."""
    recipe = _acc_recipe(seed)
    data = build.load_data(ws, recipe, CPU)
    torch.manual_seed(seed)
    epochs = ACC_EPOCHS - 1 + recipe.train.last_epoch_fraction      # 5.9: the recipe's 9.9 made short
    res = ab.train(data.train_x, data.train_y, data.val_x, data.val_y, mean=data.mean, std=data.std,
                   hyp=ab.with_hyp(opt_batch_size=ACC_BATCH, opt_train_epochs=epochs))
    return res["tta_val_acc"]


def same_within_noise(a: list[float], b: list[float], n_val: int) -> tuple[float, float]:
    """(|mean(a) - mean(b)|, the tolerance): 3 standard errors of the difference, the per-run
    standard deviation being the seeds' pooled spread or the validation set's binomial noise,
    whichever is larger."""
    p = statistics.mean(a + b)
    sd = math.sqrt(p * (1 - p) / n_val)
    if len(a) > 1 and len(b) > 1:
        pooled = (((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b))
                  / (len(a) + len(b) - 2))
        sd = max(sd, math.sqrt(pooled))
    return abs(statistics.mean(a) - statistics.mean(b)), 3 * sd * math.sqrt(1 / len(a) + 1 / len(b))


@pytest.fixture(scope="module")
def acc_ws(tmp_path_factory) -> Workspace:
    from kagglebench.data.demo import write_demo

    return Workspace(write_demo(tmp_path_factory.mktemp("acc") / "ws", classes=10, train=ACC_IMAGES, test=10,
                                seed=1, ood=False))


@pytest.mark.slow
def test_same_accuracy_as_airbench_over_seeds_on_demo_data(acc_ws: Workspace) -> None:
    seeds = range(ACC_SEEDS)
    kb = [kagglebench_accuracy(acc_ws, s) for s in seeds]
    ref = [airbench_accuracy(acc_ws, s) for s in seeds]
    n_val = int(build.load_data(acc_ws, _acc_recipe(0), CPU).split["n_val"])
    diff, tol = same_within_noise(kb, ref, n_val)
    report = {"seeds": ACC_SEEDS, "images": ACC_IMAGES, "epochs": ACC_EPOCHS, "n_val": n_val,
              "kagglebench": kb, "airbench": ref, "diff": diff, "tolerance": tol}
    print(json.dumps(report))
    if os.environ.get("KB_AIRBENCH_REPORT"):
        Path(os.environ["KB_AIRBENCH_REPORT"]).write_text(json.dumps(report, indent=2))
    assert min(statistics.mean(kb), statistics.mean(ref)) > 0.3, report   # both learned (chance is 0.1)
    assert diff <= tol, report
