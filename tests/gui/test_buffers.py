"""The metric buffers behind the live curves: growth, resume, long runs (no widgets needed)."""

from __future__ import annotations

import time

import numpy as np

from kagglebench_gui.buffers import RunMetrics, SeriesBuffer


def rows(steps, scope="step", **extra):
    return [{"scope": scope, "step": s, "epoch": s / 10, "train_loss": 1.0 / (s + 1), "lr": 0.1, **extra}
            for s in steps]


def test_buffer_grows_and_keeps_order():
    buf = SeriesBuffer(capacity=4)
    for start in range(0, 100, 7):
        buf.append_rows(rows(range(start, min(start + 7, 100))))
    assert len(buf) == 100
    assert np.array_equal(buf.column("step"), np.arange(100))
    assert buf.column("val_acc").shape == (100,) and np.isnan(buf.column("val_acc")).all()


def test_resumed_run_rewrites_its_tail_instead_of_duplicating():
    buf = SeriesBuffer()
    buf.append_rows(rows(range(50)))
    buf.append_rows(rows(range(30, 40)))  # the trainer resumed from step 30's checkpoint
    assert np.array_equal(buf.column("step"), np.arange(40))


def test_series_prefers_dense_step_rows_for_training_and_epoch_rows_for_validation():
    m = RunMetrics()
    m.add(rows(range(20)) + [{"scope": "epoch", "step": 9, "epoch": 1.0, "val_acc": 0.5, "train_loss": 0.3},
                                {"scope": "epoch", "step": 19, "epoch": 2.0, "val_acc": 0.6, "train_loss": 0.2}])
    x, y = m.series("train_loss", "step")
    assert len(x) == 20
    x, y = m.series("val_acc", "epoch")
    assert list(x) == [1.0, 2.0] and list(y) == [0.5, 0.6]


def test_a_100k_point_run_appends_quickly():
    m = RunMetrics()
    t = time.perf_counter()
    for start in range(0, 100_000, 1000):
        m.add(rows(range(start, start + 1000)))
    assert len(m.step) == 100_000
    assert time.perf_counter() - t < 10
