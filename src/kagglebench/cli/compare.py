"""`kagglebench compare RUN_A RUN_B`: is B really better than A? A paired test on the same images."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from kagglebench.cli.eval import add_ood_options

    p = sub.add_parser(
        "compare", parents=[common], help="is run B really better than run A? (paired test)",
        description="Score two checkpoints on the same images and test the difference image by image: "
                    "the accuracy of each with its 95% interval, the difference B - A with its interval "
                    "and p-value, a verdict (B better, A better, or cannot tell), and how many images a "
                    "difference of that size would take to detect. With --ood the images are the "
                    "corruption suite's (the local estimate of a corrupted leaderboard), paired per "
                    "base image. Logits come from the cache, so comparing evaluated runs is instant.")
    p.add_argument("run_a", metavar="RUN_A", help="the baseline: RUN_ID or RUN_ID:CHECKPOINT (best, last, N)")
    p.add_argument("run_b", metavar="RUN_B", help="the challenger: RUN_ID or RUN_ID:CHECKPOINT")
    p.add_argument("--ood", action="store_true", help="compare the local OOD estimates instead of clean accuracy")
    p.add_argument("--split", default="val", choices=["val", "test"],
                   help="the validation split (default) or the profile's labelled test split")
    p.add_argument("--tta", default=None, choices=["none", "flip", "flip-shift"],
                   help="test-time augmentation for both (default: each run's recipe setting)")
    p.add_argument("--device", default=None, metavar="DEV", help="cpu or cuda (default: cuda when available)")
    add_ood_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the verdict")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.evaluate.compare import compare_runs, format_result
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    result = compare_runs(ws, args.run_a, args.run_b, with_ood=args.ood, split=args.split, tta=args.tta,
                          ood_samples=args.ood_samples, ood_seed=args.ood_seed, device=args.device)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_result(result))
    return 0
