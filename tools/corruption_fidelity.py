"""Measure kagglebench's corruptions against the original generator; rewrite docs/CORRUPTIONS.md's table.

    PYTHONPATH=src:. python tools/corruption_fidelity.py [N_TEST_IMAGES]

Runs tests/data/corruption_fidelity.measure (600 held-out digits by default: about 25 minutes
on one busy core, most of it the original's per-pixel Python loop in glass blur) and replaces
the text between the fidelity markers of docs/CORRUPTIONS.md with the measured figures.
Needs ImageMagick's library for the original's motion blur (`make test` installs it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.data.corruption_fidelity import DETERMINISTIC, TEST_IMAGES, measure, per_corruption  # noqa: E402

DOC = ROOT / "docs/CORRUPTIONS.md"
BEGIN, END = "<!-- fidelity:begin -->", "<!-- fidelity:end -->"


def table(clean: float, cells, n: int, seconds: float) -> str:
    gaps = np.array([abs(c.gap) for c in cells])
    floors = np.array([abs(c.floor) for c in cells])
    rand = np.array([c.name not in DETERMINISTIC for c in cells])
    worst = max(per_corruption(cells).items(), key=lambda kv: kv[1][0])
    lines = [
        f"Measured by `tools/corruption_fidelity.py` on {n} held-out digits (clean accuracy "
        f"{clean:.1f}%), {seconds / 60:.0f} minutes.",
        "",
        f"- mean |gap| over the 95 cells: **{gaps.mean():.2f}** points; noise floor (mean |floor|): "
        f"**{floors.mean():.2f}** points",
        f"- over the 55 cells of random corruptions only: |gap| {gaps[rand].mean():.2f}, "
        f"|floor| {floors[rand].mean():.2f}",
        f"- largest per-corruption mean |gap|: {worst[0]} {worst[1][0]:.2f} points "
        f"(its own floor {worst[1][1]:.2f}); largest single cell |gap|: {gaps.max():.1f} "
        f"(largest single cell |floor|: {floors.max():.1f})",
        "",
        "| corruption | severity | acc kagglebench | acc original | acc original, seed 1 | gap | floor "
        "| mean kb / orig | spread kb / orig | bytes identical |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        same = f"{c.identical * 100:.1f}%" if c.name in DETERMINISTIC else "(random)"
        lines.append(
            f"| {c.name} | {c.severity} | {c.acc_kb:.1f} | {c.acc_ref:.1f} | {c.acc_ref2:.1f} | "
            f"{c.gap:+.1f} | {c.floor:+.1f} | {c.mean_kb:.1f} / {c.mean_ref:.1f} | "
            f"{c.spread_kb:.1f} / {c.spread_ref:.1f} | {same} |")
    lines += ["", "Per corruption (mean over the five severities):", "",
              "| corruption | mean abs gap | mean abs floor |", "|---|---|---|"]
    for name, (gap, floor) in per_corruption(cells).items():
        lines.append(f"| {name} | {gap:.2f} | {floor:.2f} |")
    return "\n".join(lines)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else TEST_IMAGES
    start = time.time()
    clean, cells = measure(n, log=lambda s: print(s, flush=True))
    text = table(clean, cells, n, time.time() - start)
    doc = DOC.read_text()
    head, rest = doc.split(BEGIN)
    _, tail = rest.split(END)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    print(text)


if __name__ == "__main__":
    main()
