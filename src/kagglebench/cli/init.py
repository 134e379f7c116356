"""`kagglebench init DIR --profile NAME [--data PATH] [--test PATH] [--competition SLUG]`."""

from __future__ import annotations

import argparse

_DESCRIPTION = """\
Make DIR a kagglebench workspace for one competition: check the data, then write
DIR/kagglebench.toml. Profiles (which data and submission format a competition uses):

{profiles}

When --test is left out, the test set is looked for beside the --data folder. A
sample_submission.csv beside the data (or --sample FILE) decides the submission's header,
ids and row order."""


def _description() -> str:
    from kagglebench.competitions import profiles

    return _DESCRIPTION.format(profiles="\n".join(f"  {name:<14}{p.usage}" for name, p in profiles().items()))


def register(sub, common) -> None:
    p = sub.add_parser("init", parents=[common], help="make a folder a workspace for a competition",
                       description=_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="the workspace folder (created if missing)")
    p.add_argument("--profile", required=True, metavar="NAME", help="competition profile (see above)")
    p.add_argument("--data", metavar="PATH", help="the training data: the format's own folder")
    p.add_argument("--test", metavar="PATH", help="the test set, when it is not beside --data")
    p.add_argument("--sample", metavar="CSV", help="the competition's sample_submission.csv")
    p.add_argument("--competition", metavar="SLUG", help="Kaggle competition slug, for submissions")
    p.set_defaults(func=run)


def run(args) -> int:
    from kagglebench.workspace import init_workspace

    ws = init_workspace(args.dir, args.profile, data=args.data, test=args.test,
                        competition=args.competition, sample=args.sample)
    sub = ws.settings.get("submission")
    print(f"workspace ready: {ws.root} (profile {ws.profile.name}, "
          f"{len(ws.classes())} classes, {len(ws.train_data())} training images)")
    if sub:
        print(f"submissions: {sub['id_col']},{sub['label_col']} with {sub['rows']} rows")
    print(f"next: cd {ws.root} && kagglebench recipes")
    return 0
