"""The study's bookkeeping without training: budget counting, dead-worker reaping, the trial link."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from kagglebench.tune import study as st

SETTINGS = {"pruner": "median", "startup_trials": 1, "warmup_epochs": 0, "ood_samples": 1}
ATTRS = {"recipe": {"name": "demo-cnn"}, "objective": "val_acc", "trials": 3,
         "space": {"params": {"optim.lr": {"log": [0.01, 1.0], "integer": False}}, "settings": SETTINGS,
                   "first": [{"optim.lr": 0.1}]}}
LR = {"optim.lr": FloatDistribution(0.01, 1.0, log=True)}


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "optuna-journal.log")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_create_resume_and_refuse_a_different_space(journal):
    study, stored, created = st.create_or_resume(journal, "s", ATTRS)
    assert created and stored == ATTRS
    assert [t.system_attrs["fixed_params"] for t in study.get_trials(states=(TrialState.WAITING,))] == \
        [{"optim.lr": 0.1}]
    again, stored, created = st.create_or_resume(journal, "s", {**ATTRS, "trials": 5})
    assert not created and stored["trials"] == 5 and again.user_attrs[st.ATTR]["trials"] == 5
    assert len(again.get_trials()) == 1                     # [[first]] is queued once, not again
    other = {**ATTRS, "space": {**ATTRS["space"], "params": {"optim.lr": {"float": [0.01, 1.0]}}}}
    with pytest.raises(st.UserError, match="different search space"):
        st.create_or_resume(journal, "s", other)


def test_dead_workers_trials_fail_once_and_their_settings_are_queued_once(journal):
    study, _, _ = st.create_or_resume(journal, "s", {**ATTRS, "space": {**ATTRS["space"], "first": []}})
    here, now = socket.gethostname(), time.time()
    dead = study.ask(LR)
    dead.set_user_attr("host", here)
    dead.set_user_attr("pid", _dead_pid())
    alive = study.ask(LR)
    alive.set_user_attr("host", here)
    alive.set_user_attr("pid", __import__("os").getpid())
    silent = study.ask(LR)                                  # another machine, quiet for too long
    silent.set_user_attr("host", "elsewhere")
    silent.set_user_attr("heartbeat", now - st.STALE_S - 5)
    recent = study.ask(LR)
    recent.set_user_attr("host", "elsewhere")
    recent.set_user_attr("heartbeat", now)
    assert st.counted(study) == 4

    assert sorted(st.reap(study)) == [dead.number, silent.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[dead.number] == states[silent.number] == TrialState.FAIL
    assert states[alive.number] == states[recent.number] == TrialState.RUNNING
    assert st.counted(study) == 2                           # failed trials do not use the budget
    assert st.failures(study) == 0                          # and queued again, they are no failures of their own
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert sorted((t.user_attrs["retry_of"], t.system_attrs["fixed_params"]["optim.lr"]) for t in queued) == \
        sorted([(dead.number, dead.params["optim.lr"]), (silent.number, silent.params["optim.lr"])])
    assert st.reap(study) == [] and len(study.get_trials(states=(TrialState.WAITING,))) == 2


def test_the_trial_link_reports_epochs_and_prunes_a_laggard(journal, monkeypatch):
    study, _, _ = st.create_or_resume(journal, "s", {**ATTRS, "space": {**ATTRS["space"], "first": []}})
    good = study.ask(LR)
    for epoch, acc in ((1, 0.5), (2, 0.7), (3, 0.8)):
        good.report(acc, epoch)
    study.tell(good, 0.8)
    bad = study.ask(LR)
    for k, v in ((st.ENV_STORAGE, journal), (st.ENV_STUDY, "s"), (st.ENV_TRIAL, str(bad._trial_id))):
        monkeypatch.setenv(k, v)
    link = st.link_from_env()                               # what `kagglebench train` does in the child
    assert (link.study, link.number) == ("s", bad.number)
    assert link.on_epoch(1, {"val_loss": 2.0}) is None      # no accuracy: nothing to judge
    reason = link.on_epoch(1, {"val_acc": 0.1})
    assert reason.startswith("pruned by the median pruner after epoch 1 (val_acc 0.1000)")
    assert optuna.load_study(study_name="s", storage=st.open_storage(journal)).trials[bad.number] \
        .intermediate_values == {1: 0.1}


def test_a_child_without_its_result_fails_saying_how_and_failures_stop_at_the_budget(journal, tune_ws, monkeypatch):
    from kagglebench.tune.worker import Worker
    from kagglebench.workspace import Workspace

    st.create_or_resume(journal, "s", {**ATTRS, "trials": 2, "space": {**ATTRS["space"], "first": []}})
    children = iter([
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        "import json; print(json.dumps({'error': {'where': 'x.toml', 'what': 'bad', 'message': "
        "'kagglebench: error: x.toml: bad'}})); raise SystemExit(2)",
    ])
    monkeypatch.setattr(Worker, "_command", lambda self, trial: [sys.executable, "-c", next(children)])
    worker = Worker(Workspace(tune_ws), journal, "s", log_trials=True)
    done = worker.run()
    # Failed trials do not use the budget, but a study gives up once as many failed as its budget.
    assert [d["state"] for d in done] == ["fail", "fail"] and worker.gave_up and worker.stop_reason is None
    assert st.failures(worker.study) == 2 and st.counted(worker.study) == 0
    messages = [t.user_attrs["message"] for t in worker.study.get_trials()[:2]]
    assert messages[0].startswith("the training process ended (killed by signal 9) without its result; "
                                  "its output is in ") and messages[0].endswith("trial-000.log")
    assert messages[1].startswith("kagglebench: error: x.toml: bad; its output is in ")
    # The report says why, where a student looks first.
    from kagglebench.tune.report import format_summary, summary

    text = format_summary(summary(worker.study, worker.attrs))
    assert "budget 2 trials (2 fail)" in text and "no finished trial yet" in text
    assert f"trial 0 failed: {messages[0]}" in text and f"trial 1 failed: {messages[1]}" in text
