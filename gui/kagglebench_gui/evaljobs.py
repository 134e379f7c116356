"""OOD evaluations started from the app: `kagglebench eval RUN --ood --json`, one child
process at a time (they share the CPU or GPU with training), with progress in the status
bar (its stderr lines, shown as they come) and the result, or the error, read from the
command's JSON on stdout."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal


class EvalQueue(QObject):
    progress = Signal(str)          # a line for the status bar
    finished = Signal(str, dict)    # run id, the command's JSON
    failed = Signal(str)            # the whole error message

    def __init__(self, ws_root: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ws_root = ws_root
        self.program = [sys.executable, "-m", "kagglebench"]  # tests point it at a stand-in
        self.queue: list[str] = []
        self.current: str | None = None
        self.proc: QProcess | None = None
        self.intervals: dict[str, list[float]] = {}
        self._started = 0.0
        self._last_line = ""
        self._clock = QTimer(self)
        self._clock.timeout.connect(self._tick)

    def add(self, run_id: str) -> None:
        if run_id != self.current and run_id not in self.queue:
            self.queue.append(run_id)
        self._next()

    def busy(self) -> bool:
        return self.current is not None

    def _next(self) -> None:
        if self.current is not None or not self.queue:
            return
        self.current = self.queue.pop(0)
        self._last_line = "starting"
        self._started = time.monotonic()
        self.proc = QProcess(self)
        self.proc.setWorkingDirectory(str(self.ws_root))
        self.proc.readyReadStandardError.connect(self._read_err)
        self.proc.finished.connect(self._done)
        self.proc.errorOccurred.connect(self._error)
        self.proc.start(self.program[0], [*self.program[1:], "--workspace", str(self.ws_root), "eval",
                                          self.current, "--ood", "--json"])
        self._clock.start(1000)
        self._tick()

    def _read_err(self) -> None:
        text = bytes(self.proc.readAllStandardError()).decode("utf-8", errors="replace")
        # Progress bars redraw one line with \r: show the latest state of the latest line.
        lines = [ln.rsplit("\r", 1)[-1].strip() for ln in text.split("\n")]
        lines = [ln for ln in lines if ln]
        if lines:
            self._last_line = lines[-1]   # shown as progress, never read for errors

    def _tick(self) -> None:
        if self.current is None:
            return
        s = int(time.monotonic() - self._started)
        more = f" ({len(self.queue)} more queued)" if self.queue else ""
        self.progress.emit(f"evaluating {self.current} (OOD) {s // 60}:{s % 60:02d}: {self._last_line}{more}")

    def _error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.FailedToStart:
            self._finish_with_error(f"could not start the evaluation of {self.current}")

    def _done(self, code: int, _status: QProcess.ExitStatus) -> None:
        rid, out = self.current, bytes(self.proc.readAllStandardOutput()).decode("utf-8", errors="replace")
        if rid is None:
            return
        if code != 0:
            from kagglebench_gui.workers import json_error
            self._finish_with_error(f"Evaluating {rid} failed: {json_error(out) or f'exit status {code}'}")
            return
        try:
            result = json.loads(out)
        except json.JSONDecodeError:
            self._finish_with_error(f"Evaluating {rid} printed something that is not JSON")
            return
        if result.get("ood_ci"):
            self.intervals[rid] = list(result["ood_ci"])
        self._reset()
        self.finished.emit(rid, result)
        self._next()

    def _finish_with_error(self, msg: str) -> None:
        self._reset()
        self.failed.emit(msg)
        self._next()

    def _reset(self) -> None:
        self._clock.stop()
        self.current = None
        if self.proc is not None:
            self.proc.deleteLater()
            self.proc = None

    def shutdown(self, grace_ms: int = 3000) -> None:
        """On close: end the evaluation we started (training runs are never touched)."""
        self.queue.clear()
        if self.proc is not None and self.proc.state() != QProcess.NotRunning:
            self.proc.finished.disconnect(self._done)
            self.proc.terminate()
            if not self.proc.waitForFinished(grace_ms):
                self.proc.kill()
                self.proc.waitForFinished(grace_ms)
        self._reset()
