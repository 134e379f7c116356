"""One test per defect a new user met in the desktop app (issue: the app at the level of
TensorBoard and W&B), each failing on the app as it was. pytest-qt, offscreen."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from kagglebench.store import Store
from tests.gui.conftest import add_run, epoch_rows

WAIT_MS = 20_000


def step_rows(first: int, last: int) -> list[dict]:
    return [{"scope": "step", "step": s, "epoch": s / 1000, "train_loss": 2.0 / (1 + s / 100) + (s % 7) * 0.01,
             "train_acc": 0.5, "lr": 0.1, "images_per_s": 900.0 + s % 13} for s in range(first, last)]


def wait_runs(w, qtbot, n: int) -> None:
    qtbot.waitUntil(lambda: len(w.runs_tab.model.runs) == n, timeout=WAIT_MS)


def cell(w, run_id: str, column: str) -> str:
    from kagglebench_gui.runs import COLUMNS
    row = next(i for i, r in enumerate(w.runs_tab.model.runs) if r["id"] == run_id)
    return w.runs_tab.model.index(row, COLUMNS.index(column)).data()


def tick(w, run_id: str, on: bool = True) -> None:
    lst = w.curves_tab.runs_list
    item = next(lst.item(i) for i in range(lst.count()) if lst.item(i).data(Qt.UserRole) == run_id)
    item.setCheckState(Qt.Checked if on else Qt.Unchecked)


# -- 1. long runs ------------------------------------------------------------------------------
def test_a_long_run_is_drawn_decimated_from_its_summary_then_its_rows(gui_ws, make_window, qtbot, monkeypatch):
    import kagglebench_gui.series as series
    monkeypatch.setattr(series, "OVERVIEW_ROWS", 5_000)
    monkeypatch.setattr(series, "BLOCK_ROWS", 4_000)
    monkeypatch.setattr("kagglebench_gui.workers.BLOCK_ROWS", 4_000)
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "long", status="stopped")
        s.add_metrics("long", step_rows(0, 30_000))
        add_run(s, "later", status="finished")  # the latest run is the one ticked at start
        lo, hi = s.db.execute("SELECT MIN(train_loss), MAX(train_loss) FROM metrics WHERE run_id='long'").fetchone()
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 2)
    seen = []
    w.poller.overview.connect(lambda rid, ov: seen.append(("overview", rid)))
    w.poller.metrics.connect(lambda rid, block: block["step"] is not None
                             and seen.append((type(block["step"]["train_loss"]).__name__, rid)))
    tick(w, "long")
    qtbot.waitUntil(lambda: ("long", "train_loss") in w.curves_tab._items
                    and w.curves_tab._items[("long", "train_loss")][0].xData is not None
                    and len(w.curves_tab._items[("long", "train_loss")][0].xData) > 0, timeout=WAIT_MS)
    raw = w.curves_tab._items[("long", "train_loss")][0]
    # The first picture: the whole run, its extremes exact, drawn from a few thousand points.
    assert raw.xData.min() == 0 and raw.xData.max() == 29_999
    assert raw.yData.min() == pytest.approx(lo) and raw.yData.max() == pytest.approx(hi)
    qtbot.waitUntil(lambda: w.curves_tab.data["long"].loaded, timeout=WAIT_MS)
    assert seen[0] == ("overview", "long")
    assert ("ndarray", "long") in seen  # rows were converted in the poller's thread
    w.curves_tab.repaint_curves(force=True)
    raw = w.curves_tab._items[("long", "train_loss")][0]
    width = w.curves_tab.plots["Loss"].getViewBox().width()
    assert len(raw.xData) <= 2 * max(100, width) + 2 < 30_000  # decimated, not every point
    assert raw.yData.min() == pytest.approx(lo) and raw.yData.max() == pytest.approx(hi)
    assert w.curves_tab.point_count("long") == 30_000


# -- 2. runs you can tell apart ----------------------------------------------------------------
def test_runs_show_id_changes_stable_colour_tags_note_and_filters(gui_ws, make_window, qtbot):
    from kagglebench.config import load_recipe, recipe_to_dict
    from kagglebench_gui.labels import run_colour
    cfg = recipe_to_dict(load_recipe("lenet5", ["optim.lr=0.05"]))
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "lenet5-aaaa", name="lenet5")
        s.update_run("lenet5-aaaa", config=cfg)
        add_run(s, "lenet5-bbbb", name="lenet5")
        s.update_run("lenet5-bbbb", config=recipe_to_dict(load_recipe("lenet5")), sweep_id="sweep-1")
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 2)
    qtbot.waitUntil(lambda: cell(w, "lenet5-aaaa", "Changes") == "lr=0.05", timeout=WAIT_MS)
    assert cell(w, "lenet5-aaaa", "Id") == "lenet5-aaaa" and cell(w, "lenet5-bbbb", "Changes") == ""
    labels = [w.curves_tab.runs_list.item(i).text() for i in range(w.curves_tab.runs_list.count())]
    assert any("lenet5-aaaa" in t and "lr=0.05" in t for t in labels)
    assert run_colour("lenet5-aaaa") == run_colour("lenet5-aaaa") != run_colour("lenet5-bbbb")
    # Tags and a note, edited in the details pane, land in the store and come back.
    w.runs_tab.select_ids({"lenet5-aaaa"})
    w.runs_tab._on_selection()
    w.runs_tab.tags_edit.setText("baseline, lr")
    w.runs_tab.note_edit.setPlainText("higher lr: faster start")
    w.runs_tab.save_labels.click()
    qtbot.waitUntil(lambda: cell(w, "lenet5-aaaa", "Tags") == "baseline, lr", timeout=WAIT_MS)
    with Store(gui_ws / "kagglebench.db") as s:
        assert s.get_run("lenet5-aaaa")["note"] == "higher lr: faster start"
    w.runs_tab.set_facet("tag:baseline")
    assert w.runs_tab.proxy.rowCount() == 1
    w.runs_tab.set_facet("sweep:sweep-1")
    assert w.runs_tab.proxy.index(0, 1).data() == "lenet5-bbbb" and w.runs_tab.proxy.rowCount() == 1
    w.runs_tab.set_facet(None)
    # Two selected runs: their settings side by side, the differing one first.
    w.runs_tab.select_ids({"lenet5-aaaa", "lenet5-bbbb"})
    w.compare_selected()        # the two Run records are opened off the UI thread
    qtbot.waitUntil(lambda: getattr(w, "_diff", None) is not None, timeout=WAIT_MS)
    dlg = w._diff
    assert dlg.differing == ["optim.lr"] and dlg.table.item(0, 0).text() == "optim.lr"


def test_runs_table_filters_by_study_and_curves_overlay_a_study(gui_ws, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        for rid, study in (("t0", "lr-search"), ("t1", "lr-search"), ("other", None)):
            add_run(s, rid)
            s.add_metrics(rid, epoch_rows(1, 2))
            if study:  # as `kagglebench tune` records its trials
                cols = {r[1] for r in s.db.execute("PRAGMA table_info(runs)")}
                if "study" in cols:
                    s.update_run(rid, study=study)
                else:
                    s.set_tags(rid, [f"study:{study}"])
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 3)
    w.runs_tab.set_facet("study:lr-search")
    assert w.runs_tab.proxy.rowCount() == 2
    w.curves_tab.show_study("lr-search")
    assert w.curves_tab.checked() == {"t0", "t1"}


# -- 3. curves ---------------------------------------------------------------------------------
def test_curves_smooth_hover_log_axes_x_modes_more_plots_outside_legend(gui_ws, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "a")
        s.add_metrics("a", step_rows(0, 400) + [dict(r, val_top5=0.9, images_per_s=1000.0)
                                                 for r in epoch_rows(1, 3, steps_per_epoch=100)])
    w = make_window(gui_ws)
    c = w.curves_tab
    qtbot.waitUntil(lambda: c.point_count("a") == 403, timeout=WAIT_MS)
    c.smoothing.setValue(90)
    c.repaint_curves(force=True)
    raw, smooth = c._items[("a", "train_loss")]
    assert len(smooth.yData) == len(raw.yData) and np.std(np.diff(smooth.yData)) < np.std(np.diff(raw.yData))
    assert raw.opts["pen"].color().alpha() < 255  # the raw curve faint behind
    assert len(c._items[("a", "val_top5")][0].yData) == 3 and len(c._items[("a", "images_per_s")][0].yData)
    # Log scale on a constant learning rate: the curve stays on screen (it went blank).
    c.log_boxes["Learning rate"].setChecked(True)
    c.repaint_curves(force=True)
    qtbot.wait(200)
    lo, hi = c.plots["Learning rate"].getViewBox().viewRange()[1]
    assert np.isfinite([lo, hi]).all() and lo <= np.log10(0.1) <= hi
    # Hover: every plotted run's values at that x.
    c.set_hover_x(200)
    assert "loss" in c.readout.text() and "a" in c.readout.text() and "lr 0.1" in c.readout.text()
    # x axis modes
    c.x_axis.setCurrentText("wall time")
    assert type(c.plots["Loss"].getAxis("bottom")).__name__ == "DateAxisItem"
    c.x_axis.setCurrentText("relative time (h)")
    c.repaint_curves(force=True)
    assert c._items[("a", "train_loss")][0].xData.min() >= 0
    assert c._items[("a", "train_loss")][0].xData.max() < 1  # hours, not seconds since 1970
    # The legend has its own cell, outside every plot's data area.
    for p in c.plots.values():
        assert c.legend not in p.getViewBox().addedItems and not p.sceneBoundingRect().intersects(
            c.legend.sceneBoundingRect().adjusted(2, 2, -2, -2))


def test_selection_in_runs_leaves_ticked_runs_alone_and_new_runs_are_followed(gui_ws, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "one")
        add_run(s, "two")
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 2)
    assert w.curves_tab.checked() == {"two"}
    w.runs_tab.select_ids({"one"})
    w.runs_tab._on_selection()
    assert w.curves_tab.checked() == {"two"}  # clicking a row used to replace the plotted runs
    w._plot_selected()
    assert w.curves_tab.checked() == {"one", "two"}
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "three", status="running")
    qtbot.waitUntil(lambda: "three" in w.curves_tab.checked(), timeout=WAIT_MS)


# -- 4. report ---------------------------------------------------------------------------------
def test_report_uses_json_and_says_where_it_is_when_no_viewer_opens(gui_ws, make_window, qtbot, monkeypatch):
    import kagglebench_gui.mainwindow as mw
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "rep")
    calls = []
    target = gui_ws / "runs" / "rep" / "report" / "report.md"

    def fake_cli(root, args, timeout=600):
        calls.append(args)
        return {"json": {"report": str(target), "dir": str(target.parent), "files": []}}

    monkeypatch.setattr(mw, "run_cli", fake_cli)
    monkeypatch.setattr(mw.QDesktopServices, "openUrl", lambda *_a: False)
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 1)
    w.runs_tab.select_ids({"rep"})
    w.show_report()
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=WAIT_MS)
    assert calls == [["report", "rep", "--json"]]
    assert str(target) in w.banner.text() and "preparing" not in w.statusBar().currentMessage()


# -- 5. OOD evaluation from the app ------------------------------------------------------------
FAKE_EVAL = textwrap.dedent("""
    import json, sys, time
    from kagglebench.store import Store
    args = sys.argv[1:]
    ws, rid = args[args.index("--workspace") + 1], args[args.index("eval") + 1]
    assert "--ood" in args and "--json" in args
    for i in range(3):
        print(f"corrupting {i + 1}/3", file=sys.stderr, flush=True)
        time.sleep(0.2)
    with Store(ws + "/kagglebench.db") as s:
        s.add_eval(rid, "best", "none", details={"ood_ci": [0.5, 0.6]}, ood_acc=0.55)
    print(json.dumps({"run": rid, "ood_acc": 0.55, "ood_ci": [0.5, 0.6]}))
""")


def test_evaluate_ood_runs_a_child_with_progress_and_fills_the_column(gui_ws, make_window, qtbot, tmp_path):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "ev")
    script = tmp_path / "fake_eval.py"
    script.write_text(FAKE_EVAL)
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 1)
    assert cell(w, "ev", "OOD estimate") == "—"
    w.evals.program = [sys.executable, str(script)]
    progress = []
    w.evals.progress.connect(progress.append)
    w.runs_tab.select_ids({"ev"})
    w._update_actions()
    assert w.act_eval.isEnabled()
    w.act_eval.trigger()
    qtbot.waitUntil(lambda: cell(w, "ev", "OOD estimate") == "55.00% [50.0–60.0]", timeout=WAIT_MS)
    assert any("evaluating ev" in p for p in progress)
    assert "RUN" not in w.submit_tab.estimates.text()


# -- 6. errors -------------------------------------------------------------------------------------
def test_errors_appear_whole_without_class_names_until_dismissed(gui_ws, make_window, qtbot):
    from kagglebench_gui.workers import CliError, describe_error
    w = make_window(gui_ws)
    long = "Kaggle rejected your credentials: " + "x" * 400 + " (see ~/.config/kaggle/kaggle.json)"
    w.show_error(describe_error(CliError(long)))
    assert w.banner.isVisible() and w.banner.text() == long and "CliError" not in w.banner.text()
    qtbot.wait(50)
    assert w.banner.isVisible()
    w.banner.close_button.click()
    assert not w.banner.isVisible()


def test_readme_names_the_credentials_path_the_client_uses():
    from kagglebench.kaggle.client import config_dir
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "~/.config/kaggle/kaggle.json" in readme and "~/.kaggle" in readme
    assert config_dir().name in ("kaggle", ".kaggle")


# -- 7. first steps --------------------------------------------------------------------------------
def test_empty_workspace_suggests_a_recipe_and_new_run_defaults_to_it(gui_ws, make_window, qtbot, monkeypatch):
    w = make_window(gui_ws)
    assert w.runs_tab.empty_hint.isVisible() and w.runs_tab.train_suggested.isVisible()
    launched = []
    monkeypatch.setattr(w, "launch", lambda cmd, what: launched.append(cmd))
    w.runs_tab.train_suggested.click()
    assert launched and launched[0][launched[0].index("train") + 1] == "demo-cnn"
    from kagglebench_gui.newrun import NewRunDialog
    from kagglebench_gui.wsinfo import open_workspace
    dlg = NewRunDialog(w.tasks, w, recipe=None, ws=open_workspace(gui_ws), suggested="demo-cnn")
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "train.epochs" in dlg._editors, timeout=WAIT_MS)
    assert dlg.current_recipe() == "demo-cnn"  # not the alphabetically first recipe
    qtbot.waitUntil(lambda: "epoch" in dlg.estimate.text(), timeout=WAIT_MS)
    from kagglebench import __version__
    from kagglebench_gui.mainwindow import about_text, readme_text
    assert __version__ in about_text() and "kagglebench" in readme_text()


def test_running_run_shows_progress_within_the_epoch_and_time_left(gui_ws, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "live", status="running", epoch=0, total=4)
        s.add_metrics("live", [{"scope": "step", "step": 10, "epoch": 0.25, "train_loss": 1.0}])
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 1)
    qtbot.waitUntil(lambda: cell(w, "live", "Progress").startswith("6.2"), timeout=WAIT_MS)
    with Store(gui_ws / "kagglebench.db") as s:
        s.add_metrics("live", [{"scope": "step", "step": 20, "epoch": 0.5, "train_loss": 0.9}])
        s.update_run("live", step=20)
    qtbot.waitUntil(lambda: "left" in cell(w, "live", "Progress"), timeout=WAIT_MS)


def test_gui_names_the_missing_x11_library():
    from kagglebench.cli.gui import missing_x11_library
    none = lambda _name: None  # noqa: E731
    assert missing_x11_library("linux", {}, none) == "libxcb-cursor0"
    assert missing_x11_library("linux", {"QT_QPA_PLATFORM": "offscreen"}, none) is None
    assert missing_x11_library("linux", {"WAYLAND_DISPLAY": "wayland-0"}, none) is None
    assert missing_x11_library("linux", {}, lambda _n: "libxcb-cursor.so.0") is None
    assert missing_x11_library("darwin", {}, none) is None


def test_gui_command_stops_with_one_line_when_libxcb_cursor_is_missing(tmp_path):
    import subprocess

    from tests.gui.conftest import write_ws
    ws = write_ws(tmp_path / "ws")
    code = ("import sys, ctypes.util; ctypes.util.find_library = lambda n: None; "
            "from kagglebench.cli import main; sys.argv[0] = 'kagglebench'; main(sys.argv[1:])")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-c", code, "gui", "--workspace", str(ws)], capture_output=True, text=True,
                       timeout=120, env=env, check=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("the check is for Linux desktops")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "libxcb-cursor0" in r.stderr and "apt-get install libxcb-cursor0" in r.stderr


# -- 8. the smaller items -------------------------------------------------------------------------
def test_a_stopped_launch_is_not_reported_done(gui_ws, make_window, qtbot):
    w = make_window(gui_ws)
    code = textwrap.dedent(f"""
        import os, sys
        from kagglebench.store import Store
        s = Store({str(gui_ws / 'kagglebench.db')!r})
        s.create_run("st", name="st", recipe="lenet5", config={{}}, run_dir="runs/st", total_epochs=3)
        s.finish_run("st", "stopped", "stopped by SIGTERM")
    """)
    launch = w.procs.launch([sys.executable, "-c", code], "lenet5")
    qtbot.waitUntil(lambda: w.runs_tab.run_by_id("st") is not None, timeout=WAIT_MS)
    for r in w.runs:  # the trainer records its own pid
        if r["id"] == "st":
            r["pid"] = launch.proc.pid
    launch.proc.wait(30)
    w._reap()
    assert w.statusBar().currentMessage() == "lenet5: stopped"


def test_started_and_duration_survive_a_resume():
    from kagglebench_gui.runs import RunsModel, run_duration
    now = time.time()
    run = {"id": "r", "status": "running", "created": now - 7200, "started": now - 60, "finished": None,
           "epoch": 1, "total_epochs": 2}
    assert run_duration(run, now) == pytest.approx(7200)
    assert RunsModel._text(run, "Started") == time.strftime("%Y-%m-%d %H:%M", time.localtime(now - 7200))


def test_submit_confirmation_defaults_to_cancel_and_speaks_plainly(gui_ws, make_window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "best")
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 1)
    sub = w.submit_tab
    sub.message.setText("top3")
    seen = {}

    def fake_exec(box):
        seen["default"] = box.defaultButton() is box.button(QMessageBox.Cancel)
        seen["text"] = box.text()
        return QMessageBox.Cancel

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    sub.run_submit(dry_run=False)
    assert seen["default"] and "--ensemble" not in seen["text"] and "average of your 3 best runs" in seen["text"]


def test_submit_reads_json_sends_greedy_in_one_call_and_shows_no_none(gui_ws, make_window, qtbot, monkeypatch):
    import kagglebench_gui.submit as sm
    calls = []
    answer = {"file": "submissions/greedy.csv", "sha256": "ab" * 32, "rows": 1000, "ref": None, "status": "dry-run",
              "local_score": 0.8125, "remaining_today": None, "members": [{"run": "a", "checkpoint": "best",
                                                                          "weight": 2.0}],
              "detectable": {"verdict": "likely better", "diff": 0.01, "low": 0.002, "high": 0.018,
                             "public_rows": 300, "against": "old.csv"}}
    monkeypatch.setattr(sm, "run_cli", lambda root, args, timeout=600: calls.append(args) or {"json": answer})
    w = make_window(gui_ws)
    sub = w.submit_tab
    sub.ensemble.setChecked(True)
    sub.method.setCurrentText("greedy")
    sub.message.setText("greedy top3")
    sub.run_submit(dry_run=True)
    qtbot.waitUntil(lambda: sub.check_btn.isEnabled(), timeout=WAIT_MS)
    assert calls == [["submit", "--ensemble", "top3", "--method", "greedy", "-m", "greedy top3", "--json",
                      "--dry-run"]]
    text = sub.output.toPlainText()
    assert "None" not in text and "a:best ×2" in text and "likely better" in text and "81.25%" in text


def test_scores_read_the_same_in_every_table(gui_ws, make_window, qtbot):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "r", best=0.978)
        s.add_submission(competition="kagglebench-demo", file="a.csv", status="complete", public_score=0.978,
                         local_estimate=0.978)
    w = make_window(gui_ws)
    wait_runs(w, qtbot, 1)
    qtbot.waitUntil(lambda: w.leaderboard_tab.subs.rowCount() == 1, timeout=WAIT_MS)
    assert cell(w, "r", "Best val acc") == "97.80%"
    assert w.leaderboard_tab.subs.item(0, 3).text() == "97.80%"


def test_run_memory_plot_starts_at_zero(gui_ws, make_window, qtbot):
    w = make_window(gui_ws)
    st = w.system_tab
    st.run_samples["m"] = [{"run_id": "m", "time": t, "rss": 2e9 + (t % 3) * 1e6, "cpu_percent": 50.0}
                           for t in range(20)]
    st.run_pick.addItem("m", "m")
    st.run_pick.setCurrentIndex(st.run_pick.findData("m"))
    st._draw_run()
    lo, hi = st.run_mem.getViewBox().viewRange()[1]
    assert lo <= 0.0 and hi >= 2e9 / 1024 ** 3  # not a band of a few MB magnified to full height


def test_sort_arrow_points_up_for_ascending(gui_ws, make_window):
    from PySide6.QtWidgets import QStyleOptionHeader

    from kagglebench_gui.runs import SortArrowStyle, header_sort_indicator
    assert header_sort_indicator(Qt.AscendingOrder) == QStyleOptionHeader.SortUp
    assert header_sort_indicator(Qt.DescendingOrder) == QStyleOptionHeader.SortDown
    w = make_window(gui_ws)
    assert isinstance(w.runs_tab.table.horizontalHeader().style(), SortArrowStyle)


# -- issue 11 item 4 and 5 (GUI side) -------------------------------------------------------------
def test_duplicate_does_not_pin_the_measured_normalization():
    from kagglebench_gui.newrun import duplicate_values
    cfg = {"data": {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26], "input_size": 32, "hflip": False},
           "optim": {"lr": 0.05}}
    norm = {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26], "input_size": 32}
    out = duplicate_values(cfg, norm)
    assert "mean" not in out["data"] and "std" not in out["data"] and "input_size" not in out["data"]
    assert out["data"]["hflip"] is False and out["optim"]["lr"] == 0.05
    # A mean the user set (different from what was measured) stays.
    assert duplicate_values({"data": {"mean": [0.5, 0.5, 0.5]}}, norm)["data"]["mean"] == [0.5, 0.5, 0.5]


def test_a_sweep_starts_as_a_child_process(gui_ws, make_window, qtbot, monkeypatch):
    from kagglebench_gui.sweepdialog import SweepDialog
    w = make_window(gui_ws)
    launched = []
    monkeypatch.setattr(w, "launch", lambda cmd, what: launched.append(cmd))

    def exec_(dlg):
        dlg.combo.setCurrentText("lenet5")
        dlg.set_grid(["optim.lr=0.01,0.1"])
        dlg.par.setValue(2)
        dlg._validate()
        qtbot.waitUntil(lambda: dlg.result() or "error" in dlg.error.text().lower(), timeout=WAIT_MS)
        return dlg.result()

    monkeypatch.setattr(SweepDialog, "exec", exec_)
    w.start_sweep()
    assert launched, w._dialog.error.text()
    cmd = launched[0]
    assert cmd[cmd.index("sweep"):] == ["sweep", "lenet5", "optim.lr=0.01,0.1", "--parallel", "2", "--json"]
    # A bad grid is refused in the dialog with the CLI's own words.
    from kagglebench.errors import UserError
    from kagglebench_gui.sweepdialog import check_grid
    with pytest.raises(UserError):
        check_grid("lenet5", ["optim.nope=1,2"])
