"""Issue 11, "the GUI parses no stderr": a failing child's message reaches the user from the
error document it prints on stdout under --json, never from its stderr."""

from __future__ import annotations

import sys
import textwrap

import pytest

from kagglebench.store import Store
from tests.gui.conftest import add_run

WAIT_MS = 20_000

# A stand-in for `python -m kagglebench ...`: misleading words on stderr, the truth on stdout.
FAILING = textwrap.dedent("""
    import json, sys
    print("kagglebench: error: FROM-STDERR: must not be shown", file=sys.stderr)
    print("Traceback (most recent call last): noise", file=sys.stderr)
    print(json.dumps({"error": {"where": "runs/x", "what": "from the JSON document",
                                "message": "runs/x: from the JSON document"}}))
    sys.exit(2)
""")

SILENT = "import sys; print('kagglebench: error: FROM-STDERR', file=sys.stderr); sys.exit(3)"


def test_run_cli_reads_the_error_from_the_json_document(tmp_path, monkeypatch):
    import kagglebench_gui.workers as workers
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    monkeypatch.setattr(workers, "CLI", [sys.executable, str(script)])
    with pytest.raises(workers.CliError) as e:
        workers.run_cli(tmp_path, ["runs", "--json"])
    assert str(e.value) == "runs/x: from the JSON document"
    # No error document: the exit status, and still not a word of stderr.
    monkeypatch.setattr(workers, "CLI", [sys.executable, "-c", SILENT])
    with pytest.raises(workers.CliError) as e:
        workers.run_cli(tmp_path, ["runs", "--json"])
    assert "exit status 3" in str(e.value) and "FROM-STDERR" not in str(e.value)


def test_run_cli_against_the_real_engine_shows_its_message_without_the_prefix(tmp_path):
    from kagglebench_gui.workers import CliError, run_cli
    with pytest.raises(CliError) as e:
        run_cli(tmp_path, ["runs", "--json"])
    msg = str(e.value)
    assert msg.startswith(str(tmp_path)) and "not a kagglebench workspace" in msg
    assert "kagglebench: error:" not in msg


def test_a_failed_ood_evaluation_shows_the_json_message(gui_ws, make_window, qtbot, tmp_path):
    with Store(gui_ws / "kagglebench.db") as s:
        add_run(s, "ev")
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    w = make_window(gui_ws)
    w.evals.program = [sys.executable, str(script)]
    failed = []
    w.evals.failed.connect(failed.append)
    w.evals.add("ev")
    qtbot.waitUntil(lambda: bool(failed), timeout=WAIT_MS)
    assert failed == ["Evaluating ev failed: runs/x: from the JSON document"]
    assert w.banner.isVisible() and "FROM-STDERR" not in w.banner.text()


def test_a_failed_launch_shows_the_json_message_not_its_log(gui_ws, make_window, qtbot, tmp_path):
    w = make_window(gui_ws)
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    launch = w.procs.launch([sys.executable, str(script)], "lenet5")
    launch.proc.wait(30)
    w._reap()
    assert w.banner.isVisible()
    assert w.banner.text() == "lenet5 ended with an error: runs/x: from the JSON document"
    assert "FROM-STDERR" in launch.log.read_text()   # the log keeps it, for a person to read


def test_launched_commands_ask_for_json(gui_ws, make_window):
    w = make_window(gui_ws)
    for cmd in (w.procs.train_command("lenet5", ["epochs=1"], "x"), w.procs.resume_command("r1"),
                w.procs.sweep_command("lenet5", ["optim.lr=0.1,0.2"])):
        assert cmd[-1] == "--json"
