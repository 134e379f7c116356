"""`kagglebench leaderboard`: the public leaderboard, a snapshot stored each sync, with my rank."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "leaderboard", parents=[common], help="show the public leaderboard and my rank",
        description="Show the competition's public leaderboard with your rank. --sync fetches it "
                    "from Kaggle and stores a snapshot (the desktop app plots your rank over time); "
                    "without it, the last stored snapshot is shown. Your team is found by your "
                    "Kaggle user name, or by `team = \"...\"` in kagglebench.toml.")
    p.add_argument("--sync", action="store_true", help="fetch the leaderboard from Kaggle first")
    p.add_argument("--competition", metavar="SLUG", help="competition slug (default: the workspace's)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows to show (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kagglebench.errors import UserError
    from kagglebench.kaggle import sync
    from kagglebench.workspace import find_workspace

    ws = find_workspace(args.workspace)
    comp = args.competition or ws.competition
    if not comp:
        raise UserError("--competition", "no competition slug: pass --competition SLUG")
    if args.sync:
        from kagglebench.kaggle.client import connect

        snap = sync.sync_leaderboard(ws, connect(), comp)
    else:
        with ws.store() as store:
            snap = store.latest_leaderboard(comp)
        if snap is None:
            raise UserError(comp, "no leaderboard snapshot yet: run `kagglebench leaderboard --sync`")
    if args.json:
        json.dump({"competition": comp, "taken": snap["taken"], "my_rank": snap["my_rank"],
                   "my_score": snap["my_score"], "entries": snap["entries"]}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    for e in snap["entries"][: args.top]:
        mark = "  <- you" if snap["my_rank"] == e["rank"] else ""
        print(f"{e['rank']:>4}  {e['score'] if e['score'] is not None else '-':<10} {e['team']}{mark}")
    if snap["my_rank"] is None:
        print("you are not on this leaderboard yet (or set team = \"...\" in kagglebench.toml)")
    elif snap["my_rank"] > args.top:
        print(f"you: rank {snap['my_rank']} with {snap['my_score']}")
    return 0
