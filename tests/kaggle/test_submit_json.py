"""`submit --json` answers in data, and a greedy ensemble is submitted with its members, on two
tiny trained runs against the double."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kagglebench.workspace import Workspace


def test_greedy_ensemble_submit_returns_limits_verdict_and_record(trained_ws: Path, make_double, cli,
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(trained_ws, root)
    ws = Workspace(root)
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key())
    code, out, err = cli("--workspace", root, "submit", "--ensemble", "top2", "--method", "greedy",
                         "-m", "greedy top2", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert set(got) >= {"file", "sha256", "rows", "ref", "status", "local_score", "remaining_today",
                        "detectable", "members"}
    assert got["status"] == "submitted" and got["ref"] == str(kd.submissions[0].ref)
    assert got["method"] == "greedy" and "greedy" in Path(got["file"]).name
    assert got["members"] and all(m["weight"] > 0 for m in got["members"])
    assert got["local_estimate"] is not None and got["remaining_today"] == 4 and got["limited_by_total"] is False
    assert got["detectable"] is None  # nothing earlier to compare with
    with ws.store() as store:
        (rec,) = store.list_submissions(ws.competition)
    assert rec["members"] == got["members"] and rec["local_estimate"] == got["local_estimate"]

    # A second submit: compared with the first, and its members survive an unknown outcome.
    with ws.store() as store:
        run_id = store.list_runs()[0]["id"]
    kd.garble("CreateSubmission")
    code, out, err = cli("--workspace", root, "submit", "--run", run_id, "-m", "one run", "--json")
    assert code == 2 and json.loads(out)["error"]["message"] in err   # the error answered as data too
    assert "vs your best previous submission" in err
    code, out, err = cli("--workspace", root, "submissions", "--sync", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 2 and {r["source"] for r in rows} == {"kagglebench"}
    single = next(r for r in rows if r["message"] == "one run")
    assert single["ref"] == str(kd.submissions[1].ref) and single["members"][0]["run"] == run_id
    code, out, err = cli("--workspace", root, "submit", "--run", run_id, "-m", "one run", "--dry-run", "--json")
    assert code == 0, err
    verdict = json.loads(out)["detectable"]
    assert verdict["verdict"] in ("likely better", "likely worse", "indistinguishable")
    assert verdict["low"] <= verdict["diff"] <= verdict["high"] and verdict["against"].endswith(".csv")
    assert len(kd.calls("CreateSubmission")) == 2
