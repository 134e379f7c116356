"""Batch-size finder and LR range test on tiny real models (CPU)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from kagglebench.train import finders


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


@pytest.mark.parametrize("limit, expected", [(100, 96), (5, 5), (1, 1), (0, 0), (10_000, 4096)])
def test_search_doubles_then_bisects(limit, expected):
    best, tried = finders.search_batch_size(lambda b: b <= limit)
    assert best == expected
    assert all(ok == (b <= limit) for b, ok in tried)
    doubling = [b for b, _ in tried][: 1 + tried.index(next((t for t in tried if not t[1]), tried[-1]))]
    assert all(b2 == min(2 * b1, 4096) for b1, b2 in zip(doubling, doubling[1:], strict=False))


def test_cpu_estimate_grows_with_input_size():
    fixed32, per32 = finders.cpu_memory_estimate(_tiny_cnn, 32, 10)
    fixed64, per64 = finders.cpu_memory_estimate(_tiny_cnn, 64, 10)
    n_params = sum(p.numel() for p in _tiny_cnn().parameters())
    assert fixed32 == fixed64 == 4 * 4 * n_params
    # two 8-channel conv outputs and their ReLUs per 32x32 sample: tens of kilobytes
    assert 16e3 < per32 < 1e6
    assert per64 == pytest.approx(4 * per32, rel=0.05)


def test_cpu_batch_size_fits_the_memory_budget():
    fixed, per_sample = finders.cpu_memory_estimate(_tiny_cnn, 32, 10)
    budget = fixed + 300 * per_sample
    res = finders.find_batch_size(_tiny_cnn, input_size=32, num_classes=10, budget_bytes=budget)
    assert res.limit == "memory" and res.device == "cpu"
    assert 288 <= res.batch_size <= 300
    bigger = finders.find_batch_size(_tiny_cnn, input_size=32, num_classes=10, budget_bytes=4 * budget)
    assert bigger.batch_size >= 4 * res.batch_size - 8
    capped = finders.find_batch_size(_tiny_cnn, input_size=32, num_classes=10, budget_bytes=1e12,
                                     max_batch=512)
    assert (capped.batch_size, capped.limit) == (512, "max")


def test_nothing_fits_in_a_tiny_budget():
    res = finders.find_batch_size(_tiny_cnn, input_size=32, num_classes=10, budget_bytes=1000)
    assert res.batch_size == 0


def _separable_batches(n=256, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long()
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def test_lr_range_test_finds_the_descent_and_stops_on_divergence(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 32), nn.ReLU(), nn.Linear(32, 2))
    res = finders.lr_range_test(model, _separable_batches(), min_lr=1e-5, max_lr=1e4, num_iter=150)
    lrs, losses, suggested = res  # unpacks as the contract's triple
    assert len(lrs) == len(losses) < 150, "a max_lr of 1e4 must blow the loss up before the end"
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-5)
    assert min(losses) < 0.8 * losses[0]
    assert 1e-4 < suggested < lrs[losses.index(min(losses))]
    png = finders.plot_lr_range(res, tmp_path / "plots" / "lr.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (640, 400)
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["lr.png"]  # no temp file left


def test_suggestion_on_a_known_curve():
    lrs = [10 ** (-6 + 0.1 * i) for i in range(61)]
    # flat, then a steep fall centred at 1e-3, then a rise
    losses = [2.0 - 1.5 / (1 + 10 ** (-(i - 30) / 3)) + (0.2 * (i - 50) if i > 50 else 0) for i in range(61)]
    assert finders.suggest_lr(lrs, losses) == pytest.approx(1e-3, rel=0.3)


def _kb(ws, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "kagglebench", *args], cwd=ws, capture_output=True,
                          text=True, timeout=300)


def test_find_batch_size_command(fresh_ws):
    import json

    r = _kb(fresh_ws, "find", "batch-size", "twolayer-mlp", "--max", "100", "data.input_size=32", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["batch_size"] == 100 and json.loads(r.stdout)["limit"] == "max"
    # twolayer-mlp validates on the labelled test split (seed 004 trained on everything): hold out
    # 10% instead, so the limit is the training split, not the whole folder
    r = _kb(fresh_ws, "find", "batch-size", "twolayer-mlp", "data.input_size=32", "data.val_split=fraction")
    assert r.returncode == 0, r.stderr
    # 1,000 demo images less the 10% validation split: the whole split fits in RAM at once
    assert "largest batch on cpu: 900" in r.stdout and "batch_size=900" in r.stdout


def test_find_lr_command_writes_the_plot(fresh_ws):
    import json

    out = fresh_ws / "lr.png"
    r = _kb(fresh_ws, "find", "lr", "twolayer-mlp", "--steps", "15", "data.input_size=32", "--out", str(out),
            "--max-lr", "100", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert 1e-7 <= doc["suggested_lr"] <= 100 and len(doc["lrs"]) == len(doc["losses"]) >= 3
    with Image.open(out) as im:
        assert im.format == "PNG"
    r = _kb(fresh_ws, "find", "lr", "twolayer-mlp", "--out", "plot.jpg")
    assert r.returncode == 2 and r.stderr.startswith("kagglebench: error: plot.jpg: the plot is a PNG")
    r = _kb(fresh_ws, "find", "lr", "twolayer-mlp", "nosuch.key=1")
    assert r.returncode == 2 and "nosuch" in r.stderr and "Traceback" not in r.stderr


def test_suggestion_on_a_flat_curve_backs_off_from_the_blow_up():
    lrs = [10 ** (-6 + 0.25 * i) for i in range(29)]          # 1e-6 .. 1e1
    losses = [2.30 + 0.001 * (i % 3) for i in range(25)] + [2.5, 3.0, 5.0, 12.0]
    assert finders.suggest_lr(lrs, losses) == pytest.approx(lrs[24] / 10)
