"""`kagglebench submissions`: my Kaggle submissions joined to the runs that made them."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "submissions", parents=[common], help="list submissions with their scores and members",
        description="List this competition's submissions: status, public and (once revealed) private "
                    "score beside the local estimate and the runs behind each. --sync first fetches "
                    "them from Kaggle (including ones made on the website) and resolves submissions "
                    "left 'unknown' by a broken connection. After three scored submissions it also "
                    "fits public score against the local estimate and marks outliers with '!'.")
    p.add_argument("--sync", action="store_true", help="fetch the list from Kaggle first")
    p.add_argument("--competition", metavar="SLUG", help="competition slug (default: the workspace's)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def run(args: argparse.Namespace) -> int:
    from kagglebench.errors import UserError
    from kagglebench.kaggle import sync
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    comp = args.competition or ws.competition
    if args.sync:
        if not comp:
            raise UserError("--competition", "no competition slug: pass --competition SLUG")
        from kagglebench.kaggle.client import connect
        from kagglebench.kaggle.submit import submit_lock

        kaggle = connect()
        # Holding the submit lock, a `pending` record is a dead submit's and can be settled;
        # without it (a submit is under way) pending records are left alone.
        with submit_lock(ws, comp, wait_s=0) as held:
            rows = sync.sync_submissions(ws, kaggle, comp, settle_pending=held)
    else:
        rows = sync.view(ws, comp)
    if args.json:
        json.dump([{k: r[k] for k in ("ref", "file", "sha256", "message", "status", "public_score",
                                      "private_score", "local_estimate", "members", "ood_estimate",
                                      "source", "error", "outlier")} for r in rows], sys.stdout)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no submissions yet" + ("" if args.sync else " (use --sync to fetch them from Kaggle)"))
        return 0
    print(f"{'ref':>10} {'status':<10} {'public':>7} {'private':>7} {'val':>7} {'OOD':>7}  message / members")
    for r in rows:
        members = ", ".join(f"{m['run']}:{m['checkpoint']}" for m in r["members"]) or r["source"]
        print(f"{r['ref'] or '-':>10} {r['status']:<10} {_f(r['public_score']):>7} {_f(r['private_score']):>7} "
              f"{_f(r['local_estimate']):>7} {_f(r['ood_estimate']):>7}{' !' if r['outlier'] else '  '}"
              f"{r['message'] or ''} [{members}]" + (f"\n{'':>11}{r['error']}" if r["error"] else ""))
    with ws.store() as store:
        line = sync.relation_line(store.list_submissions(comp))
    if line:
        print(line)
    return 0
