"""The app with the real engine: a tiny run started from the new-run dialog trains to `finished`,
and Sync against the local Kaggle double fills the Leaderboard tab."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

HAVE_TRAINER = importlib.util.find_spec("kagglebench.train.runner") is not None
HAVE_DOUBLE = (Path(__file__).resolve().parents[1] / "kaggle" / "double.py").exists()


@pytest.mark.skipif(not HAVE_TRAINER, reason="the trainer (kagglebench.train.runner) is not there yet")
def test_tiny_run_launched_from_the_dialog_finishes(fresh_ws: Path, make_window, qtbot):
    w = make_window(fresh_ws)
    driver = QTimer()

    def drive() -> None:  # the dialog is modal: fill it in from the event loop
        dlg = getattr(w, "_dialog", None)
        if dlg is None or "train.epochs" not in dlg._editors or not dlg.isVisible():
            return
        driver.stop()
        dlg.name_edit.setText("from-the-dialog")
        dlg.set_field("epochs", "1")
        dlg.set_field("batch_size", "128")
        dlg._validate()

    driver.timeout.connect(drive)
    driver.start(50)
    w.new_run("simplecnn-1conv")
    driver.stop()

    def finished() -> bool:
        runs = [r for r in w.runs_tab.model.runs if r["name"] == "from-the-dialog"]
        return bool(runs) and runs[0]["status"] in ("finished", "failed", "diverged")

    qtbot.waitUntil(finished, timeout=300_000)
    run = next(r for r in w.runs_tab.model.runs if r["name"] == "from-the-dialog")
    assert run["status"] == "finished", run.get("log_tail") or run.get("message")
    assert run["total_epochs"] == 1 and run["best_val_acc"] is not None
    from kagglebench_gui.runs import COLUMNS
    row = w.runs_tab.model.runs.index(run)
    assert w.runs_tab.model.index(row, COLUMNS.index("Status")).data() == "finished"


@pytest.mark.skipif(not HAVE_DOUBLE, reason="the Kaggle API double (tests/kaggle/double.py) is not there yet")
def test_sync_against_the_kaggle_double_fills_the_leaderboard_tab(gui_ws: Path, make_window, qtbot, tmp_path,
                                                                 monkeypatch):
    from tests.kaggle.double import KaggleDouble

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    with KaggleDouble(competition="kagglebench-demo", leaderboard=[("Team Alpha", 0.71), ("Team Beta", 0.42)]) as kd:
        kd.write_credentials(tmp_path / "kaggle-config")
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
        for k, v in kd.subprocess_env(tmp_path / "site").items():  # keeps PYTHONPATH: this checkout
            monkeypatch.setenv(k, v)
        kd.add_external("first.csv", "first try", "0.5100", minutes_ago=120)
        kd.add_external("second.csv", "with flips", "0.5600", minutes_ago=30)
        w = make_window(gui_ws)
        lb = w.leaderboard_tab
        assert lb.subs.rowCount() == 0
        lb.sync_button.click()
        qtbot.waitUntil(lambda: lb.sync_button.isEnabled(), timeout=120_000)
        assert not w.banner.isVisible(), w.banner.text()
        qtbot.waitUntil(lambda: lb.subs.rowCount() == 2 and lb.board.rowCount() >= 2, timeout=60_000)
        texts = {lb.subs.item(r, 1).text() for r in range(2)}
        assert texts == {"first try", "with flips"}
        assert "56.00%" in lb.summary.text()  # scores read as the Runs tab reads accuracies
        teams = {lb.board.item(r, 1).text() for r in range(lb.board.rowCount())}
        assert {"Team Alpha", "Team Beta"} <= teams
        # The best-so-far line runs through both scores in time order.
        curves = lb.time_plot.listDataItems()
        assert any(list(c.yData) == [0.51, 0.51, 0.56] for c in curves), [list(c.yData) for c in curves]
        assert json.dumps(kd.key) not in lb.summary.text()
