"""Command-line entry point: global options, command discovery, one-line errors.

Each module in this package is one command group. It defines
`register(subparsers, common)` which adds its parser(s) and sets `func` to a
function taking the parsed args and returning an exit status (or None).
Modules keep torch and friends inside their functions so `--help` stays fast.

Errors: a `UserError` (and a usage error) prints one line `kagglebench: error: <where>: <what>`
on stderr and exits 2. Under `--json` the same error is also answered as data, one JSON
document on stdout: {"error": {"where": ..., "what": ..., "message": "<where>: <what>"}}, so
callers (the desktop app) never read stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys

from kagglebench.errors import UserError

# Commands listed in this order in --help; modules not named here come after.
_ORDER = ["init", "data", "recipes", "train", "sweep", "tune", "runs", "eval", "compare", "report", "predict",
          "ensemble", "submit", "submissions", "leaderboard", "bench", "demo", "gui"]


def error_document(where: str, what: str) -> dict:
    """The `--json` form of an error: what stdout carries when a command fails."""
    return {"error": {"where": where, "what": what, "message": f"{where}: {what}"}}


def _print_json_error(where: str, what: str) -> None:
    print(json.dumps(error_document(where, what)), flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are answered as data too under --json."""

    json_errors = False    # set by main() when the command line asks for --json

    def error(self, message: str):  # type: ignore[override]
        if _Parser.json_errors:
            _print_json_error(self.prog, message)
        super().error(message)


def _common_parser(defaults: bool) -> argparse.ArgumentParser:
    # The same global options work before or after the command: the copy on
    # each subcommand uses SUPPRESS so it does not overwrite the top-level value.
    p = _Parser(add_help=False)
    d = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default: found from the "
                   "current folder upward, or $KAGGLEBENCH_WORKSPACE)", **d)
    p.add_argument("--debug", action="store_true", help="show full tracebacks", **d)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kagglebench",
        description="Train, evaluate, ensemble and submit image classifiers for Kaggle "
                    "competitions. Start with `kagglebench demo` or `kagglebench init`.",
        parents=[_common_parser(defaults=True)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_parser(defaults=False)
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    for name in names:
        importlib.import_module(f"{__name__}.{name}").register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    # `train RECIPE --name x lr=0.1`: argparse stops collecting key=value words at the first
    # option; hand the stragglers to the command's list of settings.
    listed = next((k for k in ("overrides", "grid") if isinstance(getattr(args, k, None), list)), None)
    if extra and listed and all("=" in e and not e.startswith("-") for e in extra):
        getattr(args, listed).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.workspace is None:
        args.workspace = os.environ.get("KAGGLEBENCH_WORKSPACE") or None
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(0 if args.command is None else 2)
    try:
        status = args.func(args)
    except UserError as e:
        if getattr(args, "json", False):
            _print_json_error(e.where, e.what)
        if args.debug:
            raise
        print(f"kagglebench: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("kagglebench: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `kagglebench runs | head`: the reader left; stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    except Exception as e:
        # A bug, not bad input: the traceback goes to stderr as usual; a --json caller still
        # gets an answer it can show without reading stderr.
        if getattr(args, "json", False):
            _print_json_error(f"kagglebench {args.command}", "failed unexpectedly: "
                              f"{str(e).strip() or type(e).__name__} (the traceback is on stderr)")
        raise
    from kagglebench.train.distributed import exit_worker

    exit_worker(status or 0)   # a torchrun worker (`train --nproc N`) ends here; any other process goes on
    sys.exit(status or 0)
