"""The main window on a workspace with recorded runs: table, curves fed by another process,
stop, delete, the new-run dialog, and clean shutdown (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from kagglebench.store import Store
from tests.gui.conftest import add_run, epoch_rows

WAIT_MS = 20_000


def statuses(w) -> dict[str, str]:
    return {r["id"]: r["status"] for r in w.runs_tab.model.runs}


def cell(w, run_id: str, column: str) -> str:
    from kagglebench_gui.runs import COLUMNS
    row = next(i for i, r in enumerate(w.runs_tab.model.runs) if r["id"] == run_id)
    return w.runs_tab.model.index(row, COLUMNS.index(column)).data()


def test_window_shows_recorded_runs_and_a_failed_runs_log(gui_ws: Path, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "done-1", status="finished", best=0.8125, ood=0.5)
        add_run(s, "live-2", status="running", epoch=2, total=5)  # pid = this test process: alive
        add_run(s, "dead-3", status="failed")
    log = gui_ws / "runs" / "dead-3" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text("epoch 1/10 loss 2.1\nTraceback (most recent call last):\nRuntimeError: out of memory\n")
    w = make_window(gui_ws)
    qtbot.waitUntil(lambda: len(w.runs_tab.model.runs) == 3, timeout=WAIT_MS)
    assert statuses(w) == {"done-1": "finished", "live-2": "running", "dead-3": "failed"}
    assert cell(w, "done-1", "Best val acc") == "81.25%"
    assert cell(w, "done-1", "OOD estimate") == "50.00%"
    assert cell(w, "live-2", "Epoch") == "2/5"
    w.runs_tab.select_ids({"dead-3"})
    w.runs_tab._on_selection()
    assert "RuntimeError: out of memory" in w.runs_tab.details.toPlainText()
    # The filter narrows the table; sorting by accuracy works on numbers, not text.
    w.runs_tab.filter.setText("fail")
    assert w.runs_tab.proxy.rowCount() == 1
    w.runs_tab.filter.clear()
    assert w.tabs.count() == 5 and w.menuBar().actions()


def test_crashed_process_shows_failed_with_its_log(gui_ws: Path, make_window, qtbot):
    """A training process that dies without reporting is shown as failed, with the end of its log."""
    code = textwrap.dedent(f"""
        import os, sys
        from kagglebench.store import Store
        s = Store({str(gui_ws / 'kagglebench.db')!r})
        s.create_run("crash-1", name="crash-1", recipe="lenet5", config={{}}, run_dir="runs/crash-1",
                     total_epochs=3)
        os.makedirs({str(gui_ws / 'runs' / 'crash-1')!r}, exist_ok=True)
        open({str(gui_ws / 'runs' / 'crash-1' / 'train.log')!r}, "w").write("step 1\\nSegmentation fault\\n")
        os._exit(139)
    """)
    w = make_window(gui_ws)
    launch = w.procs.launch([sys.executable, "-c", code], "crash test")
    qtbot.waitUntil(lambda: statuses(w).get("crash-1") == "failed", timeout=WAIT_MS)
    run = w.runs_tab.run_by_id("crash-1")
    assert "Segmentation fault" in run["log_tail"]
    qtbot.waitUntil(lambda: launch not in w.procs.running(), timeout=WAIT_MS)


def test_curves_gain_points_when_another_process_writes_metrics(gui_ws: Path, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "grow-1", status="running", total=30)
        s.add_metrics("grow-1", epoch_rows(1, 2))
    w = make_window(gui_ws)
    qtbot.waitUntil(lambda: w.curves_tab.point_count("grow-1") == 2, timeout=WAIT_MS)
    writer = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from kagglebench.store import Store
        from tests.gui.conftest import epoch_rows
        s = Store({str(gui_ws / 'kagglebench.db')!r})
        for e in range(3, 13):
            s.add_metrics("grow-1", epoch_rows(e, e))
            time.sleep(0.05)
    """)
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
    qtbot.waitUntil(lambda: w.curves_tab.point_count("grow-1") == 12, timeout=WAIT_MS)
    w.curves_tab.x_axis.setCurrentText("epoch")
    w.curves_tab.repaint_curves(force=True)
    raw, _smooth = w.curves_tab._items[("grow-1", "val_acc")]
    xs, ys = raw.xData, raw.yData  # the full series (few points: nothing decimated)
    assert list(xs) == [float(e) for e in range(1, 13)]
    assert ys[-1] == pytest.approx(0.09 * 12)


STAND_IN = """
import os, signal, sys, time
from kagglebench.store import Store
s = Store(sys.argv[1])
s.create_run("stand-in", name="stand-in", recipe="lenet5", config={}, run_dir="runs/stand-in", total_epochs=9)
def stop(*_):
    s.finish_run("stand-in", "stopped", "stopped by SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.05)
"""


def test_stop_sends_sigterm_and_the_run_shows_stopped(gui_ws: Path, make_window, qtbot):
    w = make_window(gui_ws)
    launch = w.procs.launch([sys.executable, "-c", STAND_IN, str(gui_ws / "kagglebench.db")], "stand-in")
    try:
        qtbot.waitUntil(lambda: statuses(w).get("stand-in") == "running", timeout=WAIT_MS)
        w.runs_tab.select_ids({"stand-in"})
        w._update_actions()
        assert w.act_stop.isEnabled() and not w.act_delete.isEnabled()
        w.act_stop.trigger()
        qtbot.waitUntil(lambda: statuses(w).get("stand-in") == "stopped", timeout=WAIT_MS)
        assert launch.proc.wait(10) == 0
    finally:
        if launch.proc.poll() is None:
            launch.proc.kill()


def test_closing_the_window_leaves_runs_going(gui_ws: Path, make_window, qtbot):
    w = make_window(gui_ws)
    launch = w.procs.launch([sys.executable, "-c", STAND_IN, str(gui_ws / "kagglebench.db")], "stand-in")
    try:
        qtbot.waitUntil(lambda: statuses(w).get("stand-in") == "running", timeout=WAIT_MS)
        w.close()
        assert not w.poller_thread.thread.isRunning()
        time.sleep(0.3)
        assert launch.proc.poll() is None, "closing the window must not stop a training run"
        w2 = make_window(gui_ws)  # the next start finds the run again
        qtbot.waitUntil(lambda: statuses(w2).get("stand-in") == "running", timeout=WAIT_MS)
    finally:
        os.kill(launch.proc.pid, signal.SIGTERM)
        launch.proc.wait(10)


def test_delete_asks_then_removes_rows_and_folder(gui_ws: Path, make_window, qtbot, monkeypatch):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "old-1", status="stopped")
        s.add_metrics("old-1", epoch_rows(1, 3))
    folder = gui_ws / "runs" / "old-1" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "last.pt").write_bytes(b"x")
    w = make_window(gui_ws)
    qtbot.waitUntil(lambda: "old-1" in statuses(w), timeout=WAIT_MS)
    w.runs_tab.select_ids({"old-1"})
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Cancel)
    w.delete_selected()
    assert (gui_ws / "runs" / "old-1").exists()
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Yes)
    w.delete_selected()
    qtbot.waitUntil(lambda: "old-1" not in statuses(w), timeout=WAIT_MS)
    assert not (gui_ws / "runs" / "old-1").exists()
    with Store(gui_ws / "kagglebench.db") as s:
        assert s.get_run("old-1") is None and s.metrics_since("old-1") == []


def test_new_run_dialog_validates_like_the_cli(qtbot):
    pytest.importorskip("kagglebench.config")
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.workers import TaskPool
    tasks = TaskPool()
    dlg = NewRunDialog(tasks, recipe="lenet5")
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "train.epochs" in dlg._editors, timeout=WAIT_MS)
    assert dlg.texts()["optim.name"] == "sgd"  # every field shows its default
    dlg.set_field("epochs", "three")
    dlg._validate()
    qtbot.waitUntil(lambda: "epochs" in dlg.error.text(), timeout=WAIT_MS)
    assert not dlg.result()
    dlg.set_field("epochs", "2")
    with qtbot.waitSignal(dlg.accepted, timeout=WAIT_MS):
        dlg._validate()
    assert dlg.recipe == "lenet5" and dlg.overrides == ["train.epochs=2"]
    assert tasks.shutdown()
