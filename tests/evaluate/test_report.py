"""`kagglebench report`: the PNGs and report.md land in runs/<id>/report/."""

from __future__ import annotations

import subprocess
import sys

from kagglebench.evaluate.report import write_report
from kagglebench.evaluate.runner import evaluate_run
from kagglebench.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = ["curves.png", "lr.png", "confusion.png", "per_class.png", "ood.png", "samples.png"]


def test_report_writes_every_plot(eval_ws, monkeypatch):
    root, run_id = eval_ws
    ws = Workspace(root)
    from kagglebench.data import corruptions

    monkeypatch.setattr(corruptions, "CORRUPTIONS", ["gaussian_noise", "contrast"])
    evaluate_run(ws, run_id, with_ood=True, ood_samples=10)
    out = write_report(ws, run_id)
    folder = root / "runs" / run_id / "report"
    assert out["dir"] == str(folder)
    md = (folder / "report.md").read_text()
    for name in PLOTS:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
        assert f"]({name})" in md
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_report_cli_without_ood_says_how_to_get_it(eval_ws):
    root, run_id = eval_ws
    p = subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(root), "report", run_id],
                       check=False, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    folder = root / "runs" / run_id / "report"
    assert "report.md" in p.stdout
    assert (folder / "samples.png").exists() and not (folder / "ood.png").exists()
    assert f"kagglebench eval {run_id} --ood" in (folder / "report.md").read_text()
