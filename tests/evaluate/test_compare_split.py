"""Error bars through the CLI: `eval --json` carries val_ci and ood_ci, `eval --split test` estimates
on the labelled test split, and `kagglebench compare` pairs two runs on the same images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kagglebench.cli import main
from kagglebench.evaluate import cache
from kagglebench.evaluate.runner import evaluate_run
from kagglebench.workspace import Workspace

SHORT_SUITE = ["defocus_blur", "contrast", "gaussian_blur"]


@pytest.fixture
def short_suite(monkeypatch):
    from kagglebench.data import corruptions

    monkeypatch.setattr(corruptions, "CORRUPTIONS", SHORT_SUITE)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def _ids(root) -> dict[str, str]:
    with Workspace(root).store() as st:
        return {r["name"]: r["id"] for r in st.list_runs()}


def test_eval_json_has_intervals(eval_ws, short_suite, capsys):
    root, run_id = eval_ws
    code, out, _ = _run(capsys, "--workspace", str(root), "eval", run_id, "--ood", "--ood-samples", "40", "--json")
    assert code == 0
    doc = json.loads(out)
    lo, hi = doc["ood_ci"]
    assert lo <= doc["ood_acc"] <= hi and hi - lo > 0
    vlo, vhi = doc["val_ci"]
    assert vlo <= doc["val_acc"] <= vhi
    code, out, _ = _run(capsys, "--workspace", str(root), "eval", run_id, "--ood", "--ood-samples", "40")
    assert "95% interval" in out and f"[{lo * 100:.1f}, {hi * 100:.1f}]" in out


def test_split_test_estimates_on_the_labelled_test_split(eval_ws, short_suite):
    root, run_id = eval_ws
    ws = Workspace(root)
    res = evaluate_run(ws, run_id, with_ood=True, ood_samples=15, split="test")
    assert res["split"] == "test" and res["ood_samples"] == 15
    test_labels = cache.labels(ws, run_id, "labelled_test")
    ood_labels = cache.labels(ws, run_id, "ood_test", ood_samples=15)
    assert len(ood_labels) == 15 * 5 * len(SHORT_SUITE) and set(ood_labels) <= set(test_labels)
    ck = cache.CheckpointLogits(ws, run_id)
    assert ck.source("ood_test", 15, 0).digest != ck.source("ood", 15, 0).digest
    # the validation-based estimate stays the run's OOD figure
    with ws.store() as st:
        assert st.get_run(run_id)["ood_acc"] is None
    val_res = evaluate_run(ws, run_id, with_ood=True, ood_samples=15)
    with ws.store() as st:
        assert st.get_run(run_id)["ood_acc"] == pytest.approx(val_res["ood_acc"])


def test_split_test_without_a_labelled_test_split_is_a_user_error(eval_ws, monkeypatch, capsys):
    root, run_id = eval_ws
    monkeypatch.setattr(Workspace, "labelled_test", lambda self: None)
    code, out, err = _run(capsys, "--workspace", str(root), "eval", run_id, "--ood", "--split", "test")
    assert code == 2 and out == ""
    assert err.startswith("kagglebench: error: --split test") and "no labelled test split" in err
    assert "Traceback" not in err


def test_compare_same_run_finds_no_difference(eval_ws, short_suite, capsys):
    root, run_id = eval_ws
    code, out, _ = _run(capsys, "--workspace", str(root), "compare", run_id, run_id, "--ood",
                        "--ood-samples", "30", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["verdict"] == "cannot tell" and doc["diff"] == 0 and doc["identical"]
    assert doc["metric"] == "ood_acc" and doc["n"] == 30 and doc["a"]["acc"] == doc["b"]["acc"]


def test_compare_two_runs_is_paired_and_explains(eval_ws, short_suite, capsys):
    root, _ = eval_ws
    ids = _ids(root)
    code, out, _ = _run(capsys, "--workspace", str(root), "compare", ids["seed0"], ids["seed1"], "--ood",
                        "--ood-samples", "30", "--json")
    assert code == 0
    doc = json.loads(out)
    ws = Workspace(root)
    y = cache.labels(ws, ids["seed0"], "ood", ood_samples=30)
    accs = [float((np.asarray(cache.logits(ws, ids[k], split="ood", ood_samples=30)).argmax(1) == y).mean())
            for k in ("seed0", "seed1")]
    assert doc["a"]["acc"] == pytest.approx(accs[0]) and doc["b"]["acc"] == pytest.approx(accs[1])
    assert doc["diff"] == pytest.approx(accs[1] - accs[0])
    assert doc["diff_ci"][0] <= doc["diff"] <= doc["diff_ci"][1]
    code, out, _ = _run(capsys, "--workspace", str(root), "compare", ids["seed0"], ids["seed1"])
    assert code == 0 and "paired on the same" in out and "verdict:" in out
    if "cannot tell" in out and "exactly" not in out and "equally often" not in out:
        assert "base images" in out and "to detect 80% of the time" in out


def test_compare_refuses_runs_on_different_images(eval_ws, capsys):
    from kagglebench.config import load_recipe
    from kagglebench.train.runner import train_run

    root, run_id = eval_ws
    other = train_run(Workspace(root), load_recipe("demo-cnn", ["epochs=1", "data.split_seed=7"]), name="other")
    code, out, err = _run(capsys, "--workspace", str(root), "compare", run_id, other["id"])
    assert code == 2 and out == "" and "different images" in err
