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
                          capture_output=True, text=True, env=_env(), timeout=1500, check=False)
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
        # matmul and training are timed alternately: one more matmul timing than training rounds
        assert len(e["matmul_rounds"]) == len(e["train_rounds_s"]) + 1
    assert _positive(r["efficiency"]["matmul_flops_per_s"])
    p = r["predict"]
    assert p["starter"]["images"] == p["kagglebench"]["images"] == 19 * 10
    assert p["agreement"] > 0.95
    # Each child measures its own peak (not the parent's, which getrusage would carry over).
    for way in ("starter", "kagglebench"):
        assert 50e6 < p[way]["peak_rss_bytes"] < 4e9
    assert _positive(r["reensemble"]["seconds"]) and r["reensemble"]["members"] == 3
    assert _positive(r["startup"]["best_s"])
    assert r["machine"]["cores"] == os.cpu_count()


def test_bench_json_reports_time_to_accuracy(bench_json: dict) -> None:
    """(g): the seed loop's final accuracy is the target; each kagglebench candidate's time is its
    training time up to the first epoch at or above it; the speedup is their ratio."""
    t = bench_json["time_to_accuracy"]
    seed = t["seed"]
    assert seed["recipe"] == "simplecnn-3block" and seed["batch_size"] == 32 and seed["epochs"] == 2
    assert t["target_acc"] == seed["final_val_acc"] == seed["curve"][-1]["val_acc"]
    assert seed["seconds"] == pytest.approx(sum(r["train_s"] for r in seed["curve"]))
    assert set(t["kagglebench"]) == {"demo-cnn", "fast"}
    for k in t["kagglebench"].values():
        assert len(k["curve"]) == k["epochs"] >= 1 and all(_positive(r["train_s"]) for r in k["curve"])
        hit = k["reached"]
        if hit is not None:
            done = k["curve"][:hit["epoch"]]
            assert hit["val_acc"] >= t["target_acc"] and all(r["val_acc"] < t["target_acc"] for r in done[:-1])
            assert hit["seconds"] == pytest.approx(sum(r["train_s"] for r in done))
    if bench_json["time_to_accuracy_speedup"] is None:
        assert all(k["reached"] is None for k in t["kagglebench"].values())
    else:
        best = t["kagglebench"][t["best_recipe"]]["reached"]["seconds"]
        assert bench_json["time_to_accuracy_speedup"] == pytest.approx(seed["seconds"] / best)
        assert best == min(k["reached"]["seconds"] for k in t["kagglebench"].values() if k["reached"])


def test_first_reaching_counts_training_time_up_to_the_first_epoch_at_the_target() -> None:
    from kagglebench.bench.timetoacc import first_reaching

    curve = [{"epoch": 1, "train_s": 2.0, "val_acc": 0.3}, {"epoch": 2, "train_s": 3.0, "val_acc": 0.6},
             {"epoch": 3, "train_s": 4.0, "val_acc": 0.5}, {"epoch": 4, "train_s": 1.0, "val_acc": 0.7}]
    assert first_reaching(curve, 0.55) == {"epoch": 2, "seconds": 5.0, "val_acc": 0.6}
    assert first_reaching(curve, 0.7)["seconds"] == 10.0 and first_reaching(curve, 0.8) is None


def test_the_seed_loop_trains_as_seed_000_reports() -> None:
    from kagglebench.bench.timetoacc import seed_optimizer
    from kagglebench.config import load_recipe

    recipe = load_recipe("simplecnn-3block")
    opt, sched = seed_optimizer(torch.nn.Linear(2, 2), recipe)
    g = opt.param_groups[0]
    assert isinstance(opt, torch.optim.Adam) and (g["lr"], g["weight_decay"]) == (1e-3, 5e-4)
    assert (sched.step_size, sched.gamma) == (20, 0.1)
    assert (recipe.train.epochs, recipe.train.batch_size) == (50, 32)


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


def test_prediction_reads_files_without_keeping_their_pages(tmp_path: Path) -> None:
    """(d)'s memory fix: rows of a memory-mapped DS-542 file are read with plain file reads, so
    reading a whole file leaves none of its pages resident through the map, and the rows are
    exactly the file's."""
    import numpy as np

    from kagglebench.data import formats
    from kagglebench.data.testsets import ood_test_source
    from kagglebench.data.writers import write_ood_file

    images = np.random.default_rng(0).integers(0, 256, (2000, 32, 32, 3), dtype=np.uint8)  # 6 MB
    write_ood_file(tmp_path / "distortion00.npy", images)
    write_ood_file(tmp_path / "distortion01.npy", images[::-1])

    def rss_file_kb() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))

    arr = formats.open_ood_file(tmp_path / "distortion00.npy")
    before = rss_file_kb()
    got = np.concatenate([formats.read_rows(arr, i, i + 300) for i in range(0, 2000, 300)])
    assert np.array_equal(got, images) and isinstance(got, np.ndarray) and not isinstance(got, np.memmap)
    assert rss_file_kb() - before < 2_000          # read through the map, it would be ~6,000 kB
    del arr
    src = ood_test_source(tmp_path)
    chunks = list(src.iter_chunks(chunk=700))
    assert np.array_equal(np.concatenate([c for _, c in chunks]), np.concatenate([images, images[::-1]]))
    assert chunks[0][0][:2] == ["distortion00_1_0", "distortion00_1_1"] and chunks[-1][0][-1] == "distortion01_5_399"
    assert [len(ids) for ids, _ in chunks] == [len(c) for _, c in chunks]


def test_reensemble_combines_three_members() -> None:
    from kagglebench.bench.measure import reensemble

    out = reensemble(rows=1200, chunk=500)
    assert out["rows"] == 1200 and out["members"] == 3 and out["seconds"] > 0


def test_table_names_each_figure_and_its_goal(bench_json: dict) -> None:
    from kagglebench.bench import format_table

    text = format_table(bench_json)
    for label in ("(a) input pipeline", "(b) train simplecnn-3block", "(b) train resnet18", "(c) matmul",
                  "(d) predict", "peak RSS", "(e) re-ensemble", "(f) kagglebench --help", "(g) time to",
                  "seed simplecnn-3block, ended at", "kagglebench demo-cnn, ended at"):
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
