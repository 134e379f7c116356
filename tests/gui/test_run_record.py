"""Issue 11, "every consumer uses Run": the app reads a run's settings from the engine's Run
record (runs/<id>/config.json through `Run.open`), not from the store row's copy, opens it
once per run for the changes column, and never imports torch or loads data to do so."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kagglebench.config import load_recipe, recipe_to_dict
from kagglebench.runs import Run
from kagglebench.store import Store
from tests.gui.conftest import add_run

WAIT_MS = 20_000


def _record(ws, rid: str, overrides: list[str]) -> None:
    """The trainer's record of the run (Run.write), resolved normalization written in."""
    recipe = load_recipe("lenet5", [*overrides, "data.mean=[0.4,0.4,0.4]", "data.std=[0.2,0.2,0.2]"])
    Run.write(ws / "runs" / rid, rid, recipe, ["a", "b"], {"val_fraction": 0.1, "seed": 0, "n_train": 90})


def test_duplicate_compare_and_changes_read_the_run_record(gui_ws, make_window, qtbot, monkeypatch):
    with Store(gui_ws / "kagglebench.db") as s:
        for rid in ("rec-a", "rec-b"):
            add_run(s, rid)   # the store's copy says lenet5's defaults; the records below differ
            s.update_run(rid, config=recipe_to_dict(load_recipe("lenet5")))
    _record(gui_ws, "rec-a", ["optim.lr=0.05"])
    _record(gui_ws, "rec-b", ["train.batch_size=32"])
    opened = []
    real_open = Run.open.__func__
    monkeypatch.setattr(Run, "open", classmethod(lambda cls, ws, rid, store=None:
                                                 opened.append(rid) or real_open(cls, ws, rid, store)))
    w = make_window(gui_ws, poll_ms=50)
    qtbot.waitUntil(lambda: len(w.runs_tab.model.runs) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.runs_tab.run_by_id("rec-a").get("changes") == {"optim.lr": 0.05}, timeout=WAIT_MS)
    assert w.runs_tab.run_by_id("rec-b")["changes"] == {"train.batch_size": 32}
    qtbot.wait(400)  # several polls: each record was opened once, not once per poll
    assert sorted(opened) == ["rec-a", "rec-b"]
    # Duplicate: the record's settings, the measured normalization left to be measured again.
    got = []
    monkeypatch.setattr(w, "new_run", lambda recipe, values, title="": got.append((recipe, values)))
    w.runs_tab.select_ids({"rec-a"})
    w.duplicate_selected()
    qtbot.waitUntil(lambda: bool(got), timeout=WAIT_MS)
    recipe, values = got[0]
    assert recipe == "lenet5" and values["optim"]["lr"] == 0.05
    assert "mean" not in values["data"] and "std" not in values["data"]
    # Compare: both records side by side.
    w.runs_tab.select_ids({"rec-a", "rec-b"})
    w.compare_selected()
    qtbot.waitUntil(lambda: getattr(w, "_diff", None) is not None, timeout=WAIT_MS)
    assert sorted(w._diff.differing) == ["optim.lr", "train.batch_size"]


def test_opening_a_run_in_the_app_imports_no_torch_and_loads_no_data(gui_ws):
    # The demo workspace here has no data files at all: reading them would fail.
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "old")
    code = textwrap.dedent(f"""
        import sys
        from kagglebench_gui.wsinfo import open_run, open_workspace
        run = open_run(open_workspace({str(gui_ws)!r}), "old")
        assert run.recorded_classes is None and run.config["train"]["epochs"] == 10
        assert "torch" not in sys.modules, "opening a run imported torch"
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
