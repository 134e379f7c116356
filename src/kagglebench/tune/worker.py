"""A tune worker: ask the study for settings, train them as an ordinary run in a child process, tell.

One worker trains one trial at a time on the GPU(s) it was given. The training child is
`kagglebench train <study recipe> key=value ... --json` with the trial named in its environment;
its epoch hook reports validation accuracy to the trial and ends the run as `pruned` when the
pruner says so. The worker tells the study the outcome: the best validation accuracy (or the
local OOD estimate, measured by `kagglebench eval --ood` in a second child) for a finished run,
pruned for a pruned or diverged one, failed otherwise. Several workers (this machine's --parallel,
other machines' --worker, SLURM jobs) share one study through its storage.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError
from kagglebench.tune import study as st
from kagglebench.tune.space import Space, override

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def study_dir(ws: Workspace, name: str) -> Path:
    """`tunes/<study>/` in the workspace: the recipe the trials train, logs, report PNGs."""
    d = Path(ws.root) / "tunes" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_recipe(ws: Workspace, name: str, recipe: dict[str, Any]) -> Path:
    """The study's resolved recipe as a TOML file the training children read (same on every machine)."""

    def lines(table: dict[str, Any], prefix: str = "") -> list[str]:
        # JSON's strings, numbers, booleans and lists are valid TOML literals.
        out = [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict) and v is not None]
        for k, v in table.items():
            if isinstance(v, dict):
                out += ["", f"[{prefix}{k}]", *lines(v, f"{prefix}{k}.")]
        return out

    from kagglebench.atomic import write_text

    path = study_dir(ws, name) / f"{recipe['name']}.toml"
    text = f"# the recipe of study {name}, written by kagglebench tune\n" + "\n".join(lines(recipe)) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return path


def _die_with_parent() -> None:
    """Child processes get SIGTERM when their parent dies (even by SIGKILL): a killed tune leaves
    no orphan training, and each run checkpoints and ends as stopped."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Worker:
    def __init__(self, ws: Workspace, spec: str, name: str, *, label: str = "worker", gpus_per_trial: int = 1,
                 log_trials: bool = False) -> None:
        self.ws, self.spec, self.name, self.label = ws, spec, name, label
        self.gpus_per_trial, self.log_trials = gpus_per_trial, log_trials
        self.study, self.attrs = st.load(spec, name)
        self.space = Space.from_dict(self.attrs["space"])
        self.dir = study_dir(ws, name)
        self.recipe_path = write_recipe(ws, name, self.attrs["recipe"])
        self.stop_reason: str | None = None
        self.gave_up = False  # stopped because as many trials failed as the budget allows
        self.child: subprocess.Popen | None = None
        self.done: list[dict[str, Any]] = []

    # -------------------------------------------------------------- the loop
    def run(self) -> list[dict[str, Any]]:
        old = {}
        if _main_thread():
            old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while self.stop_reason is None:
                trial = self._next_trial()
                if trial is None:
                    break
                self.done.append(self._run_trial(trial))
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return self.done

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stop_reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop_reason = "stopped by SIGTERM" if signum == signal.SIGTERM else "stopped by Ctrl-C"
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _next_trial(self) -> Any:
        """Under the lock: reap dead trials, check the budget, ask, draw the settings."""
        with st.asking(self.spec, self.name, self.dir / ".lock"):
            for n in st.reap(self.study):
                say(f"{self.label}: trial {n} was left running by a worker that died: marked failed, "
                    "its settings queued again")
            budget = self.study.user_attrs[st.ATTR]["trials"]  # read afresh: a rerun may have raised it
            if st.counted(self.study) >= budget:
                return None
            failed = st.failures(self.study)
            if failed >= budget:  # failed trials do not use the budget, so a recipe that always crashes would loop
                self.gave_up = True
                say(f"{self.label}: {failed} trials of study {self.name} failed, as many as its budget of {budget}: "
                    f"stopping. The trial logs in {self.dir} say why")
                return None
            trial = self.study.ask({p.key: p.distribution() for p in self.space.params})
            for key, value in (("host", socket.gethostname()), ("pid", os.getpid()), ("heartbeat", time.time()),
                               ("worker", self.label)):
                trial.set_user_attr(key, value)
        return trial

    # -------------------------------------------------------------- one trial
    def _command(self, trial: Any) -> list[str]:
        sets = [override(k, v) for k, v in trial.params.items()]
        cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(self.ws.root), "train", str(self.recipe_path),
               *sets, "--name", f"{self.name} #{trial.number}", "--json"]
        if self.gpus_per_trial > 1:
            cmd += ["--nproc", str(self.gpus_per_trial)]
        return cmd

    def _child(self, cmd: list[str], trial: Any, log: Path | None, extra_env: dict[str, str]) -> dict[str, Any]:
        """Run one child to its end, refreshing the trial's heartbeat; its last stdout line is JSON."""
        out = tempfile.TemporaryFile()
        err = open(log, "ab") if log else None  # noqa: SIM115 - closed below
        try:
            self.child = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **extra_env},
                                          preexec_fn=_die_with_parent)
            beat = time.time()
            while self.child.poll() is None:
                time.sleep(0.2)
                if time.time() - beat > st.HEARTBEAT_S:
                    beat = time.time()
                    trial.set_user_attr("heartbeat", beat)
            code = self.child.returncode
        finally:
            self.child = None
            if err:
                err.close()
        out.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        out.close()
        try:
            result = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            result = {}
        return {**result, "exit": code}

    def _run_trial(self, trial: Any) -> dict[str, Any]:
        from optuna.trial import TrialState

        sets = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else override(k, v) for k, v in trial.params.items())
        log = self.dir / f"trial-{trial.number:03d}.log" if self.log_trials else None
        say(f"{self.label}: trial {trial.number} started: {sets}" + (f" (progress in {log})" if log else ""))
        env = {st.ENV_STORAGE: self.spec, st.ENV_STUDY: self.name, st.ENV_TRIAL: str(trial._trial_id)}
        res = self._child(self._command(trial), trial, log, env) if self.stop_reason is None else {}
        status = res.get("status", "failed" if res else "not started")
        if res and "status" not in res:  # no result: say how the child ended, and where its output is
            code = res["exit"]
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            error = res.get("error") or {}
            res["message"] = (error.get("message") or f"the training process ended ({how}) without its result") + \
                (f"; its output is in {log}" if log else "")
        if res.get("id"):
            trial.set_user_attr("run_id", res["id"])
        trial.set_user_attr("run_status", status)
        if res.get("message"):
            trial.set_user_attr("message", str(res["message"])[:300])
        value, state = None, TrialState.FAIL
        if status == "finished" and res.get("best_val_acc") is not None:
            value, state = float(res["best_val_acc"]), TrialState.COMPLETE
            if self.attrs["objective"] == "ood_acc":
                value = self._ood(trial, res["id"], log)
                state = TrialState.FAIL if value is None else TrialState.COMPLETE
        elif status in ("pruned", "diverged"):
            state = TrialState.PRUNED  # ended early because it was bad: the sampler learns from that
        if state == TrialState.FAIL and self.stop_reason is not None:
            # Interrupted, not bad: another run of this study will try the same settings.
            self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, "why": self.stop_reason})
        self.study.tell(trial, value, state=state, skip_if_finished=True)
        shown = f"{value:.4f}" if value is not None else "-"
        say(f"{self.label}: trial {trial.number} {state.name.lower()} (run {res.get('id', '?')} {status}, "
            f"{self.attrs['objective']} {shown})" + (f": {res['message']}" if res.get("message") and
                                                     state != TrialState.COMPLETE else ""))
        return {"number": trial.number, "state": state.name.lower(), "value": value, "run_id": res.get("id"),
                "run_status": status, "params": dict(trial.params)}

    def _ood(self, trial: Any, run_id: str, log: Path | None) -> float | None:
        """The local OOD estimate of the run's best checkpoint, on `ood_samples` validation images."""
        n = self.space.settings["ood_samples"]
        cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(self.ws.root), "eval", run_id, "--ood",
               "--ood-samples", str(n), "--json"]
        res = self._child(cmd, trial, log, {})
        if res.get("ood_acc") is None:
            say(f"{self.label}: trial {trial.number}: the OOD evaluation of {run_id} failed (exit {res['exit']})")
            return None
        trial.set_user_attr("val_acc", res.get("val_acc"))
        if res.get("ood_ci"):
            trial.set_user_attr("ood_ci", res["ood_ci"])
        return float(res["ood_acc"])


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_worker(ws_root: str, spec: str, name: str, label: str = "worker", gpus_per_trial: int = 1,
               log_trials: bool = False) -> list[dict[str, Any]]:
    """One worker to the end of the study's budget (or a stop); the trials it ran. Picklable for submitit."""
    from kagglebench.workspace import Workspace

    try:
        return Worker(Workspace(ws_root), spec, name, label=label, gpus_per_trial=gpus_per_trial,
                      log_trials=log_trials).run()
    except UserError as e:  # UserError does not survive pickling back to the submitter
        raise RuntimeError(f"kagglebench: error: {e}") from None
