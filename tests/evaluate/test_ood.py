"""The local OOD estimate: accuracy falls with severity; logits, labels and index line up; seeded."""

from __future__ import annotations

import numpy as np
import pytest

from kagglebench.evaluate import cache
from kagglebench.evaluate.runner import evaluate_run
from kagglebench.workspace import Workspace

# A few strong corruptions keep the test fast; the CLI test in test_eval.py runs all 19.
SHORT_SUITE = ["defocus_blur", "contrast", "gaussian_blur"]


@pytest.fixture
def short_suite(monkeypatch):
    from kagglebench.data import corruptions

    monkeypatch.setattr(corruptions, "CORRUPTIONS", SHORT_SUITE)


def test_accuracy_falls_as_severity_grows(eval_ws, short_suite):
    root, run_id = eval_ws
    ws = Workspace(root)
    res = evaluate_run(ws, run_id, with_ood=True, ood_samples=120)
    by_sev = res["ood_by_severity"]
    assert list(res["ood"]) == SHORT_SUITE
    assert by_sev["5"] < by_sev["1"], by_sev
    assert np.mean([by_sev["4"], by_sev["5"]]) < np.mean([by_sev["1"], by_sev["2"]]), by_sev
    assert res["ood_acc"] < res["val_acc"]
    assert res["ood_acc"] == pytest.approx(np.mean([v for row in res["ood"].values() for v in row.values()]))
    with ws.store() as st:
        assert st.get_run(run_id)["ood_acc"] == pytest.approx(res["ood_acc"])


def test_logits_labels_and_index_line_up(eval_ws, short_suite):
    root, run_id = eval_ws
    ws = Workspace(root)
    logits = cache.logits(ws, run_id, split="ood", ood_samples=10)
    labels = cache.labels(ws, run_id, "ood", ood_samples=10)
    index = cache.ood_index(ws, run_id, ood_samples=10)
    assert logits.shape[0] == len(labels) == 10 * 5 * len(SHORT_SUITE)
    assert index[0] == ("defocus_blur", 1, 0, 10) and index[-1] == ("gaussian_blur", 5, 140, 150)
    # each block holds the same seeded subset of validation images, so the labels repeat
    assert all((labels[a:b] == labels[:10]).all() for _, _, a, b in index)
    val_labels = cache.labels(ws, run_id, "val")
    assert set(labels[:10]) <= set(val_labels)


def test_suite_is_seeded(eval_ws, short_suite):
    root, run_id = eval_ws
    ck = cache.CheckpointLogits(Workspace(root), run_id)
    a, b = ck.source("ood", 10, 0), ck.source("ood", 10, 1)
    again = cache.CheckpointLogits(Workspace(root), run_id).source("ood", 10, 0)
    assert a.digest == again.digest and a.digest != b.digest
    first = [blk.copy() for blk in a.chunks()]
    assert sum(len(blk) for blk in first) == a.n == 10 * 5 * len(SHORT_SUITE)
    assert all(np.array_equal(x, y) for x, y in zip(first, again.chunks()))
