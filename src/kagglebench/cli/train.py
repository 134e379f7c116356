"""`kagglebench train`: train a recipe as a new run, or resume a stopped one."""

from __future__ import annotations

import argparse
import json
import os
import sys

from kagglebench.errors import UserError

DESCRIPTION = """\
Train a model on this workspace's training data and record the run (metrics, checkpoints,
the exact configuration) in the workspace.

  kagglebench train demo-cnn                      a built-in recipe (see `kagglebench recipes`)
  kagglebench train demo-cnn epochs=5 lr=0.01     change any setting with key=value
  kagglebench train my.toml optim.weight_decay=1e-4
  kagglebench train --resume demo-cnn-3f2a        continue a stopped run exactly where it stopped

Progress goes to stderr and to runs/<id>/train.log. Stop a run with Ctrl-C (or SIGTERM):
it saves a checkpoint and can be resumed."""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train a recipe, or resume a stopped run",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", metavar="RECIPE_OR_TOML",
                   help="a built-in recipe name or the path of a .toml recipe")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="settings to change, e.g. epochs=5 batch_size=64 optim.weight_decay=1e-4")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a stopped run from its last checkpoint")
    p.add_argument("--name", help="a name for the run (default: the recipe's name)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N data-parallel processes (torchrun); default 1")
    p.add_argument("--json", action="store_true",
                   help='print one JSON document {"id", "status", "best_val_acc", "epochs"} on stdout')
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and (args.recipe or args.overrides):
        raise UserError("--resume", "a resumed run keeps its own recipe; give only the run id "
                        "(to change settings, train a new run with model.init_from=RUN_ID)")
    if not args.resume and not args.recipe:
        raise UserError("train", "name a recipe (see `kagglebench recipes`) or --resume RUN_ID")
    if args.recipe and "=" in args.recipe:
        raise UserError(args.recipe, "the recipe comes first, then key=value settings "
                        "(e.g. `kagglebench train demo-cnn epochs=5`)")
    if args.nproc < 1:
        raise UserError("--nproc", f"needs at least 1 process (got {args.nproc})")


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from kagglebench.train import distributed

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        # Re-run this same command as N torchrun workers; they come back through here.
        return distributed.launch(sys.argv[1:], args.nproc)

    from kagglebench.config import load_recipe
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    # Check the recipe before importing torch (seconds), so a typo is reported at once.
    recipe = None if args.resume else load_recipe(args.recipe, args.overrides)
    from kagglebench.train.runner import train_run

    if args.resume:
        result = train_run(ws, None, run_id=args.resume)
    else:
        # `kagglebench sweep` starts each grid point with its sweep id in the environment.
        from kagglebench.sweep import SWEEP_ENV

        sweep_id = os.environ.get(SWEEP_ENV) or None
        # `kagglebench tune` starts each trial with its study and trial in the environment.
        link = None
        if os.environ.get("KAGGLEBENCH_TUNE_TRIAL"):
            from kagglebench.tune.study import link_from_env
            link = link_from_env()
        result = train_run(ws, recipe, name=args.name, sweep_id=sweep_id,
                           study=link.study if link else None, trial=link.number if link else None,
                           on_epoch=link.on_epoch if link else None)
    if not distributed.env_info().is_main:
        return 0
    if args.json:
        print(json.dumps(result))
    else:
        acc = result["best_val_acc"]
        acc_text = f", best validation accuracy {acc:.2%}" if acc is not None else ""
        print(f"{result['id']}: {result['status']} after {result['epochs']} epoch(s){acc_text}")
        if result.get("message"):
            print(f"  {result['message']}")
    return {"finished": 0, "stopped": 0, "pruned": 0}.get(result["status"], 1)
