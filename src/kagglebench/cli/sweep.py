"""`kagglebench sweep RECIPE key=v1,v2 [key2=a,b ...] [--parallel N]`: a grid of ordinary runs.

A thin caller of `kagglebench.sweep.run_sweep`; at the end the ranked table of
`kagglebench runs --sweep ID` is printed.
"""

from __future__ import annotations

import argparse
import json

_DESCRIPTION = """\
Train every combination of the values you list, as ordinary runs tagged with one sweep id.

  kagglebench sweep demo-cnn lr=0.1,0.01,0.001 batch_size=32,128      6 runs, one at a time
  kagglebench sweep demo-cnn lr=0.1,0.01 epochs=5 --parallel 2        2 runs, both at once

A key with one value (epochs=5 above) applies to every run. With --parallel above 1 each
run's progress goes to sweeps/<sweep-id>/NN.log in the workspace. Ctrl-C (or SIGTERM)
stops the running runs cleanly (they can be resumed) and starts no more. At the end the
runs are ranked by best validation accuracy, as `kagglebench runs --sweep ID` shows them.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sweep", parents=[common], help="train a grid of settings as tagged runs",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", metavar="RECIPE", help="a built-in recipe name or a .toml file")
    p.add_argument("grid", nargs="*", metavar="key=v1,v2", help="settings and the values to try")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at the same time (default 1)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON document {"sweep", "runs": [...]} on stdout instead of the table')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.cli.runs import print_runs
    from kagglebench.errors import UserError
    from kagglebench.sweep import parse_grid, plan, run_sweep
    from kagglebench.workspace import find_workspace

    if args.parallel < 1:
        raise UserError("--parallel", f"needs at least 1 (got {args.parallel})")
    checked = plan(args.recipe, parse_grid(args.grid))
    ws = find_workspace(args.workspace)
    result = run_sweep(ws, checked, parallel=args.parallel, debug=args.debug)
    if args.json:
        print(json.dumps(result))
    else:
        print_runs(ws, result["sweep"])
    failed = [r for r in result["runs"] if r.get("exit") not in (0, None)]
    return 1 if failed or result["stopped"] else 0
