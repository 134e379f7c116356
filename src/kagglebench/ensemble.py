"""Ensembles of checkpoints, built from cached logits alone.

Members are chosen three ways: the K best runs by validation accuracy (each run's best
checkpoint), explicit `RUN_ID[:CKPT]` specs, or greedy forward selection with replacement on
validation logits (Caruana et al. 2004, "Ensemble selection from libraries of models"): start
from the best single checkpoint, repeatedly add whichever candidate (again, if it helps most)
improves validation accuracy, and keep the best bag seen, so the result is never worse on
validation than the best single member. Members are combined by averaging their softmax
probabilities, weighted by how often selection picked them, optionally after per-member
temperature scaling fitted on validation.

Logits come from `kagglebench.evaluate.cache`, which computes any missing ones once and caches
them beside the checkpoint: building an ensemble never runs a model twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

METHODS = ("mean", "greedy")


@dataclass
class Member:
    run: str
    checkpoint: str  # "best", "last" or an epoch number as text
    weight: float = 1.0
    temperature: float = 1.0
    val_acc: float | None = None
    ood_acc: float | None = None


@dataclass
class Ensemble:
    members: list[Member]
    method: str
    val_acc: float | None = None
    ood_acc: float | None = None
    error_correlation: list[list[float | None]] = field(default_factory=list)
    out: str | None = None
    ood_ci: list[float] | None = None     # 95% interval of ood_acc over the base images

    def to_json(self) -> dict[str, Any]:
        return {"members": [asdict(m) for m in self.members], "method": self.method,
                "val_acc": self.val_acc, "ood_acc": self.ood_acc, "ood_ci": self.ood_ci,
                "error_correlation": self.error_correlation, "out": self.out}


# -- pure numpy pieces ------------------------------------------------------------------------
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimizing validation NLL of softmax(logits / T) (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(-(s[np.arange(len(y)), y] - np.log(np.exp(s).sum(axis=1))).mean())

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def combine(probs: list[np.ndarray], weights: list[float] | np.ndarray) -> np.ndarray:
    """Weighted mean of probability matrices."""
    w = np.asarray(weights, dtype=np.float64)
    return sum(wi * p for wi, p in zip(w / w.sum(), probs))


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(probs).argmax(axis=1) == np.asarray(labels)).mean())


def greedy_select(probs: list[np.ndarray], labels: np.ndarray, rounds: int | None = None) -> list[int]:
    """Caruana's forward selection with replacement; returns how often each candidate was picked.

    Starts from the best single candidate and keeps the best bag seen over all rounds, so the
    chosen ensemble's validation accuracy is never below the best single candidate's.
    Ties keep the smaller bag (fewer, and earlier, picks).
    """
    n = len(probs)
    rounds = rounds or max(10, 2 * n)
    singles = [accuracy(p, labels) for p in probs]
    counts = [0] * n
    counts[int(np.argmax(singles))] = 1
    total = probs[int(np.argmax(singles))].copy()
    best_counts, best_acc = list(counts), max(singles)
    for _ in range(rounds - 1):
        k = sum(counts)
        scores = [accuracy((total + p) / (k + 1), labels) for p in probs]
        j = int(np.argmax(scores))
        counts[j] += 1
        total += probs[j]
        if scores[j] > best_acc:
            best_acc, best_counts = scores[j], list(counts)
    return best_counts


def error_correlation(probs: list[np.ndarray], labels: np.ndarray) -> list[list[float | None]]:
    """Pearson correlation between members' 0/1 error vectors on validation (None when a member
    is always right or always wrong, so the correlation is undefined)."""
    errs = [(p.argmax(axis=1) != labels).astype(np.float64) for p in probs]
    out: list[list[float | None]] = []
    for a in errs:
        row: list[float | None] = []
        for b in errs:
            if a.std() == 0 or b.std() == 0:
                row.append(None)
            else:
                row.append(round(float(np.corrcoef(a, b)[0, 1]), 4))
        out.append(row)
    return out


# -- members from the workspace ---------------------------------------------------------------
def parse_member(spec: str) -> tuple[str, str]:
    """`RUN_ID` or `RUN_ID:CKPT` (best, last or an epoch number) -> (run, checkpoint)."""
    run, _, ckpt = spec.partition(":")
    ckpt = ckpt or "best"
    if not run or not (ckpt in ("best", "last") or ckpt.isdigit()):
        raise UserError(spec, "write a member as RUN_ID or RUN_ID:CHECKPOINT (best, last or an epoch number)")
    return run, ckpt


def _tag_to_checkpoint(tag: str) -> str:
    return str(int(tag[5:])) if tag.startswith("epoch") and tag[5:].isdigit() else tag


def top_runs(ws: Workspace, k: int) -> list[tuple[str, str]]:
    """The k runs with the best validation accuracy, each with its best checkpoint."""
    with ws.store() as store:
        runs = [r for r in store.list_runs() if r["best_val_acc"] is not None
                and store.list_checkpoints(r["id"])]
    if not runs:
        raise UserError(ws.root, "no run with a checkpoint and a validation accuracy yet "
                                 "(train one: `kagglebench train fast`)")
    runs.sort(key=lambda r: r["best_val_acc"], reverse=True)
    return [(r["id"], "best") for r in runs[:k]]


def top_checkpoints(ws: Workspace, k: int) -> list[tuple[str, str]]:
    """The k kept checkpoints with the best validation accuracy across all runs (greedy's pool)."""
    with ws.store() as store:
        rows = [c for c in store.list_checkpoints() if c["val_acc"] is not None]
    seen: dict[tuple[str, int], dict] = {}
    for c in rows:  # `last` duplicates the epoch checkpoint of the same epoch: keep one
        key = (c["run_id"], c["epoch"])
        if key not in seen or seen[key]["tag"] == "last":
            seen[key] = c
    best = sorted(seen.values(), key=lambda c: c["val_acc"], reverse=True)[:k]
    if not best:
        raise UserError(ws.root, "no checkpoint with a validation accuracy yet (train a run first)")
    return [(c["run_id"], _tag_to_checkpoint(c["tag"])) for c in best]


def _logits(ws: Workspace, run: str, ckpt: str, split: str) -> np.ndarray:
    from kagglebench.evaluate import cache

    which: str | int = int(ckpt) if ckpt.isdigit() else ckpt
    return np.asarray(cache.logits(ws, run, checkpoint=which, split=split), dtype=np.float32)


def _labels(ws: Workspace, run: str, split: str) -> np.ndarray | None:
    from kagglebench.evaluate import cache

    y = cache.labels(ws, run, split)
    return None if y is None else np.asarray(y)


def _shared_labels(ws: Workspace, pairs: list[tuple[str, str]], split: str) -> np.ndarray | None:
    ys = [_labels(ws, run, split) for run, _ in pairs]
    if any(y is None for y in ys):
        return None
    if any(len(y) != len(ys[0]) or not np.array_equal(y, ys[0]) for y in ys[1:]):
        if split == "val":
            raise UserError(", ".join(r for r, _ in pairs), "these runs were validated on different "
                            "splits (data.val_fraction or data.split_seed differ), so their validation "
                            "predictions cannot be combined; pick runs that share a split")
        return None
    return ys[0]


def build(ws: Workspace, pairs: list[tuple[str, str]], *, method: str = "mean", temperature: bool = False,
          ood: bool = True) -> Ensemble:
    """Combine `pairs` [(run, checkpoint)] into an ensemble, reporting validation and OOD accuracy.

    `method="greedy"` treats `pairs` as the candidate pool and keeps the members Caruana
    selection picks, weighted by their counts; "mean" weights all pairs equally.
    """
    if method not in METHODS:
        raise UserError(f"--method {method}", f"choose one of {', '.join(METHODS)}")
    pairs = list(dict.fromkeys(pairs))
    y = _shared_labels(ws, pairs, "val")
    if y is None:
        raise UserError(pairs[0][0], "no validation labels for this run (it has no validation split)")
    val_logits = [_logits(ws, r, c, "val") for r, c in pairs]
    temps = [fit_temperature(z, y) if temperature else 1.0 for z in val_logits]
    val_probs = [softmax(z, t) for z, t in zip(val_logits, temps)]
    counts = greedy_select(val_probs, y) if method == "greedy" else [1] * len(pairs)
    keep = [i for i, c in enumerate(counts) if c > 0]
    members = [Member(pairs[i][0], pairs[i][1], weight=counts[i] / sum(counts), temperature=round(temps[i], 4),
                      val_acc=accuracy(val_probs[i], y)) for i in keep]
    probs = [val_probs[i] for i in keep]
    ens = Ensemble(members, method, val_acc=accuracy(combine(probs, [m.weight for m in members]), y),
                   error_correlation=error_correlation(probs, y))
    if ood:
        _add_ood(ws, ens)
    return ens


def _add_ood(ws: Workspace, ens: Ensemble) -> None:
    """Each member's and the ensemble's local OOD estimate (None when members' suites differ)."""
    pairs = [(m.run, m.checkpoint) for m in ens.members]
    y = _shared_labels(ws, pairs, "ood")
    if y is None:
        return
    probs = [softmax(_logits(ws, m.run, m.checkpoint, "ood"), m.temperature) for m in ens.members]
    if any(len(p) != len(y) for p in probs):
        return
    for m, p in zip(ens.members, probs):
        m.ood_acc = accuracy(p, y)
    combined = combine(probs, [m.weight for m in ens.members])
    ens.ood_acc = accuracy(combined, y)
    from kagglebench.evaluate import intervals, ood

    blocks = len(ood.suite())      # the rows are blocks of the same base images (evaluate/ood.py)
    if len(y) % blocks == 0:
        ens.ood_ci = list(intervals.accuracy_ci(combined.argmax(axis=1) == y, blocks=blocks))


def val_correct(ws: Workspace, ens: Ensemble) -> np.ndarray:
    """Per validation image, whether the ensemble is right (for paired comparisons)."""
    pairs = [(m.run, m.checkpoint) for m in ens.members]
    y = _shared_labels(ws, pairs, "val")
    probs = [softmax(_logits(ws, m.run, m.checkpoint, "val"), m.temperature) for m in ens.members]
    return combine(probs, [m.weight for m in ens.members]).argmax(axis=1) == y


def predict_test(ws: Workspace, ens: Ensemble) -> np.ndarray:
    """Class index per test image in submission order, from the members' cached test logits."""
    acc: np.ndarray | None = None
    for m in ens.members:
        p = softmax(_logits(ws, m.run, m.checkpoint, "test"), m.temperature) * m.weight
        acc = p if acc is None else acc + p
    return acc.argmax(axis=1)


def write_csv(ws: Workspace, ens: Ensemble, path: str | Path) -> Path:
    """The ensemble's test predictions as the competition's submission CSV (atomic write)."""
    from kagglebench.kaggle.formats import write_submission

    out = write_submission(path, ws, predict_test(ws, ens))
    ens.out = str(out)
    return out


def from_request(ws: Workspace, *, top: int | None = None, specs: list[str] | None = None,
                 method: str = "mean", temperature: bool = False, ood: bool = True) -> Ensemble:
    """What `kagglebench ensemble` and `submit --ensemble` ask for: --top K or explicit specs."""
    if specs:
        pairs = [parse_member(s) for s in specs]
        with ws.store() as store:
            for run, _ in pairs:
                store.require_run(run)
    elif top:
        if top < 1:
            raise UserError(f"--top {top}", "K must be at least 1")
        # greedy chooses among checkpoints; "mean" averages the K best runs
        pairs = top_checkpoints(ws, max(top, 2 * top)) if method == "greedy" else top_runs(ws, top)
    else:
        raise UserError("ensemble", "say which members: --top K or one or more RUN_ID[:CHECKPOINT]")
    return build(ws, pairs, method=method, temperature=temperature, ood=ood)
