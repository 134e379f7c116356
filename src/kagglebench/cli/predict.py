"""`kagglebench predict RUN_ID`: the test-set predictions as a ready-to-submit CSV."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from kagglebench.cli.eval import add_checkpoint_options

    p = sub.add_parser(
        "predict", parents=[common], help="write the test-set predictions of a run as a submission CSV",
        description="Predict every test image with a checkpoint of a run (through the run's own "
                    "normalization and input size) and write the CSV in the competition's exact "
                    "format: header, ids and their order as the competition expects. The file is "
                    "checked before the command finishes. Default output: "
                    "submissions/<run>-<checkpoint>.csv in the workspace.")
    p.add_argument("run_id", metavar="RUN_ID", help="the run to predict with (see `kagglebench runs`)")
    p.add_argument("--out", metavar="CSV", default=None, help="where to write the CSV")
    add_checkpoint_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.evaluate.predict import predict_run
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    result = predict_run(ws, args.run_id, checkpoint=args.checkpoint, tta=args.tta, out=args.out,
                         device=args.device)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"wrote {result['out']} ({result['rows']:,} rows, checkpoint {result['checkpoint']}, "
          f"tta {result['tta']})")
    if result["local_acc"] is not None:
        print(f"accuracy against the local answer key: {result['local_acc']:.2%}")
    return 0
