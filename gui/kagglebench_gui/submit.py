"""The Submit tab: choose a run's checkpoint or an ensemble, see its estimates, check, submit.

Everything that computes or talks to Kaggle is the CLI, run as a subprocess on
the task pool with --json: `ensemble --top K --method M` for an ensemble's
estimates, `submit ... --dry-run` for the checks (validation of the CSV, the
remaining daily submissions, whether the gain is detectable on the public
leaderboard) and `submit ...` after the user confirms. The result lands in the
store, so the Leaderboard tab shows it when Kaggle has scored it.
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

from kagglebench_gui.runs import fmt_pct
from kagglebench_gui.workers import TaskPool, run_cli

# Lines of the CLI's stderr worth showing: limits and the detectability verdict.
_KEYWORDS = ("remaining", "left today", "daily", "detectab", "likely better", "likely worse",
             "indistinguishable", "local score", "answer key", "valid", "rows")


def interesting_lines(stderr: str) -> list[str]:
    lines = [ln.rstrip("\r").rsplit("\r", 1)[-1].strip() for ln in stderr.split("\n")]
    return [ln for ln in lines if ln and any(k in ln.lower() for k in _KEYWORDS)]


class SubmitTab(QWidget):
    submitted = Signal(str)  # a line for the status bar

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
        est_box = QGroupBox("Local estimates")
        QVBoxLayout(est_box).addWidget(self.estimates)
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
            self.run_pick.addItem(f"{r['name'] or r['id']}  (val {fmt_pct(r['best_val_acc'])})", r["id"])
        i = self.run_pick.findData(current)
        self.run_pick.setCurrentIndex(max(i, 0))
        self.run_pick.blockSignals(False)
        if self.single.isChecked():
            self._show_estimates()

    def _mode_changed(self, *_: object) -> None:
        one = self.single.isChecked()
        self.run_pick.setEnabled(one)
        for w in (self.top_k, self.method, self.estimate_btn):
            w.setEnabled(not one)
        self._show_estimates() if one else self.estimates.setText(
            "Press “Estimate ensemble” to compute the ensemble's validation and OOD estimates.")

    def _show_estimates(self, *_: object) -> None:
        rid = self.run_pick.currentData()
        run = next((r for r in self.runs if r["id"] == rid), None)
        if run is None:
            self.estimates.setText("No run with a validation score yet: train one first.")
            return
        self.estimates.setText(f"<b>{run['name'] or run['id']}</b>: validation {fmt_pct(run['best_val_acc'])}, "
                               f"OOD estimate {fmt_pct(run.get('ood_acc'))}"
                               + ("" if run.get("ood_acc") is not None else
                                  " (run `kagglebench eval RUN --ood` for the estimate)"))

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
        members = ", ".join(str(m if not isinstance(m, dict) else m.get("run", m)) for m in d.get("members", []))
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
        if not dry_run:
            what = " ".join(sel)
            ok = QMessageBox.question(self, "Submit to Kaggle?",
                                      f"Submit {what} with the message\n“{msg}”?\n\n"
                                      "This uses one of today's submissions.")
            if ok != QMessageBox.Yes:
                return
        tail = ["-m", msg, "--json"] + (["--dry-run"] if dry_run else [])
        greedy = self.ensemble.isChecked() and self.method.currentText() == "greedy"
        k, root = self.top_k.value(), self.ws_root
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(False)
        self.output.setPlainText("Checking…" if dry_run else "Submitting…")

        def work() -> dict:
            if not greedy:
                return run_cli(root, ["submit", *sel, *tail])
            # `submit --ensemble` averages the top K; a greedy selection is written by
            # `ensemble` first and submitted as a file.
            out = root / "submissions" / f"greedy-top{k}.csv"
            run_cli(root, ["ensemble", "--top", str(k), "--method", "greedy", "--out", str(out), "--json"])
            return run_cli(root, ["submit", "--file", str(out), *tail])

        self.tasks.submit(work, lambda r: self._done(r, dry_run), self._failed)

    def _done(self, result: dict, dry_run: bool) -> None:
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(True)
        d = result.get("json") or {}
        lines = interesting_lines(result.get("stderr", ""))
        lines += [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in d.items()
                  if k in ("file", "rows", "status", "local_score", "ref", "remaining", "detectability")]
        head = "Dry run: nothing was sent." if dry_run else "Submitted. Scores appear in the Leaderboard tab."
        self.output.setPlainText("\n".join([head, *lines]))
        self.submitted.emit(head if dry_run else f"submitted {Path(str(d.get('file', ''))).name}")

    def _failed(self, msg: str) -> None:
        for b in (self.check_btn, self.submit_btn):
            b.setEnabled(True)
        self.output.setPlainText(f"Not submitted: {msg}")
        self.submitted.emit(f"submit: {msg}")
