"""Metrics on known logits, and the TTA views and their combination."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kagglebench.evaluate import metrics, tta


def test_accuracy_confusion_per_class():
    logits = np.array([[3, 1, 0], [0, 2, 1], [0, 1, 2], [2, 0, 1]], dtype=np.float16)
    labels = np.array([0, 1, 1, 2])
    assert metrics.topk_accuracy(logits, labels, 1) == 0.5
    assert metrics.topk_accuracy(logits, labels, 2) == 1.0
    assert metrics.topk_accuracy(logits, labels, 5) == 1.0            # k capped at the class count
    cm = metrics.confusion_matrix(labels, logits.argmax(1), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    assert metrics.per_class_accuracy(cm).tolist() == [1.0, 0.5, 0.0]


def test_nll_and_ece():
    labels = np.array([0, 1])
    uniform = np.zeros((2, 4))
    assert metrics.nll(uniform, labels) == pytest.approx(np.log(4))
    # confident and right: tiny NLL and ECE; confident and wrong: ECE near 1
    right = np.array([[20.0, 0, 0, 0], [0, 20.0, 0, 0]])
    assert metrics.nll(right, labels) < 1e-6
    assert metrics.ece(right, labels) < 1e-6
    assert metrics.ece(right, np.array([1, 0])) > 0.99
    # float16 logits of a very confident model must not overflow
    huge = np.array([[60000, -60000, 0, 0]], dtype=np.float16)
    assert np.isfinite(metrics.nll(huge, np.array([1])))


def test_summary_is_json_ready():
    import json

    s = metrics.summarize(np.eye(3, dtype=np.float16) * 5, np.array([0, 1, 1]), 4)
    json.dumps(s)
    assert s["acc"] == pytest.approx(2 / 3) and s["per_class"][3] is None and len(s["confusion"]) == 4


def test_tta_views():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    assert torch.equal(tta.apply("plain", x), x)
    assert torch.equal(tta.apply("hflip", x), x.flip(-1))
    ul = tta.apply("shift-ul", x)
    assert ul.shape == x.shape and torch.equal(ul[..., :-1, :-1], x[..., 1:, 1:])
    dr = tta.apply("shift-dr", x)
    assert torch.equal(dr[..., 1:, 1:], x[..., :-1, :-1])
    assert torch.equal(tta.apply("shift-dr-hflip", x), tta.apply("shift-dr", x).flip(-1))   # airbench's order
    for mode in tta.MODES:
        assert sum(w for _, w in tta.views(mode)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="flip-shift"):
        tta.views("rotate")


def test_tta_combine_is_weighted_mean():
    a, b = np.ones((2, 3), np.float16), 3 * np.ones((2, 3), np.float16)
    assert np.allclose(tta.combine({"plain": a, "hflip": b}, "flip"), 2.0)
    assert np.allclose(tta.combine({"plain": a}, "none"), 1.0)
