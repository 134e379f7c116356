"""`kagglebench data demo DIR ...`, `kagglebench data check PATH` and `kagglebench data download`."""

from __future__ import annotations

import argparse


def register(sub, common) -> None:
    p = sub.add_parser("data", parents=[common], help="build the demo competition, check data files",
                       description="Data tools: `data demo DIR` writes the synthetic demo competition "
                                   "as a ready workspace; `data check PATH` says what a data "
                                   "folder or file holds, or what is wrong with it.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    d = dsub.add_parser("demo", parents=[common], help="write the demo competition workspace",
                        description="Write a complete demo workspace in DIR: CIFAR-100-format "
                        "train/test of drawn shapes, an out-of-distribution test folder in the "
                        "DS-542 layout (19 corruptions x 5 severities), sample_submission.csv and a "
                        "local answer key. Same seed, same files.",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("dir", metavar="DIR", help="folder to create (must not exist or be empty)")
    d.add_argument("--classes", type=int, default=10, metavar="N", help="number of classes (2-100)")
    d.add_argument("--train", type=int, default=5000, metavar="N", help="training images")
    d.add_argument("--test", type=int, default=100, metavar="N",
                   help="labelled test images, and images per OOD severity (19x5xN OOD rows)")
    d.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    d.set_defaults(func=run_demo)
    c = dsub.add_parser("check", parents=[common], help="name a data folder's format and contents",
                        description="Read PATH (a cifar-10-batches-py or cifar-100-python folder, "
                        "stl10_binary, an ood-test folder, a class-per-folder image tree, a test "
                        ".pkl, or `digits`) and print its format, image counts and shape, and class "
                        "balance; or one line saying which file is broken and how.")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.set_defaults(func=run_check)
    dl = dsub.add_parser("download", parents=[common], help="fetch the competition's data again from Kaggle",
                         description="Download the workspace's competition files from Kaggle with the "
                         "official client and replace data/ with them, atomically (the old data stays "
                         "until the new is complete; an interrupted download resumes when run again), "
                         "then check the workspace reads them.")
    dl.set_defaults(func=run_download)


def run_demo(args) -> int:
    import time

    from kagglebench.data.demo import write_demo
    from kagglebench.workspace import Workspace

    start = time.perf_counter()
    root = write_demo(args.dir, classes=args.classes, train=args.train, test=args.test, seed=args.seed)
    ws = Workspace(root)
    print(f"demo competition written to {root} in {time.perf_counter() - start:.1f} s")
    print(f"  {args.classes} classes, {args.train} training and {args.test} labelled test images "
          "(data/cifar-100-python)")
    print(f"  hidden test set: {ws.test_size()} images in data/ood-test "
          f"(19 corruptions x 5 severities x {args.test})")
    print("  data/sample_submission.csv shows the submission format; answer-key/ holds the labels")
    print(f"next: cd {root} && kagglebench recipes")
    return 0


def run_check(args) -> int:
    import json

    from kagglebench.data.check import check, describe

    summary = check(args.path)
    print(json.dumps(summary) if args.json else describe(summary))
    return 0


def run_download(args) -> int:
    from kagglebench.errors import UserError
    from kagglebench.kaggle.client import connect
    from kagglebench.kaggle.download import fetch_data
    from kagglebench.workspace import Workspace, find_workspace

    ws = find_workspace(args.workspace)
    if not ws.competition:
        raise UserError(ws.settings_path, "no `competition = \"SLUG\"` line: which competition's data?")
    fetch_data(connect(), ws.competition, ws.root)
    fresh = Workspace(ws.root)
    print(f"data ready: {fresh.root / 'data'} ({len(fresh.train_data())} training images, "
          f"{fresh.test_size()} test rows)")
    return 0
