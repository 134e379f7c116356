"""The numpy side of the curves: reading the store in blocks and summaries, appending only new
rows, per-pixel decimation and TensorBoard's smoothing (no widgets needed)."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from kagglebench.store import BUCKET_STEPS, Store
from kagglebench_gui.series import ColumnSet, Trace, decimate, ema, read_block, read_overview
from tests.reference.tensorboard_smoothing import classic_smoothing


def step_rows(first: int, last: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed + first)
    return [{"scope": "step", "step": s, "epoch": s / 100, "train_loss": 1 / (s + 1) + rng.random(), "lr": 0.1}
            for s in range(first, last)]


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "kagglebench.db") as s:
        s.create_run("r", name="r", recipe="lenet5", config={}, run_dir="runs/r")
        yield s


def test_rows_arrive_as_numpy_columns_not_one_dict_per_row(store):
    store.add_metrics("r", step_rows(0, 50) + [{"scope": "epoch", "step": 49, "epoch": 1.0, "val_acc": 0.5}])
    block = read_block(store.db, "r", 0)
    assert block["rows"] == 51 and isinstance(block["step"]["train_loss"], np.ndarray)
    assert np.isnan(block["step"]["val_acc"]).all()  # NULL is NaN
    assert list(block["epoch"]["val_acc"]) == [0.5]
    more = read_block(store.db, "r", block["last_id"])
    assert more["rows"] == 0  # only rows newer than the last seen are read again


def test_store_keeps_bucket_summaries_that_match_the_rows(store):
    store.add_metrics("r", step_rows(0, 3000))
    store.add_metrics("r", step_rows(3000, 3100))
    rows = store.metric_buckets("r")
    assert len(rows) == math.ceil(3100 / BUCKET_STEPS)
    assert sum(r["n"] for r in rows) == 3100
    got = store.db.execute("SELECT MIN(train_loss), MAX(train_loss) FROM metrics WHERE run_id='r'").fetchone()
    assert min(r["train_loss_min"] for r in rows) == got[0] and max(r["train_loss_max"] for r in rows) == got[1]
    # A resume drops rows after its checkpoint and the summaries follow.
    store.drop_metrics_after("r", 1000)
    rows = store.metric_buckets("r")
    assert sum(r["n"] for r in rows) == 1001 and max(r["step_max"] for r in rows) == 1000


def test_migration_summarises_rows_written_before_it(tmp_path: Path):
    path = tmp_path / "old.db"
    with Store(path) as s:
        s.create_run("r", name="r", recipe="lenet5", config={}, run_dir="runs/r")
        s.add_metrics("r", step_rows(0, 600))
        s.db.execute("DROP TABLE metric_buckets")  # as a version-1 store had it
        s.db.execute("PRAGMA user_version = 1")
    db = sqlite3.connect(path)
    for stmt in ("ALTER TABLE runs DROP COLUMN tags", "ALTER TABLE runs DROP COLUMN note",
                 "ALTER TABLE submissions DROP COLUMN bytes", "DROP INDEX runs_study",
                 "ALTER TABLE runs DROP COLUMN study", "ALTER TABLE runs DROP COLUMN trial"):  # later migrations
        db.execute(stmt)
    db.commit()
    db.close()
    with Store(path) as s:
        assert sum(r["n"] for r in s.metric_buckets("r")) == 600
        assert s.get_run("r")["tags"] == [] and s.get_run("r")["note"] == ""


def test_overview_envelope_is_the_datas_min_and_max(store, monkeypatch):
    import kagglebench_gui.series as series
    monkeypatch.setattr(series, "OVERVIEW_ROWS", 1000)
    store.add_metrics("r", step_rows(0, 5000))
    ov = read_overview(store.db, "r", buckets=10)
    lo, hi, mean, count = ov["train_loss"]
    got = store.db.execute("SELECT MIN(train_loss), MAX(train_loss), AVG(train_loss) FROM metrics").fetchone()
    assert ov["rows"] == 5000 and len(lo) <= 10
    assert lo.min() == got[0] and hi.max() == got[1]
    assert np.sum(mean * count) / np.sum(count) == pytest.approx(got[2])
    assert ov["step"][0][0] == 0 and ov["step"][1][-1] == 4999


def test_decimation_keeps_every_columns_extremes_and_few_points():
    rng = np.random.default_rng(0)
    x = np.arange(1_000_000, dtype=float)
    y = rng.normal(size=x.size)
    dx, dy = decimate(x, y, None, None, 800)
    assert len(dx) <= 2 * 800 + 2
    assert dy.min() == y.min() and dy.max() == y.max()
    assert dx[0] == 0 and dx[-1] == x[-1]
    # Zoomed in: only the visible part (plus one point each side) is considered.
    zx, zy = decimate(x, y, 1000, 1100, 800)
    assert zx[0] == 999 and zx[-1] == 1101 and len(zx) == 103


def test_smoothing_is_tensorboards():
    rng = np.random.default_rng(1)
    ys = rng.normal(size=500).cumsum()
    for w in (0.0, 0.3, 0.6, 0.99):
        ref = [v for _, v in classic_smoothing(list(enumerate(ys)), w)]
        mine, _ = ema(ys, w)
        assert np.allclose(mine, ref, rtol=1e-9, atol=1e-9), w


def test_trace_appends_only_new_rows_and_continues_the_average():
    cs = ColumnSet()
    tr = Trace(cs, "train_loss", 0.6)
    rows = step_rows(0, 300)
    cols = lambda rs: {c: np.array([r.get(c, np.nan) for r in rs], dtype=float)  # noqa: E731
                       for c in ("step", "epoch", "time", "train_loss", "train_acc", "val_loss", "val_acc",
                                 "val_top5", "lr", "images_per_s")}
    cs.append(cols(rows[:100]))
    tr.update()
    first = tr.smooth.values.copy()
    cs.append(cols(rows[100:]))
    assert tr.update()
    assert np.array_equal(tr.smooth.values[:100], first)  # old points were not recomputed
    whole, _ = ema(np.array([r["train_loss"] for r in rows]), 0.6)
    assert np.allclose(tr.smooth.values, whole)
    # A resume rewrites the tail: the trace rebuilds instead of duplicating steps.
    cs.append(cols(rows[250:260]))
    tr.update()
    assert len(tr) == 260 and tr.x["step"].values[-1] == 259
