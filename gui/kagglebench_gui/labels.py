"""How a run is named and coloured everywhere in the app: id plus what it changed, a
colour that comes from its id (the same every time the app opens), and one format for
accuracies and scores."""

from __future__ import annotations

import zlib

from kagglebench_gui.wsinfo import short_changes

# Distinguishable on light and dark backgrounds (Tableau 10 and its darker pairs).
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd"]


def run_colour(run_id: str) -> str:
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]


def run_label(run: dict, *, changes: bool = True) -> str:
    """`name · id · lr=0.05` (the name only when it is not the id; changes when any)."""
    name, rid = run.get("name") or run["id"], run["id"]
    parts = [rid] if name == rid else [name, rid]
    if changes and run.get("changes"):
        parts.append(short_changes(run["changes"]))
    return " · ".join(parts)


def run_study(run: dict) -> str | None:
    """The Optuna study a run is a trial of (`kagglebench tune` records it), if any."""
    if run.get("study"):
        return str(run["study"])
    for t in run.get("tags") or []:
        if t.startswith("study:"):
            return t.split(":", 1)[1]
    return None


def fmt_pct(v: float | None, digits: int = 2) -> str:
    """Accuracies and accuracy-like scores, one format in every table: 97.80%."""
    return "—" if v is None else f"{100 * v:.{digits}f}%"
