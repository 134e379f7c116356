"""Classification metrics on logits: top-k accuracy, per-class accuracy, confusion matrix, NLL, ECE.

Pure numpy on (N, C) logits and (N,) integer labels, so the ensemble code and the
report can call them on cached float16 logits without torch. Softmax is computed in
float64: float16 logits of a confident model would otherwise overflow in exp().
"""

from __future__ import annotations

from typing import Any

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the k highest logits (k capped at C)."""
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    k = min(k, logits.shape[1])
    if k == 1:
        return float((logits.argmax(axis=1) == labels).mean())
    top = np.argpartition(-logits.astype(np.float32), k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix; NaN for classes absent from the labels."""
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (the cross-entropy loss)."""
    lp = log_softmax(logits)
    return float(-lp[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)].mean())


def ece(logits: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: the confidence-weighted gap between confidence and accuracy,
    over equal-width confidence bins (Guo et al. 2017, 15 bins)."""
    p = softmax(logits)
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def summarize(logits: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> dict[str, Any]:
    """Every clean metric at once, JSON-ready: acc, top5, nll, ece, per_class, confusion."""
    logits = np.asarray(logits, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    c = num_classes or logits.shape[1]
    cm = confusion_matrix(labels, logits.argmax(axis=1), c)
    pca = per_class_accuracy(cm)
    return {
        "n": len(labels),
        "acc": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
        "nll": nll(logits, labels),
        "ece": ece(logits, labels),
        "per_class": [None if np.isnan(v) else float(v) for v in pca],
        "confusion": cm.tolist(),
    }
