"""`kagglebench eval` as a function: clean metrics, optional TTA and OOD suite, stored in the run store.

`evaluate_run` computes (or reads cached) logits for the validation split, the profile's
labelled test split when it has one, and with `ood=True` the corruption suite; it stores
one `evals` row (which also sets `runs.ood_acc`) and returns the JSON document that
`kagglebench eval --json` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.errors import UserError
from kagglebench.evaluate import intervals, metrics, ood
from kagglebench.evaluate.cache import CheckpointLogits

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def _classes(ck: CheckpointLogits, n: int) -> list[str]:
    names = ck.run.classes
    return names if len(names) == n else [str(i) for i in range(n)]


def _split_metrics(ck: CheckpointLogits, split: str, mode: str) -> dict[str, Any] | None:
    try:
        src = ck.source(split)
    except UserError:
        if split == "val":
            raise
        return None               # e.g. no labelled test split in this profile
    logits = ck.logits(split, mode)
    out = metrics.summarize(logits, src.labels, logits.shape[1])
    out["ci"] = list(intervals.accuracy_ci(np.asarray(logits).argmax(axis=1) == src.labels))
    return out


SPLITS = ("val", "test")   # what `eval --split` estimates on: the validation split or the labelled test split


def ood_table(ck: CheckpointLogits, tta: str, ood_samples: int | None, ood_seed: int,
              split: str = "val") -> dict[str, Any]:
    """The corruption suite's table (ood.table, with its interval) over `split`'s images."""
    if ood_samples is not None and ood_samples < 1:
        raise UserError(f"--ood-samples {ood_samples}", "must be at least 1")
    name = "ood" if split == "val" else "ood_test"
    src = ck.source(name, ood_samples, ood_seed)
    n = src.n // len(ood.suite())
    logits = ck.logits(name, tta, ood_samples=ood_samples, ood_seed=ood_seed)
    table = ood.table(logits, src.labels, ood.index(n))
    table["seed"] = ood_seed
    table["split"] = split
    return table


def evaluate_run(ws: Workspace, run_id: str, *, checkpoint: str | int = "best", tta: str | None = "none",
                 with_ood: bool = False, ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED,
                 device: str | None = None, store: bool = True,
                 ck: CheckpointLogits | None = None, split: str = "val") -> dict[str, Any]:
    """Evaluate one checkpoint; returns {"run", "checkpoint", "val_acc", "val_ci", "val_top5", "ece",
    "nll", "ood_acc", "ood_ci", "ood", "labelled_test", "details", ...}. `ck` reuses an open
    CheckpointLogits; `tta=None` is the run's own default (its recipe's data.tta). `split="test"`
    runs the OOD suite on the profile's labelled test split instead of the validation split
    (UserError when the profile has none)."""
    if split not in SPLITS:
        raise UserError(f"--split {split}", f"choose one of {', '.join(SPLITS)}")
    ck = ck or CheckpointLogits(ws, run_id, checkpoint, device)
    tta = tta or ck.run.tta
    val = _split_metrics(ck, "val", tta)
    test = _split_metrics(ck, "labelled_test", tta)
    if split == "test" and test is None:
        raise UserError(f"--split test ({run_id})", f"the competition's profile ({ws.profile.name}) has no "
                        "labelled test split; estimate on the validation split (--split val)")
    table = ood_table(ck, tta, ood_samples, ood_seed, split) if with_ood else None
    details = {
        "classes": _classes(ck, len(val["per_class"])),
        "val": val,
        "labelled_test": test,
        "ood": table,
        "forward_passes": ck.forward_passes,
        "checkpoint_file": str(ck.path),
    }
    result = {
        "run": run_id,
        "checkpoint": ck.tag,
        "tta": tta,
        "split": split,
        "val_acc": val["acc"],
        "val_ci": val["ci"],
        "val_top5": val["top5"],
        "nll": val["nll"],
        "ece": val["ece"],
        "val_n": val["n"],
        "test_acc": test["acc"] if test else None,
        "test_ci": test["ci"] if test else None,
        "ood_acc": table["ood_acc"] if table else None,
        "ood_ci": table["ood_ci"] if table else None,
        "ood": table["ood"] if table else None,
        "ood_by_severity": table["by_severity"] if table else None,
        "ood_samples": table["samples"] if table else None,
    }
    if store:
        with ws.store() as st:
            result["eval_id"] = st.add_eval(
                run_id, ck.tag, tta, details=details, val_acc=result["val_acc"],
                val_top5=result["val_top5"], nll=result["nll"], ece=result["ece"],
                # runs.ood_acc stays the validation-based estimate, so runs remain comparable
                ood_acc=result["ood_acc"] if split == "val" else None)
    result["details"] = details
    return result


def format_table(result: dict[str, Any]) -> str:
    """The human-readable summary `kagglebench eval` prints."""
    d = result["details"]
    lines = [f"run {result['run']}  checkpoint {result['checkpoint']}  tta {result['tta']}",
             f"{'split':<16}{'n':>8}{'top-1':>9}{'95% interval':>15}{'top-5':>9}{'NLL':>9}{'ECE':>8}"]
    for name in ("val", "labelled_test"):
        m = d.get(name)
        if m:
            lines.append(f"{name:<16}{m['n']:>8}{m['acc']:>9.2%}{intervals.fmt_ci(m.get('ci')):>15}"
                         f"{m['top5']:>9.2%}{m['nll']:>9.3f}{m['ece']:>8.3f}")
    pc = [(a, c) for a, c in zip(d["val"]["per_class"], d["classes"]) if a is not None]
    if pc:
        worst = sorted(pc)[:3]
        lines.append("weakest classes: " + ", ".join(f"{c} {a:.0%}" for a, c in worst))
    t = d.get("ood")
    if t:
        lines.append("")
        where = "labelled test" if t.get("split") == "test" else "validation"
        lines.append(f"local OOD estimate ({t['samples']} {where} images x {len(t['ood'])} corruptions"
                     " x 5 severities)")
        lines.append(f"{'corruption':<20}" + "".join(f"{'s' + str(s):>7}" for s in range(1, 6)) + f"{'mean':>8}")
        for c, row in t["ood"].items():
            lines.append(f"{c:<20}" + "".join(f"{row[str(s)]:>7.1%}" for s in range(1, 6))
                         + f"{t['by_corruption'][c]:>8.1%}")
        lines.append(f"{'mean':<20}" + "".join(f"{t['by_severity'][str(s)]:>7.1%}" for s in range(1, 6))
                     + f"{t['ood_acc']:>8.1%}")
        clean = d["labelled_test"] if t.get("split") == "test" else d["val"]
        lines.append(f"clean {clean['acc']:.2%} {intervals.fmt_ci(clean.get('ci'))} -> OOD {t['ood_acc']:.2%} "
                     f"{intervals.fmt_ci(t.get('ood_ci'))} (95% intervals over the {t['samples']} base images; "
                     "the local stand-in for a corrupted leaderboard test set)")
    return "\n".join(lines)
