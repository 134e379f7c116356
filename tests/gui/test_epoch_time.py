"""Issue 15 item 5: the New run dialog shows the time per epoch measured from a few steps
(`kagglebench find epoch-time ... --json`, a child process), the earlier runs' figure only
while it measures, and measures again when a field changes."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from kagglebench.config import load_recipe
from kagglebench.runs import Run
from kagglebench.store import Store
from tests.gui.conftest import add_run

WAIT_MS = 30_000

# A stand-in for `python -m kagglebench`: answers `find epoch-time` after GATE exists.
FAKE = textwrap.dedent("""
    import json, os, sys, time
    args = sys.argv[1:]
    log, gate = os.environ["FAKE_LOG"], os.environ["FAKE_GATE"]
    with open(log, "a") as f:
        f.write(json.dumps(args) + "\\n")
    i = args.index("epoch-time")
    assert args[i - 1] == "find" and "--json" in args
    for _ in range(600):
        if os.path.exists(gate):
            break
        time.sleep(0.05)
    bs = 64 if "train.batch_size=64" in args else 128
    steps = int(args[args.index("--steps") + 1])
    per_step = 6.0 if bs == 128 else 3.0
    print(json.dumps({"seconds_per_step": per_step, "steps_per_epoch": 20, "seconds_per_epoch": 20 * per_step,
                      "images_per_s": bs / per_step, "steps": steps, "warmup_steps": 2, "batch_size": bs,
                      "device": "cpu"}))
""")


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    import kagglebench_gui.workers as workers
    script = tmp_path / "fake_kb.py"
    script.write_text(FAKE)
    log, gate = tmp_path / "calls.log", tmp_path / "gate"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_GATE", str(gate))
    monkeypatch.setattr(workers, "CLI", [sys.executable, str(script)])
    return log, gate


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


def test_new_run_shows_the_measured_epoch_time_and_the_earlier_runs_meanwhile(gui_ws, qtbot, fake_cli):
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.workers import TaskPool
    from kagglebench_gui.wsinfo import open_workspace
    log, gate = fake_cli
    with Store(gui_ws / "kagglebench.db") as s:          # an earlier run of lenet5: 900 images at 1234/s
        add_run(s, "earlier")
    Run.write(gui_ws / "runs" / "earlier", "earlier", load_recipe("lenet5"), ["a"], {"n_train": 900})
    tasks = TaskPool()
    dlg = NewRunDialog(tasks, recipe="lenet5", ws=open_workspace(gui_ws))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "train.epochs" in dlg._editors, timeout=WAIT_MS)
    # Measuring: the earlier run's figure stands in.
    qtbot.waitUntil(lambda: "Meanwhile, from earlier runs" in dlg.estimate.text(), timeout=WAIT_MS)
    assert "Timing a few training steps" in dlg.estimate.text() and "measured by run earlier" in dlg.estimate.text()
    gate.touch()
    qtbot.waitUntil(lambda: "measured from 5 steps" in dlg.estimate.text(), timeout=WAIT_MS)
    assert dlg.estimate.text().startswith("About 2.0 min per epoch here")
    assert "earlier runs" not in dlg.estimate.text() and "batch 128 on cpu" in dlg.estimate.text()
    assert _calls(log) == [["--workspace", str(gui_ws.resolve()), "find", "epoch-time", "lenet5",
                            "--steps", "5", "--json"]]
    # A changed field: measured again, with the override.
    dlg.set_field("batch_size", "64")
    dlg._editors["train.batch_size"].editingFinished.emit()
    qtbot.waitUntil(lambda: "About 60 s per epoch here" in dlg.estimate.text(), timeout=WAIT_MS)
    assert "train.batch_size=64" in _calls(log)[-1] and len(_calls(log)) == 2
    dlg._editors["train.batch_size"].editingFinished.emit()     # nothing changed: no new measurement
    qtbot.wait(200)
    assert len(_calls(log)) == 2
    assert tasks.shutdown()


def test_a_failed_measurement_says_why_from_the_json_error(gui_ws, qtbot, tmp_path, monkeypatch):
    import kagglebench_gui.workers as workers
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.workers import TaskPool
    from kagglebench_gui.wsinfo import open_workspace
    script = tmp_path / "fails.py"
    script.write_text("import json, sys\nprint('kagglebench: error: STDERR', file=sys.stderr)\n"
                      "print(json.dumps({'error': {'where': 'data/train', 'what': 'not found', "
                      "'message': 'data/train: not found'}}))\nsys.exit(2)\n")
    monkeypatch.setattr(workers, "CLI", [sys.executable, str(script)])
    tasks = TaskPool()
    dlg = NewRunDialog(tasks, recipe="lenet5", ws=open_workspace(gui_ws))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "Could not time" in dlg.estimate.text(), timeout=WAIT_MS)
    assert "data/train: not found" in dlg.estimate.text() and "STDERR" not in dlg.estimate.text()
    assert tasks.shutdown()


def test_the_dialog_measures_with_the_real_engine(fresh_ws, qtbot):
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.workers import TaskPool
    from kagglebench_gui.wsinfo import open_workspace
    tasks = TaskPool()
    dlg = NewRunDialog(tasks, recipe="demo-cnn", ws=open_workspace(fresh_ws))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "measured from 5 steps" in dlg.estimate.text(), timeout=180_000)
    assert "per epoch here" in dlg.estimate.text() and "batch " in dlg.estimate.text()
    assert tasks.shutdown()


def test_closing_the_dialog_ends_a_measurement_still_running(gui_ws, qtbot, fake_cli):
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.workers import TaskPool
    from kagglebench_gui.wsinfo import open_workspace
    tasks = TaskPool()
    dlg = NewRunDialog(tasks, recipe="lenet5", ws=open_workspace(gui_ws))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg._child is not None, timeout=WAIT_MS)   # the gate stays shut: it waits
    child = dlg._child
    dlg.reject()
    assert child.wait(10) is not None and child.returncode != 0
    qtbot.waitUntil(lambda: tasks.pool.activeThreadCount() == 0, timeout=WAIT_MS)
    assert tasks.shutdown()


def test_short_epochs_are_not_shown_as_zero_seconds():
    from kagglebench_gui.newrun import measured_text
    from kagglebench_gui.wsinfo import human_seconds

    assert [human_seconds(s) for s in (0.25, 3.46, 16.4, 600, 7200)] == ["0.25 s", "3.5 s", "16 s", "10.0 min", "2.0 h"]
    doc = {"seconds_per_epoch": 0.2531, "steps": 5, "batch_size": 64, "device": "cpu"}
    assert measured_text(doc).startswith("About 0.25 s per epoch here (measured from 5 steps of batch 64 on cpu")
