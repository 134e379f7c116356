"""The Submit tab: choose a run's checkpoint or an ensemble, see its estimates, check, submit.

Everything that computes or talks to Kaggle is the CLI, run as a subprocess on the task
pool, and the tab reads only its JSON (never its stderr): `ensemble --top K --method M
--json` for an ensemble's estimates, `submit ... --json --dry-run` for the checks and
`submit ... --json` after the user confirms. `submit --json` answers with the file, its
sha256 and rows, the Kaggle ref and status, the local score, the submissions left today,
the detectability verdict and the members; a greedy ensemble is one `submit --ensemble
topK --method greedy`, so its record keeps its members. The result lands in the store, so
the Leaderboard tab shows it when Kaggle has scored it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.labels import fmt_pct, run_label
from kagglebench_gui.workers import TaskPool, run_cli


def describe_selection(single: bool, run: dict | None, k: int, method: str) -> str:
    """What is about to be submitted, in words (the confirmation speaks no CLI)."""
    if single:
        return f"the best checkpoint of run {run_label(run, changes=False)}" if run else "a run"
    if method == "greedy":
        return f"an ensemble chosen greedily among the checkpoints of your {2 * k} best runs"
    return f"the average of your {k} best runs"


def submit_lines(d: dict, dry_run: bool) -> list[str]:
    """The answer of `submit --json`, in sentences; fields the answer lacks are left out."""
    out = []
    if d.get("file"):
        rows = f"{d['rows']:,} rows, " if d.get("rows") is not None else ""
        out.append(f"File: {d['file']} ({rows}valid" + (f", sha256 {d['sha256'][:12]}…" if d.get("sha256") else "")
                   + ")")
    members = d.get("members") or []
    if members:
        out.append("Members: " + ", ".join(f"{m.get('run', '?')}:{m.get('checkpoint', '')}".rstrip(":")
                                           + (f" ×{m['weight']:g}" if m.get("weight") not in (None, 1, 1.0) else "")
                                           for m in members))
    if d.get("local_score") is not None:
        out.append(f"Local estimate: {fmt_pct(d['local_score'])}"
                   + (" (scored against the local answer key)" if dry_run and d.get("status") == "dry-run" else ""))
    det = d.get("detectable")
    if det:
        out.append(f"Compared with {det.get('against', 'your best submission')}: {det.get('verdict', '?')} "
                   f"(gain {100 * det.get('diff', 0):+.2f} points, 95% interval "
                   f"{100 * det.get('low', 0):+.2f} to {100 * det.get('high', 0):+.2f} on "
                   f"{det.get('public_rows', '?'):,} public-leaderboard images)")
    if d.get("remaining_today") is not None:
        out.append(f"Submissions left today: {d['remaining_today']}")
    if d.get("ref"):
        out.append(f"Kaggle reference: {d['ref']}")
    if d.get("status") and not dry_run:
        out.append(f"Status: {d['status']}")
    if d.get("public_score") is not None:
        out.append(f"Public score: {fmt_pct(d['public_score'])}")
    return out


class SubmitTab(QWidget):
    submitted = Signal(str)           # a line for the status bar
    failed = Signal(str)              # the whole error, for the window's banner
    evaluate_requested = Signal(list)  # run ids to evaluate (OOD) from here

    def __init__(self, tasks: TaskPool, ws_root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks, self.ws_root = tasks, ws_root
        self.runs: list[dict] = []
        self.single = QRadioButton("One run's best checkpoint")
        self.ensemble = QRadioButton("An ensemble of the best checkpoints")
        self.ensemble.setChecked(True)
        group = QButtonGroup(self)
        for b in (self.single, self.ensemble):
            group.addButton(b)
            b.toggled.connect(self._mode_changed)
        self.run_pick = QComboBox()
        self.run_pick.currentIndexChanged.connect(self._show_estimates)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 20)
        self.top_k.setValue(3)
        self.method = QComboBox()
        self.method.addItems(["mean", "greedy"])
        self.method.setToolTip("mean: average the top K; greedy: forward selection on validation logits")
        self.estimate_btn = QPushButton("Estimate ensemble")
        self.estimate_btn.clicked.connect(self.estimate)
        choose = QGroupBox("What to submit")
        form = QFormLayout(choose)
        form.addRow(self.single)
        form.addRow("Run", self.run_pick)
        form.addRow(self.ensemble)
        ens = QHBoxLayout()
        for w in (QLabel("top K"), self.top_k, QLabel("method"), self.method, self.estimate_btn):
            ens.addWidget(w)
        ens.addStretch(1)
        form.addRow(ens)
        self.estimates = QLabel("Validation and OOD estimates appear here.")
        self.estimates.setWordWrap(True)
        self.eval_btn = QPushButton("Evaluate (OOD)")
        self.eval_btn.setToolTip("Compute this run's local out-of-distribution estimate (a minute or two on a CPU)")
        self.eval_btn.clicked.connect(lambda: self.run_pick.currentData()
                                      and self.evaluate_requested.emit([self.run_pick.currentData()]))
        est_box = QGroupBox("Local estimates")
        el = QHBoxLayout(est_box)
        el.addWidget(self.estimates, 1)
        el.addWidget(self.eval_btn, 0)
        self.message = QLineEdit()
        self.message.setPlaceholderText("Message shown on Kaggle, e.g. 'resnet18 + flip TTA, top3 ensemble'")
        self.check_btn = QPushButton("Check (dry run)")
        self.check_btn.setToolTip("Write and validate the CSV, show the remaining daily submissions and "
                                  "whether the gain is detectable — nothing is sent")
        self.check_btn.clicked.connect(lambda: self.run_submit(dry_run=True))
        self.submit_btn = QPushButton("Submit to Kaggle…")
        self.submit_btn.clicked.connect(lambda: self.run_submit(dry_run=False))
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_btn)
        buttons.addWidget(self.submit_btn)
        buttons.addStretch(1)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("The checks and Kaggle's answer appear here.")
        lay = QVBoxLayout(self)
        lay.addWidget(choose)
        lay.addWidget(est_box)
        msg_row = QFormLayout()
        msg_row.addRow("Message", self.message)
        lay.addLayout(msg_row)
        lay.addLayout(buttons)
        lay.addWidget(self.output, 1)
        self._mode_changed()

    def set_runs(self, runs: list[dict]) -> None:
        self.runs = [r for r in runs if r.get("best_val_acc") is not None]
        current = self.run_pick.currentData()
        self.run_pick.blockSignals(True)
        self.run_pick.clear()
        for r in sorted(self.runs, key=lambda r: -r["best_val_acc"]):
            self.run_pick.addItem(f"{run_label(r)}  (val {fmt_pct(r['best_val_acc'])})", r["id"])
        i = self.run_pick.findData(current)
        self.run_pick.setCurrentIndex(max(i, 0))
        self.run_pick.blockSignals(False)
        if self.single.isChecked():
            self._show_estimates()

    def _mode_changed(self, *_: object) -> None:
        one = self.single.isChecked()
        self.run_pick.setEnabled(one)
        self.eval_btn.setVisible(one)
        for w in (self.top_k, self.method, self.estimate_btn):
            w.setEnabled(not one)
        self._show_estimates() if one else self.estimates.setText(
            "Press “Estimate ensemble” to compute the ensemble's validation and OOD estimates.")

    def _show_estimates(self, *_: object) -> None:
        from kagglebench_gui.runs import fmt_ood
        rid = self.run_pick.currentData()
        run = next((r for r in self.runs if r["id"] == rid), None)
        self.eval_btn.setEnabled(run is not None and run["status"] != "running")
        if run is None:
            self.estimates.setText("No run with a validation score yet: train one first.")
            return
        self.estimates.setText(f"<b>{run_label(run, changes=False)}</b>: validation {fmt_pct(run['best_val_acc'])}, "
                               f"OOD estimate {fmt_ood(run)}"
                               + ("" if run.get("ood_acc") is not None else
                                  " — press “Evaluate (OOD)” for the estimate"))

    def selection_args(self) -> list[str]:
        if self.single.isChecked():
            rid = self.run_pick.currentData()
            return ["--run", rid] if rid else []
        return ["--ensemble", f"top{self.top_k.value()}"]

    def estimate(self) -> None:
        self.estimate_btn.setEnabled(False)
        self.estimates.setText("Computing the ensemble from cached logits…")
        args = ["ensemble", "--top", str(self.top_k.value()), "--method", self.method.currentText(), "--json"]
        root = self.ws_root
        self.tasks.submit(lambda: run_cli(root, args)["json"], self._got_estimate, self._estimate_failed)

    def _got_estimate(self, d: dict) -> None:
        self.estimate_btn.setEnabled(True)
        members = ", ".join(str(m if not isinstance(m, dict) else m.get("run", m)) for m in d.get("members") or [])
        self.estimates.setText(f"<b>Ensemble</b> of {len(d.get('members', []))}: validation "
                               f"{fmt_pct(d.get('val_acc'))}, OOD estimate {fmt_pct(d.get('ood_acc'))}"
                               f"<br>members: {members}")

    def _estimate_failed(self, msg: str) -> None:
        self.estimate_btn.setEnabled(True)
        self.estimates.setText(f"Could not estimate: {msg}")

    def run_submit(self, dry_run: bool) -> None:
        sel = self.selection_args()
        msg = self.message.text().strip()
        if not sel:
            self.output.setPlainText("Choose a run or an ensemble first.")
            return
        if not msg:
            self.output.setPlainText("Write a message first: it is how you will recognise this submission.")
            self.message.setFocus()
            return
        greedy = self.ensemble.isChecked() and self.method.currentText() == "greedy"
        if not dry_run:
            run = next((r for r in self.runs if r["id"] == self.run_pick.currentData()), None)
            what = describe_selection(self.single.isChecked(), run, self.top_k.value(), self.method.currentText())
            box = QMessageBox(QMessageBox.Question, "Submit to Kaggle?",
                              f"Submit {what} with the message\n“{msg}”?\n\nThis uses one of today's "
                              "submissions.", QMessageBox.Yes | QMessageBox.Cancel, self)
            box.button(QMessageBox.Yes).setText("Submit")
            box.setDefaultButton(QMessageBox.Cancel)  # Enter must not spend a submission
            self._confirm = box
            if box.exec() != QMessageBox.Yes:
                return
        args = ["submit", *sel, *(["--method", "greedy"] if greedy else []), "-m", msg, "--json",
                *(["--dry-run"] if dry_run else [])]
        root = self.ws_root
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(False)
        self.output.setPlainText("Checking…" if dry_run else "Submitting…")
        self.tasks.submit(lambda: run_cli(root, args)["json"] or {}, lambda d: self._done(d, dry_run), self._failed)

    def _done(self, d: dict, dry_run: bool) -> None:
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(True)
        head = "Dry run: nothing was sent." if dry_run else "Submitted. Scores appear in the Leaderboard tab."
        self.output.setPlainText("\n".join([head, *submit_lines(d, dry_run)]))
        self.submitted.emit(head if dry_run else f"submitted {Path(str(d.get('file', ''))).name}")

    def _failed(self, msg: str) -> None:
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(True)
        self.output.setPlainText(f"Not submitted: {msg}")
        self.failed.emit(f"Not submitted: {msg}")
