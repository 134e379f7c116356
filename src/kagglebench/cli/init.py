"""`kagglebench init DIR --profile NAME [--data PATH] [--test PATH] [--competition SLUG [--download]]`."""

from __future__ import annotations

import argparse

_DESCRIPTION = """\
Make DIR a kagglebench workspace for one competition: check the data, then write
DIR/kagglebench.toml. Profiles (which data and submission format a competition uses):

{profiles}

When --test is left out, the test set is looked for beside the --data folder. A
sample_submission.csv beside the data (or --sample FILE) decides the submission's header,
ids and row order.

--competition SLUG --download fetches the competition's files from Kaggle with the official
client (credentials as for `submit`) into DIR/data, unpacks them (atomically: an interrupted
download leaves no half-unpacked data and resumes when run again), recognises the formats and
picks the profile (pass --profile when it cannot tell). `kagglebench data download` fetches
them again into an existing workspace."""


def _description() -> str:
    from kagglebench.competitions import profiles

    return _DESCRIPTION.format(profiles="\n".join(f"  {name:<14}{p.usage}" for name, p in profiles().items()))


def register(sub, common) -> None:
    p = sub.add_parser("init", parents=[common], help="make a folder a workspace for a competition",
                       description=_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="the workspace folder (created if missing)")
    p.add_argument("--profile", metavar="NAME", help="competition profile (see above; found from the "
                   "files with --download)")
    p.add_argument("--data", metavar="PATH", help="the training data: the format's own folder")
    p.add_argument("--test", metavar="PATH", help="the test set, when it is not beside --data")
    p.add_argument("--sample", metavar="CSV", help="the competition's sample_submission.csv")
    p.add_argument("--competition", metavar="SLUG", help="Kaggle competition slug, for submissions")
    p.add_argument("--download", action="store_true", help="download the competition's data from Kaggle "
                   "into DIR/data first (needs --competition)")
    p.set_defaults(func=run)


def _download(args) -> dict:
    """Fetch the data into DIR/data (unless a complete earlier download is there) and say what
    init_workspace needs."""
    from pathlib import Path

    from kagglebench.errors import UserError
    from kagglebench.kaggle.download import detect_layout, fetch_data
    from kagglebench.workspace import SETTINGS_FILE

    if not args.competition:
        raise UserError("--download", "say which competition: --competition SLUG (the last part of its URL)")
    if args.data or args.test:
        raise UserError("--download", "--data and --test come from the download; leave them out")
    root = Path(args.dir).expanduser().resolve()
    if (root / SETTINGS_FILE).exists():
        raise UserError(root / SETTINGS_FILE, "already exists: this folder is a workspace already "
                        "(`kagglebench data download` fetches its data again)")
    data = root / "data"
    if data.is_dir() and any(data.iterdir()):
        print(f"{data} holds an earlier download: using it (`kagglebench data download` fetches again)")
    else:
        from kagglebench.kaggle.client import connect

        fetch_data(connect(), args.competition, root)
    layout = detect_layout(data, args.profile)
    print(f"downloaded data recognised as profile {layout.profile}")
    return {"profile": layout.profile, "data": layout.train, "test": layout.test,
            "sample": args.sample or layout.sample}


def run(args) -> int:
    from kagglebench.errors import UserError
    from kagglebench.workspace import init_workspace

    if args.download:
        found = _download(args)
    elif not args.profile:
        raise UserError("--profile", "say which competition profile (see `kagglebench init --help`), or "
                                     "fetch the data with --competition SLUG --download")
    else:
        found = {"profile": args.profile, "data": args.data, "test": args.test, "sample": args.sample}
    ws = init_workspace(args.dir, found["profile"], data=found["data"] and str(found["data"]),
                        test=found["test"] and str(found["test"]), competition=args.competition,
                        sample=found["sample"] and str(found["sample"]))
    sub = ws.settings.get("submission")
    print(f"workspace ready: {ws.root} (profile {ws.profile.name}, "
          f"{len(ws.classes())} classes, {len(ws.train_data())} training images)")
    if sub:
        print(f"submissions: {sub['id_col']},{sub['label_col']} with {sub['rows']} rows")
    print(f"next: cd {ws.root} && kagglebench recipes")
    return 0
