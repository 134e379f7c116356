"""`kagglebench bench`: the figures are all there, and the baselines are what they claim to be.

No timed assertions: the speeds depend on the machine and its load (BENCHMARKS.md holds the
measured ones). The CLI run uses the hidden `--size tiny`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and value > 0


@pytest.fixture(scope="module")
def bench_json() -> dict:
    proc = subprocess.run([sys.executable, "-m", "kagglebench", "bench", "--quick", "--json", "--size", "tiny"],
                          capture_output=True, text=True, env=_env(), timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(a) input pipeline" in proc.stderr          # progress goes to stderr ...
    return json.loads(proc.stdout)                       # ... and stdout is one JSON document


def test_bench_json_reports_every_figure(bench_json: dict) -> None:
    r = bench_json
    assert _positive(r["loader_speedup"]) and _positive(r["train_speedup"])
    for side in ("baseline", "kagglebench"):
        assert _positive(r["loader"][side]["images_per_s"])
        for model in ("simplecnn-3block", "resnet18"):
            assert _positive(r["train"][model][side]["images_per_s"])
            assert _positive(r["train"][model][side]["s_per_epoch"])
    for model in ("simplecnn-3block", "resnet18"):
        e = r["efficiency"][model]
        assert _positive(e["train_flops_per_image"]) and 0 < e["efficiency"]
    assert _positive(r["efficiency"]["matmul_flops_per_s"])
    p = r["predict"]
    assert p["starter"]["images"] == p["kagglebench"]["images"] == 19 * 20
    assert _positive(p["kagglebench"]["peak_rss_bytes"]) and _positive(p["starter"]["peak_rss_bytes"])
    assert p["agreement"] > 0.95
    assert _positive(r["reensemble"]["seconds"]) and r["reensemble"]["members"] == 3
    assert _positive(r["startup"]["best_s"])
    assert r["machine"]["cores"] == os.cpu_count()


def test_flop_counts_match_the_published_costs() -> None:
    """REFERENCE.md: forward 1.11 GFLOP (ResNet-18, CIFAR stem) and 0.31 GFLOP (SimpleCNN 3-block)
    per 32x32 image; training is about 3x forward."""
    from kagglebench.bench.measure import flops_per_image

    assert flops_per_image("resnet18", batch=2) / 3 == pytest.approx(1.11e9, rel=0.1)
    assert flops_per_image("simplecnn-3block", batch=2) / 3 == pytest.approx(0.31e9, rel=0.15)


def test_baseline_loader_is_torchvisions_cifar_pipeline(tmp_path: Path) -> None:
    from kagglebench.bench import baselines
    from kagglebench.bench.measure import MEAN, STD, write_train_folder

    _, labels = write_train_folder(tmp_path, 64)
    dl = baselines.seed_loader(tmp_path, MEAN, STD, batch_size=16, workers=0)
    assert isinstance(dl.dataset, __import__("torchvision").datasets.CIFAR100)
    x, y = next(iter(dl))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert len(dl) == 4 and y.dtype == torch.int64 and set(y.tolist()) <= set(labels.tolist())
    # Normalized with the CIFAR-100 statistics: uniform random pixels give roughly these values.
    assert float(x.min()) < -1.5 and float(x.max()) > 1.5


def test_both_prediction_ways_agree_and_report_their_memory(tmp_path: Path) -> None:
    from kagglebench.bench import measure

    ood = measure.write_ood_folder(tmp_path / "ood-test", per_file=10, files=3)
    out = measure.predict(ood, tmp_path)
    assert out["starter"]["images"] == out["kagglebench"]["images"] == 30
    assert out["agreement"] > 0.9
    # Each child measures its own peak (not the parent's, which getrusage would carry over):
    # both are below this test process's own resident size plus what torch needs.
    for way in ("starter", "kagglebench"):
        assert 50e6 < out[way]["peak_rss_bytes"] < 4e9


def test_reensemble_combines_three_members() -> None:
    from kagglebench.bench.measure import reensemble

    out = reensemble(rows=1200, chunk=500)
    assert out["rows"] == 1200 and out["members"] == 3 and out["seconds"] > 0


def test_table_names_each_figure_and_its_goal(bench_json: dict) -> None:
    from kagglebench.bench import format_table

    text = format_table(bench_json)
    for label in ("(a) input pipeline", "(b) train simplecnn-3block", "(b) train resnet18", "(c) matmul",
                  "(d) predict", "peak RSS", "(e) re-ensemble", "(f) kagglebench --help"):
        assert label in text
    assert ">= 12x" in text and "< 1500 MB" in text


def test_bench_help_is_for_a_newcomer() -> None:
    proc = subprocess.run([sys.executable, "-m", "kagglebench", "bench", "--help"], capture_output=True,
                          text=True, env=_env(), check=False)
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--json" in proc.stdout
    assert "--size" not in proc.stdout            # the tests' size stays hidden
    assert "seed" in proc.stdout                   # says what it compares against


def test_trainer_leaves_warmup_steps_out_of_its_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.compile compiles (and cuDNN autotunes) on the first step: the images/s the trainer
    reports must not include it. A fake clock makes the first step take 100 s, the others 1 s."""
    from kagglebench.config import load_recipe
    from kagglebench.train import loop

    clock = {"t": 0.0, "calls": 0}
    monkeypatch.setattr(loop.time, "perf_counter", lambda: clock["t"])

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(12, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            clock["calls"] += 1
            clock["t"] += 100.0 if clock["calls"] == 1 else 1.0
            return self.fc(x.flatten(1))

    recipe = load_recipe("simplecnn-3block", ["schedule.name=none", "optim.name=sgd"])
    rates = {}
    for warmup in (0, 1):
        clock.update(t=0.0, calls=0)
        net = Net()
        parts = loop.Parts(model=net, raw=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
                           device=torch.device("cpu"), warmup_steps=warmup)
        batches = [(torch.randn(8, 3, 2, 2), torch.randint(0, 3, (8,))) for _ in range(4)]
        out = loop.train_one_epoch(parts, loop.TrainState(), recipe, batches, num_classes=3,
                                   schedule=loop.Schedule(recipe, 4, 4), log_every=2)
        rates[warmup] = out["images_per_s"]
    assert rates[1] == pytest.approx(24 / 3.0)        # steps 2-4: 24 images in 3 s
    assert rates[0] == pytest.approx(32 / 103.0)      # everything, compilation included
