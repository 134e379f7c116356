"""Ensemble selection and combination (kagglebench.ensemble) on cached-logit stand-ins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kagglebench import ensemble as E
from kagglebench.errors import UserError
from kagglebench.store import Store


def _members(seed: int, n_models: int = 6, n: int = 300, c: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    """Noisy models of varying skill: logits = skill * onehot(label) + noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = []
    for i in range(n_models):
        z = rng.normal(size=(n, c)) * 2.0
        z[np.arange(n), y] += 0.5 + 0.4 * i * rng.random()
        logits.append(z)
    return logits, y


@pytest.mark.parametrize("seed", range(12))
def test_greedy_never_worse_than_best_single_on_validation(seed: int) -> None:
    logits, y = _members(seed)
    probs = [E.softmax(z) for z in logits]
    counts = E.greedy_select(probs, y)
    ens = E.combine([p for p, k in zip(probs, counts) if k], [k for k in counts if k])
    assert E.accuracy(ens, y) >= max(E.accuracy(p, y) for p in probs)


def test_averaging_diverse_members_beats_each() -> None:
    logits, y = _members(0, n_models=5, n=2000)
    probs = [E.softmax(z) for z in logits]
    assert E.accuracy(E.combine(probs, [1] * 5), y) > max(E.accuracy(p, y) for p in probs)


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 4000)
    true_logits = rng.normal(size=(4000, 4))
    true_logits[np.arange(4000), y] += 1.0
    # labels drawn from the true probabilities, logits reported 3x too confident
    y = np.array([rng.choice(4, p=p) for p in E.softmax(true_logits)])
    assert abs(E.fit_temperature(3 * true_logits, y) - 3.0) < 0.4


def test_error_correlation_identical_and_undefined() -> None:
    y = np.array([0, 1, 0, 1])
    a = E.softmax(np.array([[2, 0], [2, 0], [2, 0], [0, 2.0]]))
    perfect = E.softmax(np.array([[2, 0], [0, 2], [2, 0], [0, 2.0]]))
    corr = E.error_correlation([a, a, perfect], y)
    assert corr[0][1] == 1.0 and corr[0][2] is None


def test_parse_member() -> None:
    assert E.parse_member("fast-1a2b") == ("fast-1a2b", "best")
    assert E.parse_member("fast-1a2b:7") == ("fast-1a2b", "7")
    with pytest.raises(UserError):
        E.parse_member("fast-1a2b:newest")


@pytest.fixture
def fake_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A real store with three runs; the evaluation cache replaced by fixed logits."""
    from kagglebench.evaluate import cache

    logits, y = _members(3, n_models=3)
    test = [z[:40] for z in _members(4, n_models=3)[0]]
    db = tmp_path / "kagglebench.db"
    with Store(db) as store:
        for i, z in enumerate(logits):
            rid = f"run-{i}"
            store.create_run(rid, name=rid, recipe="fast", config={}, run_dir=f"runs/{rid}")
            store.update_run(rid, best_val_acc=E.accuracy(z, y), status="finished")
            store.add_checkpoint(rid, "epoch001", epoch=1, step=10, path="x", val_acc=E.accuracy(z, y),
                                 metric=E.accuracy(z, y))
    data = {f"run-{i}": {"val": z, "test": test[i], "ood": z[::-1]} for i, z in enumerate(logits)}
    monkeypatch.setattr(cache, "logits", lambda ws, r, checkpoint="best", split="val", tta="none":
                        data[r][split].astype(np.float16))
    monkeypatch.setattr(cache, "labels", lambda ws, r, split: {"val": y, "ood": y[::-1]}.get(split))
    fmt = SimpleNamespace(id_col="id", label_col="label", num_classes=5, ids=[f"t{i}" for i in range(40)])
    return SimpleNamespace(root=tmp_path, store=lambda: Store(db), submission_format=lambda: fmt,
                           logits=logits, y=y)


def test_top_k_from_the_store_and_csv(fake_ws: SimpleNamespace, tmp_path: Path) -> None:
    ens = E.from_request(fake_ws, top=2)
    accs = sorted((E.accuracy(z, fake_ws.y) for z in fake_ws.logits), reverse=True)
    assert [m.val_acc for m in ens.members] == pytest.approx(accs[:2], abs=1e-3)
    assert ens.ood_acc is not None and len(ens.error_correlation) == 2
    out = E.write_csv(fake_ws, ens, tmp_path / "sub.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and len(lines) == 41 and lines[1].startswith("t0,")


def test_greedy_request_and_json(fake_ws: SimpleNamespace) -> None:
    ens = E.from_request(fake_ws, top=3, method="greedy", temperature=True)
    best = max(E.accuracy(z, fake_ws.y) for z in fake_ws.logits)
    assert ens.val_acc >= best - 1e-9
    assert abs(sum(m.weight for m in ens.members) - 1.0) < 1e-9
    assert set(ens.to_json()) >= {"members", "val_acc", "ood_acc", "out"}


def test_no_members_named_is_a_user_error(fake_ws: SimpleNamespace) -> None:
    with pytest.raises(UserError, match="--top K"):
        E.from_request(fake_ws)
    with pytest.raises(UserError, match="no such run"):
        E.from_request(fake_ws, specs=["nope"])
