"""Work off the UI thread: the store poller, one-shot tasks and CLI subprocesses.

`StorePoller` lives in its own QThread and turns new store rows into Qt
signals (the napari / acconeer pattern: one listener thread, widgets only
react to signals). `TaskPool` runs one-shot jobs (delete a run, read a log,
sync with Kaggle) on a QThreadPool and delivers results on the UI thread.
`run_cli` runs `python -m kagglebench ... --json` so the app stays decoupled
from the engine's internals. Nothing here imports torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal

from kagglebench.errors import UserError
from kagglebench.store import Store
from kagglebench_gui.series import BLOCK_ROWS, read_block, read_overview
from kagglebench_gui.wsinfo import RunChanges, WorkspaceInfo, tail_lines

# Fields whose change means the runs table must be refreshed.
_RUN_KEYS = ("status", "epoch", "step", "best_val_acc", "ood_acc", "images_per_s", "finished",
             "message", "name", "total_epochs", "tags", "note", "started")


def describe_error(e: BaseException) -> str:
    """The whole message in words: a UserError as the CLI prints it, else the text of the
    exception (its class name only when it has no text)."""
    text = str(e).strip()
    return text or type(e).__name__.replace("Error", " error").strip().lower()


class StorePoller(QObject):
    """Polls the store every `interval_ms` and emits what changed."""

    runs_changed = Signal(list)            # [run dict + "log_tail", "progress", "eta_s", "changes"]
    metrics = Signal(str, object)          # run id, a block of new rows as numpy columns (series.read_block)
    overview = Signal(str, object)         # run id, a long run's per-bucket summary (series.read_overview)
    samples = Signal(list)                 # new system_samples rows
    submissions_changed = Signal(list)
    leaderboard_changed = Signal(object)   # latest snapshot dict, or None
    system = Signal(dict)                  # whole-machine figures (telemetry.read_system)
    error = Signal(str)
    _stop_requested = Signal()
    _poll_now = Signal()

    def __init__(self, ws: WorkspaceInfo, interval_ms: int = 500, system_ms: int = 1000) -> None:
        super().__init__()
        self.ws = ws
        self.interval_ms, self.system_ms = interval_ms, system_ms
        self._lock = threading.Lock()
        self._watched: set[str] = set()
        self._after: dict[str, int] = {}
        self._sample_after = 0
        self._fingerprints: dict[str, Any] = {}
        self._log_tails: dict[str, str] = {}
        self._store: Store | None = None
        self._progress: dict[str, tuple[float, float]] = {}  # run id -> first (epoch, time) seen
        self._changes = RunChanges(ws)
        self._cis: dict[tuple[str, float], list[float] | None] = {}
        self._stop_requested.connect(self._on_stop)
        self._poll_now.connect(self._on_poll_now)

    # -- called from the UI thread --------------------------------------------------
    def watch(self, run_ids: set[str]) -> None:
        """Runs whose metrics to stream; a newly watched run starts from its first row."""
        with self._lock:
            for rid in set(self._after) - run_ids:
                self._after.pop(rid, None)
            self._watched = set(run_ids)
        self._poll_now.emit()  # a newly ticked run is read at once, not at the next tick

    def request_stop(self) -> None:
        self._stop_requested.emit()

    # -- in the poller's thread -----------------------------------------------------
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)
        self._timer.start(self.interval_ms)
        self._sys_timer = QTimer(self)
        self._sys_timer.timeout.connect(self.poll_system)
        self._sys_timer.start(self.system_ms)
        self.poll()
        self.poll_system()

    def _on_poll_now(self) -> None:
        try:
            if self._store is not None:
                self._poll_metrics()
        except Exception as e:  # noqa: BLE001 - the poller must survive a locked or odd store
            self.error.emit(f"reading the run store: {describe_error(e)}")

    def _on_stop(self) -> None:
        self._timer.stop()
        self._sys_timer.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        # Hand the object back to the main thread so it is deleted there, then end the loop.
        self.moveToThread(QCoreApplication.instance().thread())
        QThread.currentThread().quit()

    def poll(self) -> None:
        try:
            if self._store is None:
                if not self.ws.db_path.exists():
                    return  # no run yet: nothing to show, and no empty database created behind the user
                self._store = Store(self.ws.db_path)
            self._poll_runs()
            self._poll_metrics()
            self._poll_samples()
            self._poll_submissions()
        except Exception as e:  # noqa: BLE001 - the poller must survive a locked or odd store
            self.error.emit(f"reading the run store: {describe_error(e)}")

    def _changed(self, key: str, value: Any) -> bool:
        if self._fingerprints.get(key) == value:
            return False
        self._fingerprints[key] = value
        return True

    def _poll_runs(self) -> None:
        runs = self._store.list_runs()
        now = time.time()
        for r in runs:
            r["progress"], r["eta_s"] = self._progress_of(r, now) if r["status"] == "running" else (None, None)
        print_ = tuple((r["id"], *(str(r[k]) for k in _RUN_KEYS), r["progress"] and round(r["progress"], 3))
                       for r in runs)
        if not self._changed("runs", print_):
            return
        for r in runs:
            if r["status"] in ("failed", "diverged") and r["id"] not in self._log_tails:
                self._log_tails[r["id"]] = tail_lines(self.ws.root / r["run_dir"] / "train.log", 12)
            r["log_tail"] = self._log_tails.get(r["id"], "")
            r["changes"] = self._changes.of(r, self._store)
            r["ood_ci"] = self._ood_ci(r)
        self.runs_changed.emit(runs)

    def _ood_ci(self, run: dict) -> list[float] | None:
        """The interval of the run's latest OOD estimate, when its evaluation recorded one."""
        if run.get("ood_acc") is None:
            return None
        key = (run["id"], run["ood_acc"])
        if key not in self._cis:
            row = self._store.db.execute("SELECT details FROM evals WHERE run_id = ? AND ood_acc IS NOT NULL "
                                         "ORDER BY id DESC LIMIT 1", (run["id"],)).fetchone()
            ci = None
            if row is not None:
                try:
                    d = json.loads(row[0] or "{}")
                except ValueError:
                    d = {}
                ood = d.get("ood") if isinstance(d.get("ood"), dict) else {}
                ci = d.get("ood_ci") or ood.get("ood_ci") or ood.get("ci")
            self._cis[key] = list(ci) if ci and len(ci) == 2 else None
        return self._cis[key]

    def _progress_of(self, run: dict, now: float) -> tuple[float | None, float | None]:
        """Fraction of the run done (from its latest step row's fractional epoch) and the
        seconds left at the pace seen since this app first saw it running."""
        total = run.get("total_epochs")
        row = self._store.db.execute("SELECT epoch, time FROM metrics WHERE run_id = ? ORDER BY id DESC LIMIT 1",
                                     (run["id"],)).fetchone()
        if not total or row is None:
            return None, None
        epoch = max(float(row[0]), float(run.get("epoch") or 0))
        first = self._progress.setdefault(run["id"], (epoch, now))
        eta = None
        if epoch > first[0] and now > first[1]:
            eta = (now - first[1]) / (epoch - first[0]) * max(0.0, total - epoch)
        return min(1.0, epoch / total), eta

    def _poll_metrics(self) -> None:
        with self._lock:
            watched = sorted(self._watched)
        for rid in watched:
            with self._lock:
                after = self._after.get(rid)
            first = after is None
            if first:  # newly watched: a long run's summary first, for a quick first picture
                ov = read_overview(self._store.db, rid)
                after = 0
                if ov is not None:
                    self.overview.emit(rid, ov)
                    # Its rows load from the next tick on: reading them now would hold the
                    # interpreter while the window draws the summary.
                    with self._lock:
                        if rid in self._watched:
                            self._after[rid] = after
                    continue
            block = read_block(self._store.db, rid, after, BLOCK_ROWS)
            block["caught_up"] = block["rows"] < BLOCK_ROWS
            with self._lock:
                if rid not in self._watched:
                    continue
                self._after[rid] = block["last_id"]
            if block["rows"] or first:
                self.metrics.emit(rid, block)

    def _poll_samples(self) -> None:
        rows = self._store.samples_since(self._sample_after)
        if rows:
            self._sample_after = rows[-1]["id"]
            self.samples.emit(rows)

    def _poll_submissions(self) -> None:
        comp = self.ws.competition
        subs = self._store.list_submissions(comp)
        if self._changed("subs", tuple(tuple(sorted((k, str(v)) for k, v in s.items())) for s in subs)):
            self.submissions_changed.emit(subs)
        lb = self._store.latest_leaderboard(comp) if comp else None
        if self._changed("lb", lb and lb["id"]):
            self.leaderboard_changed.emit(lb)

    def poll_system(self) -> None:
        try:
            from kagglebench.telemetry import read_system
            self.system.emit(read_system())
        except Exception as e:  # noqa: BLE001 - a driver hiccup must not end the poller
            self.error.emit(f"reading system figures: {describe_error(e)}")


class PollerThread:
    """Owns the poller's QThread: start once, stop (and join) on window close."""

    def __init__(self, poller: StorePoller) -> None:
        self.poller = poller
        self.thread = QThread()
        self.thread.setObjectName("kagglebench-store-poller")
        poller.moveToThread(self.thread)
        self.thread.started.connect(poller.start)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_ms: int = 10000) -> bool:
        if not self.thread.isRunning():
            return True
        self.poller.request_stop()
        return self.thread.wait(timeout_ms)


class _Carrier(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], carrier: _Carrier) -> None:
        super().__init__()
        self.fn, self.carrier = fn, carrier

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # noqa: BLE001 - any failure becomes a status-bar line, not a dead thread
            if not isinstance(e, (UserError, CliError)):
                traceback.print_exc()
            self.carrier.failed.emit(describe_error(e))
        else:
            self.carrier.done.emit(result)


class TaskPool:
    """One-shot jobs off the UI thread; callbacks run on the UI thread."""

    def __init__(self, max_threads: int = 4) -> None:
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self._carriers: set[_Carrier] = set()

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None) -> None:
        carrier = _Carrier()  # created here, so it lives in the UI thread and signals queue to it
        self._carriers.add(carrier)

        def finish(_: Any = None) -> None:
            self._carriers.discard(carrier)

        if on_done:
            carrier.done.connect(on_done, Qt.QueuedConnection)
        if on_error:
            carrier.failed.connect(on_error, Qt.QueuedConnection)
        carrier.done.connect(finish, Qt.QueuedConnection)
        carrier.failed.connect(finish, Qt.QueuedConnection)
        self.pool.start(_Task(fn, carrier))

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        terminate_cli_children()
        return self.pool.waitForDone(timeout_ms)


class CliError(Exception):
    """A kagglebench command run as a subprocess failed; the text is its error line."""


CLI = [sys.executable, "-m", "kagglebench"]   # the command run_cli starts (tests point it at a stand-in)
_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def json_error(out: str) -> str | None:
    """The message of a failed `--json` command, from the error document it printed on
    stdout ({"error": {"where", "what", "message"}}); None when it printed none."""
    for text in (out, *reversed([ln for ln in out.splitlines() if ln.strip()])):
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        return None
    return None


def run_cli(ws_root: Path, args: list[str], timeout: float = 600,
            started: Callable[[subprocess.Popen], None] | None = None) -> Any:
    """Run `python -m kagglebench --workspace ROOT ARGS` and return its parsed JSON stdout.

    Raises CliError with the command's own error message, read from the error document a
    `--json` command prints on stdout when it fails (stderr is never parsed). `started` gets
    the child as soon as it runs (a dialog that closes early terminates it)."""
    cmd = [*CLI, "--workspace", str(ws_root), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,  # stderr: the app's own, as a log
                            cwd=ws_root, stdin=subprocess.DEVNULL)
    with _children_lock:
        _children.add(proc)
    if started is not None:
        started(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise CliError(f"`kagglebench {' '.join(args)}` took longer than {timeout:.0f} s and was stopped") from None
    finally:
        with _children_lock:
            _children.discard(proc)
    if proc.returncode != 0:
        raise CliError(json_error(out) or f"`kagglebench {' '.join(args)}` failed (exit status {proc.returncode})")
    try:
        return {"json": json.loads(out) if out.strip() else None}
    except json.JSONDecodeError:
        raise CliError(f"`kagglebench {' '.join(args)}` printed something that is not JSON") from None


def terminate_cli_children(grace_s: float = 3.0) -> None:
    """On close: end the short CLI helpers we started (sync, submit). Training runs are
    separate sessions started elsewhere and are never touched here."""
    with _children_lock:
        procs = list(_children)
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
