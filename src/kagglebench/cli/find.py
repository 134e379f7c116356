"""`kagglebench find batch-size|lr|epoch-time RECIPE [key=value ...]`: the batch-size finder,
the LR range test and the time an epoch takes here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kagglebench.errors import UserError

_DESCRIPTION = """\
Tune two settings before a long run, the way the seed reports did by hand, and see what an
epoch costs here.

  kagglebench find batch-size RECIPE   the largest batch that fits your GPU's memory
                                       (on the CPU: half the free RAM)
  kagglebench find lr RECIPE           an LR range test: trains briefly while the learning
                                       rate grows from 1e-7 to 10, plots the loss, and
                                       suggests the rate where the loss falls fastest
  kagglebench find epoch-time RECIPE   times a few training steps on this machine and says
                                       how long an epoch takes

All take the same key=value overrides as `kagglebench train`, e.g. `model=resnet18`.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("find", parents=[common], help="find the largest batch size or a good learning rate",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    bs = what.add_parser("batch-size", parents=[common], help="largest batch that fits the device",
                         description="Doubles the batch size until a training step runs out of memory, "
                                     "then narrows down between the last fit and the first failure.")
    bs.add_argument("--max", type=int, default=4096, metavar="N",
                    help="never suggest more than N (default 4096)")
    lr = what.add_parser("lr", parents=[common], help="LR range test with a plot",
                         description="Trains a fresh model for --steps steps while the learning rate "
                                     "grows exponentially; stops when the loss blows up.")
    lr.add_argument("--out", metavar="PNG", help="where to save the plot "
                    "(default: lr-range-RECIPE.png in the workspace)")
    lr.add_argument("--steps", type=int, default=100, metavar="N", help="training steps (default 100)")
    lr.add_argument("--min-lr", type=float, default=1e-7, metavar="LR", help="first rate (default 1e-7)")
    lr.add_argument("--max-lr", type=float, default=10.0, metavar="LR", help="last rate (default 10)")
    et = what.add_parser("epoch-time", parents=[common], help="time a few training steps: seconds per epoch",
                         description="Builds the run `kagglebench train` would (data on the device, model, "
                                     "optimizer, augmentation), runs --warmup steps that are not timed, then "
                                     "times --steps more. Training steps only: validation comes on top. "
                                     "Nothing is written.")
    et.add_argument("--steps", type=int, default=10, metavar="N", help="steps to time (default 10)")
    et.add_argument("--warmup", type=int, default=2, metavar="N",
                    help="steps run first and left out of the timing (default 2)")
    for q in (bs, lr, et):
        q.add_argument("recipe", metavar="RECIPE", help="a built-in recipe name or a .toml file")
        q.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")
        q.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.config import load_recipe
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    recipe = load_recipe(args.recipe, args.overrides)
    if args.what == "batch-size":
        return _batch_size(ws, recipe, args)
    if args.what == "epoch-time":
        return _epoch_time(ws, recipe, args)
    return _lr(ws, recipe, args)


def _epoch_time(ws, recipe, args: argparse.Namespace) -> int:
    from kagglebench.train.timing import recipe_epoch_time

    print(f"timing {args.steps} training steps of {recipe.name} (after {args.warmup} warm-up steps) ...",
          file=sys.stderr)
    res = recipe_epoch_time(ws, recipe, steps=args.steps, warmup=args.warmup)
    if args.json:
        print(json.dumps(res.to_dict()))
        return 0
    print(f"{recipe.name} on {res.device}: {_duration(res.seconds_per_epoch)} per epoch "
          f"({res.steps_per_epoch} steps of batch {res.batch_size} at {res.seconds_per_step:.3g} s a step, "
          f"{res.images_per_s:,.0f} images/s; measured from {res.steps} steps, validation not included)")
    return 0


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 90 else f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _batch_size(ws, recipe, args: argparse.Namespace) -> int:
    from kagglebench.train.finders import recipe_batch_size

    if args.max < 1:
        raise UserError("--max", "must be at least 1")
    print(f"finding the largest batch for {recipe.name} ({recipe.model.name}) ...", file=sys.stderr)
    res = recipe_batch_size(ws, recipe, max_batch=args.max)
    if args.json:
        print(json.dumps({"batch_size": res.batch_size, "limit": res.limit, "device": res.device,
                          "tried": [list(t) for t in res.tried]}))
        return 0
    if res.batch_size == 0:
        raise UserError(recipe.model.name, f"not even a batch of 1 fits on {res.device}: "
                                           "pick a smaller model or a smaller data.input_size")
    why = {"memory": "the next size up ran out of memory" if res.device.startswith("cuda")
           else "the next size up would need more than half the free RAM",
           "max": f"the --max limit ({args.max})", "data": "the whole training split in one batch"}[res.limit]
    print(f"largest batch on {res.device}: {res.batch_size} (limited by {why})")
    print(f"use it with: kagglebench train {args.recipe} batch_size={res.batch_size}  "
          "(a larger batch usually wants a larger lr: try `kagglebench find lr`)")
    return 0


def _lr(ws, recipe, args: argparse.Namespace) -> int:
    from kagglebench.train.finders import plot_lr_range, recipe_lr_range

    if args.steps < 5:
        raise UserError("--steps", "needs at least 5 steps to draw a curve")
    if not 0 < args.min_lr < args.max_lr:
        raise UserError("--min-lr/--max-lr", "need 0 < min-lr < max-lr")
    out = Path(args.out) if args.out else Path(ws.root) / f"lr-range-{recipe.name}.png"
    if out.suffix.lower() != ".png":
        raise UserError(out, "the plot is a PNG: give a file name ending in .png")
    print(f"LR range test for {recipe.name}: {args.steps} steps of batch {recipe.train.batch_size}, "
          f"lr {args.min_lr:g} -> {args.max_lr:g} ...", file=sys.stderr)
    res = recipe_lr_range(ws, recipe, min_lr=args.min_lr, max_lr=args.max_lr, num_iter=args.steps)
    if len(res.lrs) < 3:
        raise UserError(recipe.name, f"the loss blew up at once (lr {args.min_lr:g}): lower --min-lr")
    plot_lr_range(res, out, title=f"LR range test: {recipe.name}")
    if args.json:
        print(json.dumps({"suggested_lr": res.suggested_lr, "plot": str(out), "lrs": res.lrs,
                          "losses": res.losses}))
        return 0
    print(f"suggested lr: {res.suggested_lr:.2g} (where the loss falls fastest, or a tenth of where it "
          f"starts to rise; the test stopped at lr {res.lrs[-1]:.2g})")
    print(f"plot: {out}")
    print(f"use it with: kagglebench train {args.recipe} lr={res.suggested_lr:.2g}")
    return 0
