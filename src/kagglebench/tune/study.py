"""Where a study lives, how it searches, and how a training child reports to its trial.

Storage. By default a study lives in the workspace, in `optuna-journal.log` beside kagglebench.db:
Optuna's JournalStorage over a file. Every change is one line appended under a file lock and every
process replays the log, so any number of workers on this machine (or on machines sharing the
folder over NFS, as SLURM jobs do) can ask, report and tell at once. An RDB storage on SQLite would
also work for one process, but SQLite serialises writers with database-wide locks that Optuna's
documentation warns against for parallel optimisation ("database is locked" under several workers),
and it is not safe over NFS. `--storage postgresql://...` (or mysql+pymysql://...) uses Optuna's
RDBStorage: the multi-machine mode, one database every worker reaches over the network.

Trials. The study's settings (resolved recipe, space, objective, budget) are stored as a study
attribute, so a worker joining with only `--study NAME` knows everything. A trial records the
host, pid and a heartbeat of the worker that runs it; `reap` marks a running trial whose worker is
gone (dead pid on this host, or no heartbeat for STALE_S elsewhere) as failed and puts its settings
back in the queue once, so a killed tune loses that trial's time once and its budget not at all:
the budget counts finished, pruned and running trials, never failed ones. Workers stop asking once
as many trials have failed on their own (not interrupted and queued again) as the budget.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

JOURNAL_FILE = "optuna-journal.log"
ATTR = "kagglebench"                # the study attribute holding its settings
HEARTBEAT_S = 30.0                  # a worker refreshes its trial's heartbeat this often
STALE_S = 600.0                     # a trial on another host without a heartbeat this long is dead
ENV_STORAGE = "KAGGLEBENCH_TUNE_STORAGE"
ENV_STUDY = "KAGGLEBENCH_TUNE_STUDY"
ENV_TRIAL = "KAGGLEBENCH_TUNE_TRIAL"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO and warns that some APIs are experimental: keep stderr ours."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UserError(f"--study {name}", "a study name is 1-64 letters, digits, '.', '_' or '-', "
                                           "starting with a letter or digit")
    return name


def storage_spec(ws: Workspace, url: str | None) -> str:
    """The storage a study uses: a database URL, or the path of a journal file (default: the workspace's)."""
    if url:
        if "://" not in url:
            return str(Path(url).expanduser().resolve())
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the driver we install is psycopg2.
        scheme, rest = url.split("://", 1)
        return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url
    return str(Path(ws.root) / JOURNAL_FILE)


def shown(spec: str) -> str:
    """The storage as it may be printed: a URL without its password."""
    if "://" not in spec:
        return spec
    try:
        from sqlalchemy.engine import make_url

        return make_url(spec).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by open_storage
        return spec.split("@")[-1]


def open_storage(spec: str) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    quiet_optuna()
    if "://" not in spec:
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(spec))
    try:
        for attempt in range(3):
            try:
                return optuna.storages.RDBStorage(spec, engine_kwargs={"pool_pre_ping": True})
            except ImportError:
                raise
            except Exception:
                # Two workers meeting a fresh database both create Optuna's tables; one loses the race.
                if attempt == 2:
                    raise
                time.sleep(1.0 + attempt)
    except ImportError as e:
        cause = e.__cause__ or e
        raise UserError(f"--storage {shown(spec)}", f"the database driver is missing ({cause}): pip install "
                        "psycopg2-binary for PostgreSQL, or pymysql and a mysql+pymysql:// URL for MySQL") from None
    except Exception as e:  # noqa: BLE001 - sqlalchemy's errors name the cause on their first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--storage {shown(spec)}", f"cannot open the study database: {first}") from None


def create_sampler(settings: dict[str, Any], seed: int | None = None) -> Any:
    """TPE; `constant_liar` makes parallel workers treat each other's running trials as poor, so
    they do not all try the same point."""
    import optuna

    return optuna.samplers.TPESampler(n_startup_trials=settings["startup_trials"], constant_liar=True, seed=seed)


def create_pruner(settings: dict[str, Any]) -> Any:
    """Median: stop a trial whose best validation accuracy so far is below the median of earlier
    trials at the same epoch. Halving: asynchronous successive halving over epochs."""
    import optuna

    name = settings["pruner"]
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings["startup_trials"],
                                           n_warmup_steps=settings["warmup_epochs"])
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, settings["warmup_epochs"]))
    return optuna.pruners.NopPruner()


def study_names(storage: Any) -> list[str]:
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))


def load(spec: str, name: str, *, sampler: Any = None, for_trial: bool = False) -> tuple[Any, dict[str, Any]]:
    """The study and its kagglebench settings. `for_trial`: a training child, which suggests nothing."""
    import optuna

    if "://" not in spec and not Path(spec).exists():  # do not leave an empty journal behind
        raise UserError(f"study {name}", f"no such study: no study has been made in {shown(spec)} yet")
    storage = open_storage(spec)
    if name not in study_names(storage):
        known = ", ".join(study_names(storage)) or "none yet"
        raise UserError(f"study {name}", f"no such study in {shown(spec)} (studies there: {known})")
    # The pruner must be the study's own, so read the settings before choosing it.
    attrs = optuna.load_study(study_name=name, storage=storage).user_attrs.get(ATTR)
    if not attrs:
        raise UserError(f"--study {name}", "was not made by `kagglebench tune` (it has no kagglebench settings)")
    sampler = optuna.samplers.RandomSampler() if for_trial else (sampler or create_sampler(attrs["space"]["settings"]))
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                              pruner=create_pruner(attrs["space"]["settings"]))
    return study, attrs


def create_or_resume(spec: str, name: str, attrs: dict[str, Any]) -> tuple[Any, dict[str, Any], bool]:
    """Create the study, or resume one made with the same recipe, space and objective.
    Returns (study, stored settings, created). A larger --trials raises the stored budget."""
    import optuna

    storage = open_storage(spec)
    settings = attrs["space"]["settings"]
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=create_sampler(settings), pruner=create_pruner(settings))
    stored = study.user_attrs.get(ATTR)
    if stored is None:
        study.set_user_attr(ATTR, attrs)
        for params in attrs["space"]["first"]:
            study.enqueue_trial(params, user_attrs={"first": True})
        return study, attrs, True
    for key, what in (("recipe", "recipe and settings"), ("space", "search space"), ("objective", "objective")):
        if _canon(stored.get(key)) != _canon(attrs.get(key)):
            raise UserError(f"--study {name}", f"already exists with a different {what}: run it again with "
                            "the same recipe, settings, space and objective to continue it, or choose a new "
                            "--study name")
    if attrs["trials"] != stored["trials"]:
        stored = {**stored, "trials": attrs["trials"]}
        study.set_user_attr(ATTR, stored)
    return study, stored, False


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True)


# ------------------------------------------------------------------ budget and dead trials

@contextmanager
def asking(spec: str, name: str, lock_file: Path) -> Iterator[None]:
    """Held while a worker counts the budget and asks for a trial, so that no two workers both take
    the last one. A file lock covers every worker on this machine (and on machines that share the
    workspace over NFS); for a study in PostgreSQL or MySQL, the database's own named lock covers
    workers on machines with workspaces of their own."""
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            with _database_lock(spec, name):
                yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _database_lock(spec: str, name: str) -> Iterator[None]:
    """PostgreSQL's session advisory lock or MySQL's GET_LOCK, keyed by the study's name, on a
    connection of its own that is closed after: a worker killed while holding it drops its
    connection, and the server releases the lock. Other databases (sqlite://) reach one machine only."""
    if "://" not in spec:
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(spec, poolclass=NullPool)
    key = f"kagglebench tune {name}"[:64]  # MySQL's lock names end at 64 characters
    lock = {"postgresql": ("SELECT pg_advisory_lock(hashtextextended(:k, 0))",
                           "SELECT pg_advisory_unlock(hashtextextended(:k, 0))"),
            "mysql": ("SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)")}.get(engine.dialect.name)
    try:
        if lock is None:
            yield
            return
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(lock[0]), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text(lock[1]), {"k": key})
    finally:
        engine.dispose()


def counted(study: Any) -> int:
    """Trials that use the budget: finished, pruned and running ones (failed ones do not)."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                        TrialState.RUNNING)))


def failures(study: Any) -> int:
    """Trials that failed on their own (a training crash, a failed OOD evaluation); not those a stop
    or a dead worker interrupted, whose settings were queued again."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    requeued = {t.user_attrs.get("retry_of") for t in trials}
    return sum(t.state == TrialState.FAIL and t.number not in requeued for t in trials)


def _dead(t: Any, now: float) -> str | None:
    from kagglebench.store import pid_alive

    host, pid, beat = t.user_attrs.get("host"), t.user_attrs.get("pid"), t.user_attrs.get("heartbeat")
    if beat is None and t.datetime_start is not None:  # a worker that died before it signed its trial
        beat = t.datetime_start.timestamp()
    if host == socket.gethostname() and pid and not pid_alive(pid, host):
        return f"its worker (pid {pid}) died"
    if beat is not None and now - beat > STALE_S:
        return f"no heartbeat from its worker on {host} for {int(now - beat)} s"
    return None


def reap(study: Any) -> list[int]:
    """Mark running trials whose worker is gone as failed; queue their settings again once."""
    from optuna.trial import TrialState

    now, reaped = time.time(), []
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        why = _dead(t, now) if t.state == TrialState.RUNNING else None
        if why is None:
            continue
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        reaped.append(t.number)
        if t.number not in retried and "retry_of" not in t.user_attrs:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "why": why})
    return reaped


# ------------------------------------------------------------------ the training child's side

@dataclass
class TrialLink:
    """What `kagglebench train` gets when a tune worker starts it: the study and trial to tag the run
    with, and the epoch hook that reports validation accuracy and asks the pruner."""

    study: str
    number: int
    trial: Any
    pruner: str

    def on_epoch(self, epoch: int, metrics: dict[str, Any]) -> str | None:
        value = metrics.get("val_acc")
        if value is None:
            return None
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            return (f"pruned by the {self.pruner} pruner after epoch {epoch} (val_acc {value:.4f}); "
                    f"study {self.study} trial {self.number}")
        return None


def link_from_env() -> TrialLink | None:
    """The trial this process trains for, from the environment a tune worker set; None otherwise."""
    name, spec, trial_id = (os.environ.get(k) for k in (ENV_STUDY, ENV_STORAGE, ENV_TRIAL))
    if not (name and spec and trial_id):
        return None
    import optuna

    study, attrs = load(spec, name, for_trial=True)
    trial = optuna.trial.Trial(study, int(trial_id))
    return TrialLink(name, trial.number, trial, attrs["space"]["settings"]["pruner"])
