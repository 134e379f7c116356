"""`kagglebench bench`: measure kagglebench against the seeds' own pipeline, side by side."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "bench", parents=[common], help="measure kagglebench's speed against the usual PyTorch way",
        description="Measure, on generated CIFAR-sized data and in one run, how much faster kagglebench "
                    "is than the way the seed reports' code works: (a) the input pipeline, (b) training "
                    "SimpleCNN 3-block and ResNet-18, (c) the share of the machine's matmul speed that "
                    "training reaches, (d) predicting a DS-542-shaped test folder (and the memory it "
                    "takes), (e) re-ensembling cached predictions, (f) the start-up time of this "
                    "command line, (g) time to accuracy: the seconds kagglebench's best recipe for the demo "
                    "data needs to reach the accuracy the seeds' SimpleCNN loop ends at after its 50 "
                    "epochs. Needs no workspace. The full run takes 30 minutes or more on a 2-core CPU "
                    "(most of it the seed side of (g)); --quick takes about 10.")
    p.add_argument("--quick", action="store_true",
                   help="smaller measurements (a few minutes); ratios are noisier")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (loader_speedup, train_speedup and every raw figure)")
    # The tests' size: seconds instead of minutes, figures meaningless except as "present".
    p.add_argument("--size", choices=["tiny"], default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.bench import format_table, run_bench

    size = args.size or ("quick" if args.quick else "full")
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    result = run_bench(size, log=log)
    result["wall_s"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0
