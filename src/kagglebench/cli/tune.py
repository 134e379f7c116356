"""`kagglebench tune`: an Optuna search over a recipe's settings, trained as ordinary runs.

    kagglebench tune RECIPE [key=value ...] --space SPACE.toml --trials N [--parallel K]
                     [--objective val_acc|ood_acc] [--study NAME] [--storage URL]
                     [--slurm PARTITION [--gpus-per-trial G] [--time HH:MM]]
    kagglebench tune --worker --study NAME [--storage URL] [--parallel K]
    kagglebench tune --report STUDY [--storage URL] [--top K]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

DESCRIPTION = """\
Search a recipe's settings with Optuna (TPE sampler). Each trial is an ordinary run, tagged with
the study: `kagglebench runs --study NAME`, eval, ensemble and the app see it. A trial whose
validation accuracy falls behind the others' at the same epoch is pruned (stopped early, status
pruned).

  kagglebench tune demo-cnn --space space.toml --trials 6 --parallel 2
  kagglebench tune --report demo-cnn-space               best trials, PNG figures

space.toml names the keys to search, as overrides do:
  optim.lr = {log = [1e-4, 1e-1]}
  train.batch_size = {choice = [64, 128, 256]}
  train.mixup_alpha = {float = [0, 1]}

--trials is the study's total budget: run the same command again to continue a stopped or
killed tune (a trial whose worker died is marked failed and its settings tried again), or with a
larger N to search further. Studies live in the workspace (optuna-journal.log) unless --storage
names a PostgreSQL/MySQL database that workers on other machines join with
`kagglebench tune --worker --study NAME --storage URL`. --slurm submits the workers as SLURM jobs.
See docs/TUNE.md."""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tune", parents=[common], help="search settings with Optuna: pruned trials, many GPUs",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", metavar="RECIPE", help="a built-in recipe name or a .toml file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="fixed settings for every trial (e.g. epochs=5)")
    p.add_argument("--space", metavar="SPACE.toml", help="the search space (see above)")
    p.add_argument("--trials", type=int, metavar="N", help="the study's budget of trials (finished + pruned)")
    p.add_argument("--parallel", type=int, default=1, metavar="K",
                   help="workers on this machine, one trial each at a time (one per GPU when there are K)")
    p.add_argument("--objective", choices=["val_acc", "ood_acc"], default="val_acc",
                   help="what a trial maximizes: best validation accuracy (default), or the local OOD "
                        "estimate of its best checkpoint on [tune] ood_samples images")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: RECIPE-SPACE)")
    p.add_argument("--storage", metavar="URL", help="postgresql://user:pw@host/db (or mysql+pymysql://...) to "
                   "share the study between machines; default: optuna-journal.log in the workspace")
    p.add_argument("--worker", action="store_true", help="join the existing study --study NAME as worker(s)")
    p.add_argument("--report", metavar="STUDY", help="print the best trials of STUDY and write its figures")
    p.add_argument("--top", type=int, default=5, metavar="K", help="trials in the --report table (default 5)")
    p.add_argument("--slurm", metavar="PARTITION", help="run the --parallel workers as SLURM jobs on PARTITION")
    p.add_argument("--gpus-per-trial", type=int, default=1, metavar="G",
                   help="GPUs each trial trains on (G > 1: data-parallel, like train --nproc G); default 1")
    p.add_argument("--time", metavar="HH:MM", help="with --slurm: each job's time limit (default 04:00)")
    p.add_argument("--slurm-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="with --slurm: another sbatch option, e.g. account=ds542 or qos=short (repeatable)")
    p.add_argument("--json", action="store_true", help="print the study's summary as one JSON document")
    p.add_argument("--label", help=argparse.SUPPRESS)            # set by the tune that starts workers
    p.add_argument("--log-trials", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> str:
    modes = [m for m, on in (("--report", args.report), ("--worker", args.worker)) if on]
    if len(modes) > 1:
        raise UserError("tune", "give either --report STUDY or --worker, not both")
    mode = modes[0] if modes else "tune"
    if mode != "tune" and (args.recipe or args.overrides or args.space or args.trials is not None):
        raise UserError(mode, f"{mode} takes the study's own recipe and space: give only --study/--storage")
    if mode == "--worker" and not args.study:
        raise UserError("--worker", "name the study to join with --study NAME")
    if mode == "tune":
        if not args.recipe:
            raise UserError("tune", "name a recipe, e.g. `kagglebench tune demo-cnn --space space.toml --trials 20`")
        if "=" in args.recipe:
            raise UserError(args.recipe, "the recipe comes first, then key=value settings")
        if not args.space or args.trials is None:
            raise UserError("tune", "give the search space and the budget: --space SPACE.toml --trials N")
        if args.trials < 1:
            raise UserError("--trials", f"needs at least 1 (got {args.trials})")
    if args.parallel < 1:
        raise UserError("--parallel", f"needs at least 1 (got {args.parallel})")
    if args.gpus_per_trial < 0:
        raise UserError("--gpus-per-trial", f"cannot be negative (got {args.gpus_per_trial})")
    if (args.time or args.slurm_opt) and not args.slurm:
        raise UserError("--time" if args.time else "--slurm-opt", "is for SLURM jobs: use it with --slurm PARTITION")
    return mode


def run(args: argparse.Namespace) -> int:
    from kagglebench.workspace import find_workspace

    mode = _check(args)
    ws = find_workspace(args.workspace)
    from kagglebench.tune import study as st

    spec = st.storage_spec(ws, args.storage)
    if mode == "--report":
        return _report(ws, spec, st.check_name(args.report), args)
    minutes = None
    if args.slurm:  # checked before a study is created: nothing half-made on a bad call
        from kagglebench.tune.slurm import cluster, parse_time

        minutes = parse_time(args.time or "04:00")
        cluster(args.slurm)
        for opt in args.slurm_opt:
            if "=" not in opt or not opt.split("=", 1)[0].strip():
                raise UserError(f"--slurm-opt {opt}", "write an sbatch option as KEY=VALUE, e.g. account=ds542")
    if mode == "--worker":
        name = st.check_name(args.study)
        st.load(spec, name)  # a missing study is an error before any worker starts
    else:
        name = _create(ws, spec, args)
    code = _launch(ws, spec, name, args, minutes)
    study, attrs = st.load(spec, name)
    _print_summary(ws, study, attrs, args)
    return code


def _create(ws: Workspace, spec: str, args: argparse.Namespace) -> str:
    from pathlib import Path

    from kagglebench.config import load_recipe, recipe_to_dict
    from kagglebench.tune import study as st
    from kagglebench.tune.space import load_space

    recipe = load_recipe(args.recipe, args.overrides)
    space = load_space(args.space, recipe)
    name = st.check_name(args.study or f"{recipe.name}-{Path(args.space).stem}")
    attrs = {"recipe": recipe_to_dict(recipe), "space": space.to_dict(), "objective": args.objective,
             "trials": args.trials}
    study, stored, created = st.create_or_resume(spec, name, attrs)
    done = st.counted(study)
    if created:
        _say(f"study {name}: {args.trials} trials of {recipe.name} over {', '.join(p.key for p in space.params)}"
             f" ({args.objective}, {stored['space']['settings']['pruner']} pruner) in {st.shown(spec)}")
    else:
        _say(f"study {name}: continuing, {done} of {args.trials} trials done or running")
    return name


def _worker_env(i: int, k: int, g: int) -> dict[str, str]:
    """Pin worker i to its own GPU(s) when the machine has enough for every worker."""
    from kagglebench.telemetry import visible_gpu_indices

    if g == 0:
        return {"CUDA_VISIBLE_DEVICES": ""}
    gpus = visible_gpu_indices()
    if gpus and len(gpus) >= k * g:
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(x) for x in gpus[i * g:(i + 1) * g])}
    if gpus and i == 0:
        _say(f"{k} workers x {g} GPU(s) but {len(gpus)} GPU(s) here: the workers share them")
    return {}


def _launch(ws: Workspace, spec: str, name: str, args: argparse.Namespace, minutes: int | None) -> int:
    from kagglebench.tune.worker import Worker, _die_with_parent, study_dir

    if args.slurm:
        from kagglebench.tune import slurm

        jobs = slurm.submit(ws, spec, name, partition=args.slurm, workers=args.parallel,
                            gpus_per_trial=args.gpus_per_trial, minutes=minutes,
                            folder=study_dir(ws, name) / "slurm",
                            extra=dict(o.split("=", 1) for o in args.slurm_opt))
        _say(f"study {name}: submitted {len(jobs)} SLURM job(s): {', '.join(j.job_id for j in jobs)}; "
             f"logs in {study_dir(ws, name) / 'slurm'}; waiting (Ctrl-C stops waiting, not the jobs)")
        try:
            return 1 if slurm.wait(jobs, _say) else 0
        except KeyboardInterrupt:
            _say(f"stopped waiting; the jobs go on. Follow them with `kagglebench tune --report {name}`")
            return 130
    if args.parallel == 1:
        env = _worker_env(0, 1, args.gpus_per_trial)
        os.environ.update(env)
        w = Worker(ws, spec, name, label=args.label or "tune", gpus_per_trial=args.gpus_per_trial,
                   log_trials=args.log_trials)
        w.run()
        return 1 if w.stop_reason or w.gave_up else 0
    procs = []
    for i in range(args.parallel):
        cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(ws.root), "tune", "--worker", "--study", name,
               "--storage", spec, "--label", f"worker{i + 1}", "--log-trials",
               "--gpus-per-trial", str(args.gpus_per_trial)]
        env = {**os.environ, **_worker_env(i, args.parallel, args.gpus_per_trial)}
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent))
    _say(f"study {name}: {args.parallel} workers started; each trial's progress is in "
         f"{study_dir(ws, name)}/trial-NNN.log")
    return _wait_all(procs)


def _wait_all(procs: list[subprocess.Popen]) -> int:
    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(0.2)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return max(p.returncode for p in procs)


def _print_summary(ws: Workspace, study: Any, attrs: dict[str, Any], args: argparse.Namespace) -> None:
    import os.path

    from kagglebench.tune.report import format_summary, summary
    from kagglebench.tune.worker import study_dir

    if args.label:  # a worker that a tune started: the tune prints the summary
        return
    doc = summary(study, attrs, ws)
    if args.json:
        print(json.dumps(doc))
        return
    path = study_dir(ws, study.study_name) / f"{attrs['recipe']['name']}.toml"
    print(format_summary(doc, args.top, os.path.relpath(path)))


def _report(ws: Workspace, spec: str, name: str, args: argparse.Namespace) -> int:
    import os.path

    from kagglebench.tune import study as st
    from kagglebench.tune.report import format_summary, summary, write_plots
    from kagglebench.tune.worker import study_dir, write_recipe

    if args.top < 1:
        raise UserError("--top", f"needs at least 1 (got {args.top})")
    study, attrs = st.load(spec, name)
    doc = summary(study, attrs, ws)
    written, skipped = write_plots(study, study_dir(ws, name))
    doc["figures"] = [str(p) for p in written]
    if args.json:
        print(json.dumps(doc))
        return 0
    print(format_summary(doc, args.top, os.path.relpath(write_recipe(ws, name, attrs["recipe"]))))
    print("")
    print("figures: " + ", ".join(os.path.relpath(p) for p in written) if written else "figures: none yet")
    for note in skipped:
        print(f"  not drawn: {note}")
    return 0
