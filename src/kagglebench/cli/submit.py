"""`kagglebench submit`: validate a CSV, send it to Kaggle once, and record what made it."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "submit", parents=[common], help="submit predictions to Kaggle and record them",
        description="Write the submission CSV into the workspace's submissions/ folder, check it "
                    "(header, row count, ids and their order, label range) before anything is sent, "
                    "show how many submissions you have left today, then upload it with the official "
                    "Kaggle client and record it: file, checksum, message, the runs and checkpoints "
                    "behind it and their local validation and OOD estimates. Kaggle credentials are "
                    "read the way the kaggle tool reads them (~/.kaggle/kaggle.json, "
                    "KAGGLE_API_TOKEN, or KAGGLE_USERNAME/KAGGLE_KEY). A file Kaggle already has is not "
                    "sent twice (--force overrides); two submits to one competition wait for each other.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ensemble", metavar="topK", help="an ensemble of the K best, e.g. top3 (see --method)")
    what.add_argument("--run", metavar="RUN_ID[:CKPT]", help="one run's predictions")
    what.add_argument("--file", metavar="CSV", help="a CSV you already have")
    p.add_argument("--method", choices=["mean", "greedy"], default="mean",
                   help="with --ensemble: mean averages the K best runs; greedy picks members among the "
                        "2K best checkpoints, with repeats, by validation accuracy (default mean)")
    p.add_argument("--force", action="store_true", help="send the file even though Kaggle already has "
                   "these exact bytes (scored, being scored, or rejected)")
    p.add_argument("-m", "--message", required=True, help="what this submission is (shown on Kaggle)")
    p.add_argument("--competition", metavar="SLUG", help="competition slug (default: the workspace's)")
    p.add_argument("--dry-run", action="store_true", help="do everything but the upload (the demo "
                   "competition is scored locally against its answer key)")
    p.add_argument("--wait", action="store_true", help="wait until Kaggle has scored it and print the "
                   "public score beside the local estimate")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.kaggle.submit import submit
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    result = submit(ws, message=args.message, ensemble=args.ensemble, run=args.run, file=args.file,
                    method=args.method, competition=args.competition, dry_run=args.dry_run, wait=args.wait,
                    force=args.force)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{result['status']}: {result['file']} ({result['rows']:,} rows, sha256 {result['sha256'][:12]}"
              + (f", ref {result['ref']}" if result["ref"] else "") + ")")
        if result["remaining_today"] is not None:
            print(f"submissions left today: {result['remaining_today']}")
    return 0
