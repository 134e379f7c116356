"""`kagglebench report RUN_ID`: plots of a run and a markdown summary in runs/<id>/report/."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from kagglebench.cli.eval import add_checkpoint_options

    p = sub.add_parser(
        "report", parents=[common], help="write plots and a summary of a run (runs/<id>/report/)",
        description="Write PNG plots of a run into runs/<id>/report/: loss and accuracy curves, "
                    "learning-rate schedule, confusion matrix, per-class accuracy, the OOD accuracy "
                    "heat map (after `kagglebench eval RUN_ID --ood`) and a grid of validation "
                    "images with true and predicted labels, plus report.md linking them.")
    p.add_argument("run_id", metavar="RUN_ID", help="the run to report on (see `kagglebench runs`)")
    add_checkpoint_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.evaluate.report import write_report
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    result = write_report(ws, args.run_id, checkpoint=args.checkpoint, tta=args.tta,
                          device=args.device)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"wrote {result['report']} and {len(result['files'])} plots in {result['dir']}")
    return 0
