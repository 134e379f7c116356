"""`kagglebench eval RUN_ID`: accuracy, calibration and the local OOD estimate of a checkpoint."""

from __future__ import annotations

import argparse
import json
import sys


def add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    """--checkpoint and --tta, shared by eval, predict and report. A missing --tta leaves
    args.tta None: the command then uses the run's recipe (`Run.tta`)."""
    from kagglebench.evaluate.tta import MODES

    p.add_argument("--checkpoint", default="best", metavar="best|last|N",
                   help="which checkpoint: best (highest validation score, default), last, "
                        "or an epoch number")
    p.add_argument("--tta", default=None, choices=list(MODES),
                   help="test-time augmentation: average the logits of mirrored (flip) and also "
                        "one-pixel-shifted (flip-shift) copies of each image (default "
                        "the run's recipe setting data.tta, which is none unless the recipe "
                        "says otherwise, e.g. flip-shift for the fast recipe)")
    p.add_argument("--device", default=None, metavar="DEV",
                   help="cpu or cuda (default: cuda when available)")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "eval", parents=[common], help="measure a trained run: accuracy, calibration, OOD estimate",
        description="Evaluate a checkpoint of a run on its own validation split (and the "
                    "competition's labelled test split, if it has one): top-1 and top-5 accuracy, "
                    "per-class accuracy, confusion matrix, negative log-likelihood and calibration "
                    "error (ECE). With --ood, also corrupt validation images 19 ways at 5 "
                    "severities and report the accuracy: a local estimate of a leaderboard that "
                    "scores corrupted images. Every accuracy comes with a 95% interval (a bootstrap "
                    "over the base images). Results are stored with the run; logits are cached, "
                    "so repeating an evaluation is instant.")
    p.add_argument("run_id", metavar="RUN_ID", help="the run to evaluate (see `kagglebench runs`)")
    add_checkpoint_options(p)
    p.add_argument("--ood", action="store_true",
                   help="also run the corruption suite (the local out-of-distribution estimate)")
    add_ood_options(p)
    p.add_argument("--split", default="val", choices=["val", "test"],
                   help="the images the OOD estimate corrupts: the run's validation split (default) or "
                        "the profile's labelled test split (where it has one), to see how far "
                        "validation-based and test-based estimates differ")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(func=run)


def add_ood_options(p: argparse.ArgumentParser) -> None:
    """--ood-samples and --ood-seed, shared by eval and compare."""
    p.add_argument("--ood-samples", type=int, default=None, metavar="N",
                   help="base images to corrupt (default: the whole split on a GPU, 200 on a CPU: about "
                        "a minute for a small model, enough to state a 95%% interval, not to make it small; "
                        "the interval narrows as 1/sqrt(N))")
    p.add_argument("--ood-seed", type=int, default=0, metavar="S",
                   help="seed of the image subset and the corruptions (default 0)")


def run(args: argparse.Namespace) -> int:
    from kagglebench.evaluate.runner import evaluate_run, format_table
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    result = evaluate_run(ws, args.run_id, checkpoint=args.checkpoint, tta=args.tta, with_ood=args.ood,
                          ood_samples=args.ood_samples, ood_seed=args.ood_seed, device=args.device,
                          split=args.split)
    if args.json:
        out = {k: v for k, v in result.items() if k != "details"}
        out["per_class"] = result["details"]["val"]["per_class"]
        out["classes"] = result["details"]["classes"]
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_table(result))
    return 0
