"""`kagglebench compare` as a function: is run B really better than run A?

Both checkpoints are scored on the *same* images (the validation split, the labelled test
split, or the corruption suite over either), read from the logits cache, and compared per
base image with `intervals.paired`: the verdict, the interval of the difference, a p-value,
and how many base images a difference of this size would need to be detected.
Runs that were validated on different images cannot be paired: that is an error, not a
silent unpaired comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.errors import UserError
from kagglebench.evaluate import intervals, ood
from kagglebench.evaluate.cache import CheckpointLogits

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def _side(ck: CheckpointLogits, name: str, tta: str, ood_samples: int | None, ood_seed: int
          ) -> tuple[Any, np.ndarray]:
    src = ck.source(name, ood_samples, ood_seed)
    logits = np.asarray(ck.logits(name, tta, ood_samples=ood_samples, ood_seed=ood_seed))
    blocks = len(ood.suite()) if name.startswith("ood") else 1
    return src, intervals.per_image(logits.argmax(axis=1) == src.labels, blocks)


def compare_runs(ws: Workspace, spec_a: str, spec_b: str, *, with_ood: bool = False, split: str = "val",
                 tta: str | None = None, ood_samples: int | None = None, ood_seed: int = ood.DEFAULT_SEED,
                 device: str | None = None) -> dict[str, Any]:
    """Paired comparison of two checkpoints (`RUN_ID[:CHECKPOINT]`); returns the JSON document of
    `kagglebench compare --json`."""
    from kagglebench.ensemble import parse_member

    if split not in ("val", "test"):
        raise UserError(f"--split {split}", "choose val or test")
    if ood_samples is not None and ood_samples < 1:
        raise UserError(f"--ood-samples {ood_samples}", "must be at least 1")
    name = {("val", False): "val", ("test", False): "labelled_test",
            ("val", True): "ood", ("test", True): "ood_test"}[(split, with_ood)]
    sides = []
    for spec in (spec_a, spec_b):
        run, checkpoint = parse_member(spec)
        ck = CheckpointLogits(ws, run, checkpoint, device)
        mode = tta or ck.run.tta              # the run's own default (data.tta)
        src, scores = _side(ck, name, mode, ood_samples, ood_seed)
        sides.append((ck, mode, src, scores))
    (ck_a, tta_a, src_a, a), (ck_b, tta_b, src_b, b) = sides
    if src_a.digest != src_b.digest or not np.array_equal(src_a.labels, src_b.labels):
        raise UserError(f"{spec_a} vs {spec_b}", "the two runs were evaluated on different images (their "
                        "data.val_fraction, data.split_seed or data.classes differ), so they cannot be "
                        "compared image by image; compare runs that share a validation split")
    result = intervals.paired(a, b)
    available = _available(ck_a, split)
    result.update({
        "metric": "ood_acc" if with_ood else ("val_acc" if split == "val" else "test_acc"),
        "split": split,
        "a": {"run": ck_a.run_id, "checkpoint": ck_a.tag, "tta": tta_a, "acc": result["a"],
              "ci": list(intervals.bootstrap_ci(a))},
        "b": {"run": ck_b.run_id, "checkpoint": ck_b.tag, "tta": tta_b, "acc": result["b"],
              "ci": list(intervals.bootstrap_ci(b))},
        "images_available": available,
        "ood_seed": ood_seed if with_ood else None,
    })
    return result


def _available(ck: CheckpointLogits, split: str) -> int:
    """Base images the split holds (the most a larger --ood-samples could use)."""
    return ck.source("val" if split == "val" else "labelled_test").n


def format_result(r: dict[str, Any]) -> str:
    """The verdict `kagglebench compare` prints."""
    what = {"ood_acc": "local OOD estimate", "val_acc": "validation accuracy", "test_acc": "labelled test accuracy"}
    images = ("base images (each under 19 corruptions x 5 severities)" if r["metric"] == "ood_acc"
              else f"{'validation' if r['split'] == 'val' else 'labelled test'} images")
    lines = [f"{what[r['metric']]}, paired on the same {r['n']} {images}"]
    for k in ("a", "b"):
        s = r[k]
        lines.append(f"  {k.upper()} {s['run']} ({s['checkpoint']}, tta {s['tta']}): {s['acc']:.2%} "
                     f"{intervals.fmt_ci(s['ci'])}")
    lo, hi = r["diff_ci"]
    lines.append(f"  B - A = {r['diff'] * 100:+.2f} points, 95% interval [{lo * 100:+.2f}, {hi * 100:+.2f}], "
                 f"p = {r['p_value']:.3g}")
    need, have = r["images_needed"], r["images_available"]
    if r["verdict"] == "B better":
        lines.append("verdict: B is better than A (the interval of the difference excludes zero)")
    elif r["verdict"] == "A better":
        lines.append("verdict: A is better than B (the interval of the difference excludes zero)")
    elif r["identical"]:
        lines.append("verdict: cannot tell: the two are right and wrong on exactly the same images")
    elif need is None:
        lines.append("verdict: cannot tell: each is right where the other is wrong equally often; "
                     "on these images there is no difference for more images to detect")
    else:
        more = f"{need:,} base images" + ("" if need <= r["n"] else f" ({need - r['n']:,} more than used)")
        where = "validation split (data.val_fraction)" if r["split"] == "val" else "labelled test split"
        tail = "" if need <= have else f"; the split holds only {have:,}: only a larger {where} could tell"
        how = " (raise --ood-samples)" if r["metric"] == "ood_acc" and r["n"] < min(need, have) else ""
        lines.append(f"verdict: cannot tell. A difference of {abs(r['diff']) * 100:.2f} points with this spread "
                     f"would take about {more} to detect 80% of the time{how}{tail}")
    return "\n".join(lines)
