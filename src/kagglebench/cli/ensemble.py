"""`kagglebench ensemble`: combine checkpoints from cached logits and report what it gains."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ensemble", parents=[common], help="average the predictions of several checkpoints",
        description="Combine checkpoints by averaging their predicted probabilities. Choose members "
                    "with --top K (the K runs with the best validation accuracy, each at its best "
                    "checkpoint) or by naming them (RUN_ID or RUN_ID:CHECKPOINT, where CHECKPOINT is "
                    "best, last or an epoch number). --method greedy instead picks members one at a "
                    "time, with repeats, keeping whatever raises validation accuracy most (Caruana "
                    "2004). Prints validation accuracy and the local OOD estimate of the ensemble "
                    "beside each member's, and how correlated the members' mistakes are (low is "
                    "good: members that err on different images help each other). Uses cached "
                    "logits; missing ones are computed once.")
    p.add_argument("members", nargs="*", metavar="RUN_ID[:CKPT]", help="explicit members")
    p.add_argument("--top", type=int, metavar="K", help="use the K best runs (or, with greedy, "
                   "choose among the 2K best checkpoints)")
    p.add_argument("--method", choices=["mean", "greedy"], default="mean",
                   help="mean: equal weights; greedy: forward selection on validation (default mean)")
    p.add_argument("--temperature", action="store_true",
                   help="calibrate each member with a temperature fitted on validation first")
    p.add_argument("--no-ood", action="store_true", help="skip the local OOD estimate (faster on a CPU)")
    p.add_argument("--out", metavar="CSV", help="also write the ensemble's test predictions as a "
                   "submission CSV")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def _fmt(x: float | None) -> str:
    return "   n/a" if x is None else f"{x * 100:6.2f}"


def run(args: argparse.Namespace) -> int:
    from kagglebench import ensemble as E
    from kagglebench.errors import UserError
    from kagglebench.workspace import find_workspace

    if args.members and args.top:
        raise UserError("ensemble", "use either --top K or explicit RUN_IDs, not both")
    ws = find_workspace(args.workspace)
    ens = E.from_request(ws, top=args.top, specs=args.members, method=args.method,
                         temperature=args.temperature, ood=not args.no_ood)
    if args.out:
        E.write_csv(ws, ens, args.out)
    if args.json:
        json.dump(ens.to_json(), sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{'member':<32} {'weight':>6} {'val %':>6} {'OOD %':>6}")
    for m in ens.members:
        print(f"{m.run + ':' + m.checkpoint:<32} {m.weight:6.2f} {_fmt(m.val_acc)} {_fmt(m.ood_acc)}")
    print(f"{'ensemble (' + ens.method + ')':<32} {'':>6} {_fmt(ens.val_acc)} {_fmt(ens.ood_acc)}")
    if len(ens.members) > 1:
        print("error correlation between members (validation):")
        for m, row in zip(ens.members, ens.error_correlation):
            cells = " ".join("  n/a" if v is None else f"{v:5.2f}" for v in row)
            print(f"  {m.run + ':' + m.checkpoint:<30} {cells}")
    if ens.out:
        print(f"wrote {ens.out}")
    return 0
