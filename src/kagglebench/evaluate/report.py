"""`kagglebench report`: PNG plots of a run and a short report.md linking them (matplotlib, Agg).

Plots: loss and accuracy curves and the learning-rate schedule (from the store's metric
rows), confusion matrix and per-class accuracy (from the cached validation logits), the
OOD accuracy heat map (corruption x severity, from the latest `eval --ood` of the run), and
a grid of validation images with true and predicted labels (green right, red wrong).
Figures are built with matplotlib.figure.Figure, never pyplot, so no GUI backend or global
state is touched; every file is written to a temporary name and renamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.atomic import replacing, write_text
from kagglebench.evaluate.cache import CheckpointLogits
from kagglebench.evaluate.runner import evaluate_run

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    with replacing(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


def _series(rows: list[dict], key: str, x: str) -> tuple[list, list]:
    pts = [(r[x], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_curves(step_rows: list[dict], epoch_rows: list[dict], out: Path) -> Path | None:
    if not step_rows and not epoch_rows:
        return None
    fig = _figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for rows, key, label, style in ((step_rows, "train_loss", "train (steps)", {"alpha": 0.35, "lw": 0.8}),
                                    (epoch_rows, "train_loss", "train", {"marker": "o"}),
                                    (epoch_rows, "val_loss", "validation", {"marker": "o"})):
        xs, ys = _series(rows, key, "epoch")
        if xs:
            ax_loss.plot(xs, ys, label=label, **style)
    for key, label in (("train_acc", "train"), ("val_acc", "validation")):
        xs, ys = _series(epoch_rows, key, "epoch")
        if xs:
            ax_acc.plot(xs, [100 * y for y in ys], marker="o", label=label)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="%")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return _save(fig, out)


def plot_lr(step_rows: list[dict], epoch_rows: list[dict], out: Path) -> Path | None:
    rows = step_rows if any(r.get("lr") is not None for r in step_rows) else epoch_rows
    xs, ys = _series(rows, "lr", "step")
    if not xs:
        return None
    fig = _figure(6, 3.5)
    ax = fig.subplots()
    ax.plot(xs, ys)
    ax.set(title="Learning-rate schedule", xlabel="optimizer step", ylabel="learning rate")
    ax.grid(alpha=0.3)
    return _save(fig, out)


def plot_confusion(cm: np.ndarray, classes: list[str], out: Path) -> Path:
    n = len(classes)
    size = min(14.0, 3 + 0.35 * n)
    fig = _figure(size, size * 0.9)
    ax = fig.subplots()
    rows = cm.sum(axis=1, keepdims=True)
    im = ax.imshow(cm / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
    if n <= 30:  # beyond that, tick labels are unreadable
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
    ax.set(title="Confusion matrix (validation)", xlabel="predicted", ylabel="true")
    return _save(fig, out)


def plot_per_class(acc: list[float | None], classes: list[str], out: Path) -> Path:
    vals = np.array([np.nan if a is None else 100 * a for a in acc])
    order = np.argsort(np.nan_to_num(vals, nan=-1))
    fig = _figure(max(6.0, 0.18 * len(vals) + 2), 4)
    ax = fig.subplots()
    ax.bar(range(len(vals)), vals[order], color="tab:blue")
    if len(vals) <= 40:
        ax.set_xticks(range(len(vals)), [classes[i] for i in order], rotation=90, fontsize=7)
    ax.axhline(np.nanmean(vals), color="tab:red", lw=1, label=f"mean {np.nanmean(vals):.1f}%")
    ax.set(title="Per-class accuracy (validation), weakest first", ylabel="%", ylim=(0, 100))
    ax.legend()
    return _save(fig, out)


def plot_ood(table: dict[str, dict[str, float]], out: Path, clean: float | None = None) -> Path:
    """Heat map; the colour scale tops out at the clean accuracy, so red means "lost to the corruption"."""
    names = list(table)
    grid = np.array([[100 * table[c][str(s)] for s in range(1, 6)] for c in names])
    fig = _figure(6, 0.32 * len(names) + 1.8)
    ax = fig.subplots()
    top = max(1.0, float(grid.max()), 100 * (clean or 0.0))
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=top, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(5), [str(s) for s in range(1, 6)])
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(title="OOD accuracy (%) by corruption and severity", xlabel="severity")
    fig.colorbar(im, ax=ax, label="%")
    return _save(fig, out)


def plot_samples(images: np.ndarray, labels: np.ndarray, preds: np.ndarray, classes: list[str],
                 out: Path, count: int = 32, seed: int = 0) -> Path:
    pick = np.sort(np.random.default_rng(seed).choice(len(images), size=min(count, len(images)),
                                                      replace=False))
    cols = 8
    rows = int(np.ceil(len(pick) / cols))
    fig = _figure(cols * 1.5, rows * 1.75)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, pick):
        ok = preds[i] == labels[i]
        ax.imshow(images[i], interpolation="nearest")
        ax.set_title(f"{classes[labels[i]]}\n→ {classes[preds[i]]}", fontsize=7,
                     color="green" if ok else "red")
    fig.suptitle("Validation samples: true → predicted (green right, red wrong)")
    return _save(fig, out)


def _latest_ood(ws: Workspace, run_id: str, tag: str) -> dict | None:
    with ws.store() as st:
        evals = [e for e in st.list_evals(run_id) if (e["details"] or {}).get("ood")]
    same = [e for e in evals if e["checkpoint"] == tag]
    pick = (same or evals)[-1] if evals else None
    return {**pick["details"]["ood"], "checkpoint": pick["checkpoint"]} if pick else None


def write_report(ws: Workspace, run_id: str, *, checkpoint: str | int = "best", tta: str | None = "none",
                 device: str | None = None) -> dict[str, Any]:
    """Write runs/<id>/report/*.png and report.md; returns {"dir", "files", "report"}."""
    import matplotlib

    matplotlib.use("Agg")
    ck = CheckpointLogits(ws, run_id, checkpoint, device)
    tta = tta or ck.run.tta               # None: the run's own default (data.tta)
    run = ck.run.row
    out = ck.run.folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    with ws.store() as st:
        steps = st.metrics_since(run_id, 0, scope="step")
        epochs = st.metrics_since(run_id, 0, scope="epoch")
    ev = evaluate_run(ws, run_id, checkpoint=checkpoint, tta=tta, store=False, ck=ck)
    d = ev["details"]
    classes = d["classes"]
    files: dict[str, Path | None] = {
        "curves": plot_curves(steps, epochs, out / "curves.png"),
        "lr": plot_lr(steps, epochs, out / "lr.png"),
        "confusion": plot_confusion(np.array(d["val"]["confusion"]), classes, out / "confusion.png"),
        "per_class": plot_per_class(d["val"]["per_class"], classes, out / "per_class.png"),
    }
    table = _latest_ood(ws, run_id, ev["checkpoint"])
    files["ood"] = plot_ood(table["ood"], out / "ood.png", ev["val_acc"]) if table else None
    src = ck.source("val")
    preds = ck.logits("val", tta).astype(np.float32).argmax(axis=1)
    files["samples"] = plot_samples(next(iter(src.chunks())), src.labels, preds, classes,
                                    out / "samples.png")
    md = _markdown(run, ev, table, files)
    write_text(out / "report.md", md)
    written = [str(p) for p in files.values() if p]
    return {"run": run_id, "dir": str(out), "files": written, "report": str(out / "report.md")}


def _markdown(run: dict, ev: dict, table: dict | None, files: dict[str, Path | None]) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}%"

    lines = [f"# Run {run['id']} ({run['name']})", "",
             f"Recipe `{run['recipe']}`, status {run['status']}, {run['epoch']} epochs completed.", "",
             f"Checkpoint `{ev['checkpoint']}`, test-time augmentation `{ev['tta']}`.", "",
             "| metric | value |", "|---|---|",
             f"| validation top-1 | {pct(ev['val_acc'])} |", f"| validation top-5 | {pct(ev['val_top5'])} |",
             f"| NLL | {ev['nll']:.3f} |", f"| ECE | {ev['ece']:.3f} |"]
    if ev.get("test_acc") is not None:
        lines.append(f"| labelled test top-1 | {pct(ev['test_acc'])} |")
    if table:
        lines.append(f"| local OOD estimate | {pct(table['ood_acc'])} "
                     f"(checkpoint {table['checkpoint']}, {table['samples']} images per corruption) |")
    lines.append("")
    titles = {"curves": "Loss and accuracy", "lr": "Learning-rate schedule", "confusion": "Confusion matrix",
              "per_class": "Per-class accuracy", "ood": "OOD accuracy by corruption and severity",
              "samples": "Sample predictions"}
    for key, title in titles.items():
        p = files.get(key)
        lines += [f"## {title}", ""]
        if p:
            lines += [f"![{title}]({p.name})", ""]
        elif key == "ood":
            lines += [(f"No OOD evaluation yet: run `kagglebench eval {run['id']} --ood`, then "
                      "`kagglebench report` again."), ""]
        else:
            lines += ["No metric rows recorded for this run.", ""]
    return "\n".join(lines)
