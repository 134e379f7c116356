"""`kagglebench submit`, `submissions` and `leaderboard` on the demo workspace against the Kaggle double."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kagglebench.errors import UserError
from kagglebench.kaggle import client as C
from kagglebench.kaggle import submit as S
from kagglebench.kaggle import sync
from kagglebench.workspace import Workspace
from tests.kaggle.double import KEY, KaggleDouble


def _connect() -> C.KaggleClient:
    return C.connect(timeout=5.0, backoff=0.01)


def _good_csv(ws: Workspace, tmp_path: Path, wrong: int = 0) -> Path:
    """The answer key as a submission, with the first `wrong` labels changed."""
    lines = ws.answer_key().read_text().splitlines()
    n = ws.submission_format().num_classes
    for i in range(1, 1 + wrong):
        ident, label = lines[i].split(",")
        lines[i] = f"{ident},{(int(label) + 1) % n}"
    p = tmp_path / "mine.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def _submit(ws: Workspace, path: Path, **kw) -> dict:
    return S.submit(ws, message=kw.pop("message", "first try"), file=str(path), connect=_connect,
                    poll_s=0.01, **kw)


def test_invalid_csv_is_refused_before_any_call(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Label\nx,1\n")
    with pytest.raises(UserError, match="header"):
        _submit(ws, bad)
    short = tmp_path / "short.csv"
    short.write_text("\n".join(ws.answer_key().read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(UserError, match="rows"):
        _submit(ws, short)
    assert kd.requests == []
    with ws.store() as store:
        assert store.list_submissions() == []


def test_submit_uploads_records_and_waits_for_the_score(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    path = _good_csv(ws, tmp_path, wrong=3)
    result = _submit(ws, path, wait=True)
    assert kd.submissions[0].data == path.read_bytes()
    assert result["sha256"] == S.sha256_of(path) and result["status"] == "complete"
    assert result["rows"] == ws.test_size() and result["ref"] == str(kd.submissions[0].ref)
    with ws.store() as store:
        rec = store.list_submissions()[0]
    assert rec["ref"] == result["ref"] and rec["status"] == "complete" and rec["message"] == "first try"
    assert 0.95 < rec["public_score"] < 1.0  # three wrong rows, some of them public


def test_scoring_error_reports_kaggles_reason(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    kd.fail_scoring("Submission must have 1900 rows")
    with pytest.raises(UserError, match="Submission must have 1900 rows"):
        _submit(ws, _good_csv(ws, tmp_path), wait=True)
    with ws.store() as store:
        rec = store.list_submissions()[0]
    assert rec["status"] == "error" and "1900 rows" in rec["error"]


def test_dropped_submit_is_unknown_until_sync_resolves_it(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    kd.drop("CreateSubmission")
    with pytest.raises(UserError, match="submissions --sync"):
        _submit(ws, _good_csv(ws, tmp_path))
    with ws.store() as store:
        assert [s["status"] for s in store.list_submissions()] == ["unknown"]
    rows = sync.sync_submissions(ws, _connect(), ws.competition)
    assert len(rows) == 1 and rows[0]["status"] == "complete" and rows[0]["ref"] == str(kd.submissions[0].ref)
    assert len(kd.calls("CreateSubmission")) == 1


def test_unknown_that_never_arrived_becomes_failed(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    kd.drop("CreateSubmission", process=False)
    with pytest.raises(UserError):
        _submit(ws, _good_csv(ws, tmp_path))
    rows = sync.sync_submissions(ws, _connect(), ws.competition)
    assert [r["status"] for r in rows] == ["failed"] and "safe to submit again" in rows[0]["error"]


def test_no_submissions_left_refuses(make_double, ws, tmp_path: Path) -> None:
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key(), daily_limit=0)
    with pytest.raises(UserError, match="no submissions left today"):
        _submit(ws, _good_csv(ws, tmp_path))
    assert kd.calls("StartSubmissionUpload") == []


def test_dry_run_scores_the_demo_locally(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    result = _submit(ws, _good_csv(ws, tmp_path), dry_run=True)
    assert result["status"] == "dry-run" and result["local_score"] == 1.0
    assert kd.requests == []


def test_sync_joins_external_submissions_and_leaderboard_rank(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    _submit(ws, _good_csv(ws, tmp_path))
    kd.add_external("from-the-website.csv", "uploaded by hand", "0.33000")
    rows = sync.sync_submissions(ws, _connect(), ws.competition)
    assert sorted(r["source"] for r in rows) == ["kaggle", "kagglebench"]
    assert len(sync.sync_submissions(ws, _connect(), ws.competition)) == 2  # idempotent
    snap = sync.sync_leaderboard(ws, _connect(), ws.competition)
    assert snap["my_rank"] == 1 and snap["entries"][0]["team"] == kd.username


def test_fit_relation_flags_the_outlier() -> None:
    subs = [{"id": i, "ood_estimate": x, "local_estimate": None, "public_score": y}
            for i, (x, y) in enumerate([(0.4, 0.41), (0.5, 0.50), (0.6, 0.61), (0.7, 0.69), (0.55, 0.20)])]
    fit = sync.fit_relation(subs)
    assert fit["outliers"] == [4] and fit["n"] == 5


def test_detectability_verdicts() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    old = rng.random(2000) < 0.6
    better = old | (rng.random(2000) < 0.3)
    assert S.detectability(better, old, 5000)["verdict"] == "likely better"
    assert S.detectability(old, better, 5000)["verdict"] == "likely worse"
    flip = old.copy()
    flip[:3] = ~flip[:3]
    assert S.detectability(flip, old, 50)["verdict"] == "indistinguishable"


def test_cli_submit_and_sync_json_never_show_credentials(ws, kd: KaggleDouble, tmp_path: Path) -> None:
    env = kd.subprocess_env(tmp_path / "site")
    path = _good_csv(ws, tmp_path)
    shutil.copy(path, ws.root / "mine.csv")
    run = [sys.executable, "-m", "kagglebench", "--workspace", str(ws.root)]
    sub = subprocess.run([*run, "submit", "--file", "mine.csv", "-m", "from the cli", "--json"],
                         capture_output=True, text=True, env=env, cwd=ws.root, timeout=120, check=False)
    assert sub.returncode == 0, sub.stderr
    out = json.loads(sub.stdout)
    assert set(out) >= {"file", "sha256", "rows", "ref", "status", "local_score"} and out["ref"]
    syn = subprocess.run([*run, "submissions", "--sync", "--json"], capture_output=True, text=True,
                         env=env, cwd=ws.root, timeout=120, check=False)
    assert syn.returncode == 0, syn.stderr
    rows = json.loads(syn.stdout)
    assert rows[0]["ref"] == out["ref"] and rows[0]["public_score"] == 1.0
    bad = subprocess.run([*run, "submit", "--file", "mine.csv", "-m", "x", "--competition", "nope"],
                         capture_output=True, text=True, env=env, cwd=ws.root, timeout=120, check=False)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].startswith("kagglebench: error: Kaggle submission limits: ")
    assert "Traceback" not in bad.stderr
    everything = sub.stdout + sub.stderr + syn.stdout + syn.stderr + bad.stdout + bad.stderr
    assert KEY not in everything
    for f in ws.root.rglob("*"):
        if f.is_file() and f.name != "kaggle.json":
            assert KEY.encode() not in f.read_bytes(), f
