"""The main window: five tabs, the menu bar and shortcuts, the status bar, and the
wiring between the store poller, the task pool and the tabs.

The window owns every worker it starts and joins them in `closeEvent`, so no
thread outlives it; training runs are separate processes and keep going.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from kagglebench.errors import UserError
from kagglebench.store import Store
from kagglebench_gui import icons
from kagglebench_gui.banner import Banner
from kagglebench_gui.curves import CurvesTab
from kagglebench_gui.evaljobs import EvalQueue
from kagglebench_gui.leaderboard import LeaderboardTab
from kagglebench_gui.newrun import NewRunDialog, duplicate_values
from kagglebench_gui.procs import ProcessManager, stop_run
from kagglebench_gui.runs import ConfigDiffDialog, RunsTab
from kagglebench_gui.submit import SubmitTab
from kagglebench_gui.sweepdialog import SweepDialog
from kagglebench_gui.system import SystemTab
from kagglebench_gui.workers import PollerThread, StorePoller, TaskPool, run_cli
from kagglebench_gui.wsinfo import WorkspaceInfo, open_run, suggested_recipe

TAB_NAMES = ["Runs", "Live curves", "System", "Leaderboard", "Submit"]


def about_text() -> str:
    from kagglebench import __version__
    return (f"<b>kagglebench {__version__}</b><br>Train, evaluate, ensemble and submit image classifiers "
            "for Kaggle competitions.<br><br>Closing this window leaves runs training; the next start "
            "finds them again.<br><br>Help ▸ README (F1) explains every tab and command.")


def readme_text() -> str:
    """The README: the source tree's README.md, else the one packed in the installed metadata."""
    import kagglebench
    path = Path(kagglebench.__file__).resolve().parents[2] / "README.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    from importlib.metadata import PackageNotFoundError, metadata
    try:
        return metadata("kagglebench").get_payload() or ""
    except PackageNotFoundError:
        return ""


def save_labels(ws: WorkspaceInfo, run_id: str, tags: list[str], note: str) -> str:
    """Store a run's tags and note (on the task pool)."""
    with Store(ws.db_path) as store:
        store.set_tags(run_id, tags)
        store.set_note(run_id, note)
    return f"saved the tags and note of {run_id}"


def delete_run_files(ws: WorkspaceInfo, run: dict) -> str:
    """Remove a run's rows and its folder (on the task pool). Refuses paths outside the workspace."""
    folder = ws.run_dir(run).resolve()
    if ws.root.resolve() not in folder.parents:
        raise UserError(folder, "is outside the workspace; not deleting it")
    with Store(ws.db_path) as store:
        store.delete_run(run["id"])
    if folder.exists():
        shutil.rmtree(folder)
    return f"deleted run {run['id']} and its folder"


def launch_error(answer: dict | None, rc: int, log: Path) -> str:
    """Why a child we launched failed, from its JSON answer: the engine's error document, or a
    run's final message; else its exit status and where its log is (the log is not parsed)."""
    answer = answer or {}
    err = answer.get("error")
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if answer.get("message"):
        return f"{answer.get('status', 'failed')}: {answer['message']}"
    return f"exit status {rc} (its log: {log})"


class MainWindow(QMainWindow):
    open_workspace_requested = Signal(str)  # app.py swaps windows; empty string = ask

    def __init__(self, ws: WorkspaceInfo, *, poll_ms: int = 500) -> None:
        super().__init__()
        self.ws = ws
        self.setWindowTitle(f"kagglebench — {ws.root}")
        self.setWindowIcon(icons.icon("app"))
        self.tasks = TaskPool()
        self.procs = ProcessManager(ws)
        self.poller = StorePoller(ws, interval_ms=poll_ms)
        self.poller_thread = PollerThread(self.poller)
        self.runs_tab = RunsTab()
        self.curves_tab = CurvesTab()
        self.system_tab = SystemTab()
        self.leaderboard_tab = LeaderboardTab(self.tasks, ws.root)
        self.submit_tab = SubmitTab(self.tasks, ws.root)
        self.tabs = QTabWidget()
        for name, tab, ic in zip(TAB_NAMES, [self.runs_tab, self.curves_tab, self.system_tab,
                                             self.leaderboard_tab, self.submit_tab],
                                 ["runs", "curves", "system", "leaderboard", "submit"]):
            self.tabs.addTab(tab, icons.icon(ic), name)
        self.banner = Banner()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.evals = EvalQueue(ws.root, self)
        self.runs: list[dict] = []
        self.ws_label = QLabel(str(ws.root) + (f" · {ws.competition}" if ws.competition else ""))
        self.statusBar().addPermanentWidget(self.ws_label)
        self._closed = False
        self._wire()
        self._make_actions()
        self._restore_settings()
        self._reaper = QTimer(self)
        self._reaper.timeout.connect(self._reap)
        self._reaper.start(1000)
        self.poller_thread.start()

    # -- wiring ----------------------------------------------------------------------
    def _wire(self) -> None:
        p = self.poller
        p.runs_changed.connect(self._on_runs)
        p.metrics.connect(self.curves_tab.add_metrics)
        p.overview.connect(self.curves_tab.add_overview)
        p.samples.connect(self.system_tab.add_samples)
        p.system.connect(self.system_tab.add_system)
        p.submissions_changed.connect(self.leaderboard_tab.set_submissions)
        p.leaderboard_changed.connect(self.leaderboard_tab.set_snapshot)
        p.error.connect(self.show_error)
        self.curves_tab.watched_changed.connect(self.poller.watch)
        self.runs_tab.selection_changed.connect(self._on_selection)
        self.runs_tab.table.doubleClicked.connect(self._plot_selected)
        self.runs_tab.labels_edited.connect(self.save_labels)
        self.runs_tab.train_suggested.clicked.connect(self.train_suggested)
        self.leaderboard_tab.sync_finished.connect(self.show_message)
        self.leaderboard_tab.sync_failed.connect(self.show_error)
        self.submit_tab.submitted.connect(self.show_message)
        self.submit_tab.failed.connect(self.show_error)
        self.submit_tab.evaluate_requested.connect(self.evaluate_runs)
        self.evals.progress.connect(self.show_message)
        self.evals.finished.connect(self._eval_done)
        self.evals.failed.connect(self.show_error)

    def _on_runs(self, runs: list[dict]) -> None:
        for r in runs:  # an interval from an evaluation made in this session, until the store has one
            if r.get("ood_ci") is None and r["id"] in self.evals.intervals:
                r["ood_ci"] = self.evals.intervals[r["id"]]
        self.runs = runs
        self.runs_tab.set_runs(runs)
        self.curves_tab.set_runs(runs)
        self.system_tab.set_runs(runs)
        self.submit_tab.set_runs(runs)
        self._update_actions()

    def _on_selection(self, ids: list[str]) -> None:
        # Selecting rows never changes which runs are plotted; double-click (or Plot) adds them.
        if len(ids) == 1:
            self.system_tab.select_run(ids[0])
        self._update_actions()

    def _action(self, menu, text: str, slot: Callable, shortcut: str | QKeySequence | None = None,
                icon: str | None = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        if icon:
            a.setIcon(icons.icon(icon))
        a.setStatusTip(tip)
        a.setToolTip(f"{text} ({a.shortcut().toString()})" if shortcut else text)
        a.triggered.connect(lambda _=False: slot())
        menu.addAction(a)
        return a

    def _make_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "Open workspace…", lambda: self.open_workspace_requested.emit(""), "Ctrl+Shift+O",
                     "folder", "Open another workspace folder")
        self.recent_menu = f.addMenu("Recent workspaces")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addSeparator()
        self._action(f, "Quit", self.close, QKeySequence.Quit, tip="Close the window; runs keep training")
        r = mb.addMenu("&Run")
        self.act_new = self._action(r, "New run…", self.new_run, "Ctrl+N", "new", "Start a training run")
        self.act_stop = self._action(r, "Stop", self.stop_selected, "Ctrl+.", "stop",
                                     "Stop the selected runs (they save a checkpoint first)")
        self.act_resume = self._action(r, "Resume", self.resume_selected, "Ctrl+R", "resume",
                                       "Continue a stopped or failed run from its last checkpoint")
        self.act_dup = self._action(r, "Duplicate with changes…", self.duplicate_selected, "Ctrl+D",
                                    "duplicate", "A new run with this run's settings, to edit")
        self.act_delete = self._action(r, "Delete…", self.delete_selected, QKeySequence.Delete, "delete",
                                       "Delete the selected runs' records and files")
        r.addSeparator()
        self.act_folder = self._action(r, "Open run folder", self.open_folder, "Ctrl+Shift+F", "folder")
        self.act_report = self._action(r, "Show report", self.show_report, "Ctrl+Shift+R", "report")
        self.act_plot = self._action(r, "Plot in Live curves", self._plot_selected, "Ctrl+P", "curves",
                                     "Add the selected runs to the plots")
        self.act_diff = self._action(r, "Compare settings…", self.compare_selected, "Ctrl+Shift+D",
                                     tip="The settings of two selected runs side by side")
        r.addSeparator()
        self.act_eval = self._action(r, "Evaluate (OOD)", self.evaluate_selected, "Ctrl+Shift+E",
                                     tip="The local out-of-distribution estimate of the selected runs")
        self.act_eval_all = self._action(r, "Evaluate all finished runs without an estimate",
                                         self.evaluate_missing)
        self.act_sweep = self._action(r, "Start a sweep…", self.start_sweep, "Ctrl+Shift+N",
                                      tip="Train every combination of a few settings")
        v = mb.addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            self._action(v, name, lambda i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
        v.addSeparator()
        self._action(v, "Filter runs", self._focus_filter, QKeySequence.Find)
        self._action(v, "Next x axis (step / epoch / wall time / relative time)", self._toggle_x, "Ctrl+E")
        k = mb.addMenu("&Kaggle")
        self._action(k, "Sync submissions and leaderboard", self.leaderboard_tab.sync, "F5", "sync")
        self._action(k, "Submit…", lambda: self.tabs.setCurrentWidget(self.submit_tab), "Ctrl+Shift+S", "submit")
        h = mb.addMenu("&Help")
        self._action(h, "About kagglebench", self._about)
        self._action(h, "README", self.show_readme, QKeySequence.HelpContents)
        tb = self.addToolBar("Runs")
        tb.setObjectName("runs-toolbar")
        for a in (self.act_new, self.act_stop, self.act_resume, self.act_dup, self.act_delete,
                  self.act_folder, self.act_report):
            tb.addAction(a)
        self._update_actions()

    def _update_actions(self) -> None:
        sel = self.runs_tab.selected_runs()
        running = [r for r in sel if r["status"] == "running"]
        self.act_stop.setEnabled(bool(running))
        self.act_resume.setEnabled(any(r["status"] in ("stopped", "failed") for r in sel))
        self.act_dup.setEnabled(len(sel) == 1)
        self.act_delete.setEnabled(bool(sel) and not running)
        self.act_folder.setEnabled(len(sel) == 1)
        self.act_report.setEnabled(len(sel) == 1)
        self.act_plot.setEnabled(bool(sel))
        self.act_diff.setEnabled(len(sel) == 2)
        self.act_eval.setEnabled(any(r["status"] != "running" for r in sel))

    # -- status ------------------------------------------------------------------------
    def show_message(self, msg: str) -> None:
        self.statusBar().showMessage(msg, 15000)

    def show_error(self, msg: str) -> None:
        """The whole message in a banner that stays until dismissed."""
        self.banner.show_error(msg)

    def _focus_filter(self) -> None:
        self.tabs.setCurrentWidget(self.runs_tab)
        self.runs_tab.filter.setFocus()

    def _toggle_x(self) -> None:
        self.curves_tab.cycle_x()

    def _about(self) -> None:
        QMessageBox.about(self, "About kagglebench", about_text())

    def show_readme(self) -> None:
        from PySide6.QtWidgets import QDialog, QTextBrowser
        dlg = QDialog(self)
        dlg.setWindowTitle("kagglebench README")
        dlg.resize(900, 700)
        view = QTextBrowser()
        view.setOpenExternalLinks(True)
        view.setMarkdown(readme_text() or "The README is not installed with this copy of kagglebench.")
        QVBoxLayout(dlg).addWidget(view)
        self._readme = dlg
        dlg.show()

    def _plot_selected(self, *_: object) -> None:
        ids = self.runs_tab.selected_ids()
        if ids:
            self.curves_tab.show_runs(ids, add=True)
            self.tabs.setCurrentWidget(self.curves_tab)

    def save_labels(self, run_id: str, tags: list[str], note: str) -> None:
        self.tasks.submit(lambda: save_labels(self.ws, run_id, tags, note), self.show_message, self.show_error)

    def compare_selected(self) -> None:
        runs = self.runs_tab.selected_runs()
        if len(runs) == 2:
            ws, ids = self.ws, [r["id"] for r in runs]
            self.tasks.submit(lambda: [open_run(ws, rid) for rid in ids], self._show_diff,
                              lambda m: self.show_error(f"cannot compare {' and '.join(ids)}: {m}"))

    def _show_diff(self, pair: list) -> None:
        self._diff = ConfigDiffDialog(pair[0], pair[1], self)
        self._diff.show()

    def train_suggested(self) -> None:
        """The empty workspace's button: train the recipe this workspace suggests."""
        recipe = suggested_recipe(self.ws)
        self.launch(self.procs.train_command(recipe, []), recipe)

    def evaluate_selected(self) -> None:
        self.evaluate_runs([r["id"] for r in self.runs_tab.selected_runs() if r["status"] != "running"])

    def evaluate_missing(self) -> None:
        ids = [r["id"] for r in self.runs if r["status"] == "finished" and r.get("ood_acc") is None]
        if not ids:
            self.show_message("every finished run already has an OOD estimate")
        self.evaluate_runs(ids)

    def evaluate_runs(self, ids: list[str]) -> None:
        for rid in ids:
            self.evals.add(rid)

    def _eval_done(self, run_id: str, result: dict) -> None:
        ci = result.get("ood_ci")
        self.show_message(f"OOD estimate of {run_id}: "
                          + ("—" if result.get("ood_acc") is None else f"{100 * result['ood_acc']:.2f}%")
                          + (f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]" if ci else ""))
        if self.runs:
            self._on_runs(self.runs)

    def start_sweep(self) -> None:
        dlg = SweepDialog(self.tasks, self, recipe=suggested_recipe(self.ws))
        self._dialog = dlg
        if dlg.exec():
            self.launch(self.procs.sweep_command(dlg.recipe, dlg.grid, dlg.parallel),
                        f"sweep {dlg.recipe} {' '.join(dlg.grid)}")

    # -- run actions ---------------------------------------------------------------------
    def new_run(self, recipe: str | None = None, values: dict | None = None, title: str = "New run") -> None:
        dlg = NewRunDialog(self.tasks, self, recipe=recipe or suggested_recipe(self.ws), values=values,
                           title=title, ws=self.ws, suggested=suggested_recipe(self.ws))
        self._dialog = dlg  # tests drive the open dialog through this
        if dlg.exec():
            self.launch(self.procs.train_command(dlg.recipe, dlg.overrides, dlg.run_name or None),
                        f"{dlg.recipe} {' '.join(dlg.overrides)}".strip())

    def launch(self, cmd: list[str], what: str) -> None:
        self.tasks.submit(lambda: self.procs.launch(cmd, what),
                          lambda la: self.show_message(f"started {what} (pid {la.proc.pid})"),
                          lambda m: self.show_error(f"could not start {what}: {m}"))

    def _reap(self) -> None:
        for launch, rc, answer in self.procs.reap():
            run = next((r for r in self.runs if r.get("pid") == launch.proc.pid), None)
            if run is not None and run["status"] in ("stopped", "diverged", "pruned", "failed"):
                self.show_message(f"{launch.what}: {run['status']}")
            elif rc == 0:
                self.show_message(f"{launch.what}: finished")
            elif rc < 0 or rc == 143:
                self.show_message(f"{launch.what}: stopped")
            else:
                self.show_error(f"{launch.what} ended with an error: {launch_error(answer, rc, launch.log)}")

    def stop_selected(self) -> None:
        for run in self.runs_tab.selected_runs():
            if run["status"] == "running":
                try:
                    self.show_message(stop_run(run))
                except UserError as e:
                    self.show_error(str(e))

    def resume_selected(self) -> None:
        for run in self.runs_tab.selected_runs():
            if run["status"] in ("stopped", "failed"):
                self.launch(self.procs.resume_command(run["id"]), f"resume {run['id']}")

    def duplicate_selected(self) -> None:
        runs = self.runs_tab.selected_runs()
        if len(runs) == 1:
            r, ws = runs[0], self.ws
            self.tasks.submit(lambda: open_run(ws, r["id"]), lambda run: self._duplicate(r, run),
                              lambda m: self.show_error(f"cannot duplicate {r['id']}: {m}"))

    def _duplicate(self, r: dict, run) -> None:
        values = duplicate_values(run.config, run.normalization)
        self.new_run(r["recipe"], values, title=f"Duplicate {r['name'] or r['id']} with changes")

    def delete_selected(self) -> None:
        runs = [r for r in self.runs_tab.selected_runs() if r["status"] != "running"]
        if not runs:
            return
        names = "\n".join(f"  {r['name'] or r['id']} ({r['status']})" for r in runs)
        ok = QMessageBox.warning(self, "Delete runs?", f"Delete these runs, their checkpoints, logits and "
                                 f"reports? This cannot be undone.\n\n{names}",
                                 QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        if ok != QMessageBox.Yes:
            return
        for r in runs:
            self.tasks.submit(lambda r=r: delete_run_files(self.ws, r), self.show_message, self.show_error)

    def open_folder(self) -> None:
        runs = self.runs_tab.selected_runs()
        if len(runs) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ws.run_dir(runs[0]))))

    def show_report(self) -> None:
        runs = self.runs_tab.selected_runs()
        if len(runs) != 1:
            return
        run, root = runs[0], self.ws.root
        report = self.ws.run_dir(run) / "report" / "report.md"

        def ensure() -> Path:
            if not report.exists():  # write it once with the CLI; later clicks just open it
                out = run_cli(root, ["report", run["id"], "--json"])["json"] or {}
                return Path(out.get("report") or report)
            return report

        self.show_message(f"preparing the report of {run['id']}…")
        self.tasks.submit(ensure, self._open_report, lambda m: self.show_error(f"The report could not be written: {m}"))

    def _open_report(self, path: Path) -> None:
        self.statusBar().clearMessage()
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.show_message(f"opened {path}")
        else:
            self.banner.show_info(f"The report is at {path} (no program here opens .md files; "
                                  "open it in an editor or a browser).")

    # -- settings and closing ----------------------------------------------------------------
    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in QSettings().value("recentWorkspaces", [], type=list):
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_workspace_requested.emit(p))

    def _restore_settings(self) -> None:
        s = QSettings()
        if s.value("geometry") is not None:
            self.restoreGeometry(s.value("geometry"))
        else:
            self.resize(1280, 820)
        if s.value("windowState") is not None:
            self.restoreState(s.value("windowState"))
        for key, splitter in self._splitters().items():
            if s.value(f"splitters/{key}") is not None:
                splitter.restoreState(s.value(f"splitters/{key}"))
        self.tabs.setCurrentIndex(int(s.value("tab", 0)))

    def _splitters(self) -> dict:
        return {"runs": self.runs_tab.splitter, "curves": self.curves_tab.splitter,
                "system": self.system_tab.splitter, "leaderboard": self.leaderboard_tab.splitter}

    def save_settings(self) -> None:
        s = QSettings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("tab", self.tabs.currentIndex())
        for key, splitter in self._splitters().items():
            s.setValue(f"splitters/{key}", splitter.saveState())

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers and join every thread we started. Training runs keep going."""
        if self._closed:
            return
        self._closed = True
        self.save_settings()
        self._reaper.stop()
        self.curves_tab.timer.stop()
        self.evals.shutdown()
        if not self.poller_thread.stop():
            self.show_error("the store poller did not stop in time")
        if not self.tasks.shutdown():
            self.show_error("a background task did not finish in time")
