"""Issue 14's nine cases, one test each, through the CLI and the real client against the double.

Each checks what a student would see and what Kaggle would hold: the number of CreateSubmission
calls the double received (one per intended submit, never two), the local record after
`submissions --sync`, the exit status, and the single `kagglebench: error:` line.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from kagglebench.kaggle.formats import validate_csv
from kagglebench.workspace import Workspace
from tests.kaggle.conftest import error_line
from tests.kaggle.double import KaggleDouble


def _answers(ws: Workspace, name: str = "answers.csv") -> Path:
    """A valid submission: the demo's answer key, copied into the workspace."""
    path = ws.root / name
    shutil.copy(ws.answer_key(), path)
    return path


def _records(ws: Workspace) -> list[dict]:
    with ws.store() as store:
        return [s for s in store.list_submissions(ws.competition) if s["status"] != "dry-run"]


def _submit(cli, ws: Workspace, path: Path, *more: str, message: str = "answers") -> tuple[int, str, str]:
    return cli("--workspace", ws.root, "submit", "--file", path, "-m", message, *more)


def _sync(cli, ws: Workspace) -> list[dict]:
    code, out, err = cli("--workspace", ws.root, "submissions", "--sync", "--json")
    assert code == 0, err
    return json.loads(out)


# -- 1: a 5xx or a malformed body after Kaggle recorded the submission --------------------------

@pytest.mark.parametrize("fault", ["502-after-recording", "malformed-body"])
def test_1_create_answered_badly_after_recording_is_unknown_then_matched(ws, kd: KaggleDouble, cli,
                                                                         fault: str) -> None:
    if fault == "malformed-body":
        kd.garble("CreateSubmission")
    else:
        kd.fail("CreateSubmission", status=502, process=True)
    path = _answers(ws)
    code, out, err = _submit(cli, ws, path)
    assert code == 2 and out == ""
    line = error_line(err)
    assert line.startswith("kagglebench: error: Kaggle CreateSubmission: ") and "submissions --sync" in line
    (rec,) = _records(ws)
    assert rec["status"] == "unknown" and rec["ref"] is None
    rows = _sync(cli, ws)
    assert len(rows) == 1  # the real submission is this record, not an unrelated row
    assert rows[0]["source"] == "kagglebench" and rows[0]["message"] == "answers"
    assert rows[0]["ref"] == str(kd.submissions[0].ref) and rows[0]["status"] == "complete"
    code, out, err = _submit(cli, ws, path)
    assert code == 2 and "not sending it twice" in error_line(err)
    assert len(kd.calls("CreateSubmission")) == 1 and len(kd.submissions) == 1


# -- 2: two submits at once ----------------------------------------------------------------------

def _read_until(stream, needle: str, seen: list[str], limit_s: float = 120.0) -> threading.Thread:
    """Read a child's stderr line by line (in a thread, on to its end) until `needle` appears."""
    found = threading.Event()

    def pump() -> None:
        for line in stream:
            seen.append(line)
            if needle in line:
                found.set()
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    assert found.wait(limit_s), "".join(seen)
    return reader


def test_2_two_submits_at_once_wait_for_each_other(ws, kd: KaggleDouble, cli, tmp_path: Path) -> None:
    path = _answers(ws)
    env = kd.subprocess_env(tmp_path / "site")
    cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(ws.root), "submit", "--file", str(path),
           "-m", "answers", "--json"]
    kd.hold("PUT")  # the first submit's upload hangs until released
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        end = time.monotonic() + 120
        while not kd.calls("PUT"):
            assert first.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        # Meanwhile a sync (the app's poller, another terminal) leaves the in-flight record alone.
        assert [r["status"] for r in _sync(cli, ws)] == ["pending"]
        second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[str] = []
        reader = _read_until(second.stderr, "waiting for it", seen)  # blocked on the lock, nothing sent
        assert len(kd.calls("StartSubmissionUpload")) == 1
        kd.release()
        out1, err1 = first.communicate(timeout=120)
        out2 = second.stdout.read()
        second.wait(timeout=120)
        reader.join(timeout=120)
    finally:
        kd.release()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
    assert first.returncode == 0, err1
    assert json.loads(out1)["status"] == "submitted"
    assert second.returncode == 2
    assert "already reached Kaggle" in json.loads(out2)["error"]["what"]  # --json: the error as data
    assert "not sending it twice" in error_line("".join(seen))
    assert len(kd.calls("CreateSubmission")) == 1
    (rec,) = _records(ws)
    assert rec["status"] == "submitted" and rec["ref"] == str(kd.submissions[0].ref)


# -- 3: a file Kaggle rejected with a scoring ERROR ---------------------------------------------

def test_3_a_file_kaggle_rejected_is_not_sent_again_without_force(ws, kd: KaggleDouble, cli) -> None:
    kd.fail_scoring("Submission must have 2000 rows")
    path = _answers(ws)
    code, out, err = _submit(cli, ws, path)  # sent; Kaggle's verdict arrives later
    assert code == 0, err
    (row,) = _sync(cli, ws)
    assert row["status"] == "error" and "2000 rows" in row["error"]
    code, out, err = _submit(cli, ws, path)
    assert code == 2
    line = error_line(err)
    assert "Kaggle rejected it: Submission must have 2000 rows" in line and "--force" in line
    assert len(kd.calls("CreateSubmission")) == 1
    code, out, err = _submit(cli, ws, path, "--force")  # the student insists
    assert code == 0, err
    assert len(kd.calls("CreateSubmission")) == 2


# -- 4: matching an unknown outcome does not depend on anyone's clock ----------------------------

def test_4_unknown_outcome_is_matched_by_name_size_and_message_not_by_clock(ws, kd: KaggleDouble,
                                                                           cli) -> None:
    kd.drop("CreateSubmission")  # Kaggle records it, the answer never arrives
    path = _answers(ws)
    assert _submit(cli, ws, path)[0] == 2
    kd.submissions[0].date -= dt.timedelta(days=3)  # Kaggle's clock (or ours) is days off
    rows = _sync(cli, ws)
    assert len(rows) == 1 and rows[0]["source"] == "kagglebench"
    assert rows[0]["ref"] == str(kd.submissions[0].ref) and rows[0]["status"] == "complete"
    assert len(kd.calls("CreateSubmission")) == 1


def test_4_a_lookalike_of_another_size_is_not_taken_for_it(ws, kd: KaggleDouble, cli) -> None:
    kd.drop("CreateSubmission", process=False)  # cut before Kaggle acted: it never arrived
    path = _answers(ws)
    assert _submit(cli, ws, path)[0] == 2
    kd.add_external(path.name, "answers", "0.10000")  # same name and message, made on the website
    rows = _sync(cli, ws)
    mine = next(r for r in rows if r["source"] == "kagglebench")
    assert mine["status"] == "failed" and "safe to submit again" in mine["error"]
    assert [r["source"] for r in rows].count("kaggle") == 1


# -- 5: the upload has a timeout -----------------------------------------------------------------

def test_5_a_stalled_upload_times_out_and_nothing_is_created(ws, kd: KaggleDouble, cli) -> None:
    kd.hold("PUT", times=100)  # the upload URL never answers
    code, out, err = _submit(cli, ws, _answers(ws))
    assert code == 2
    line = error_line(err)
    assert line.startswith("kagglebench: error: Kaggle upload: ") and "no answer within 2 s" in line
    assert "nothing was submitted" in line and "safe to submit again" in line
    assert len(kd.calls("PUT")) == 5 and kd.calls("CreateSubmission") == []
    (rec,) = _records(ws)
    assert rec["status"] == "failed"
    assert [r["status"] for r in _sync(cli, ws)] == ["failed"]


# -- 6: a 2 GB file with no newline --------------------------------------------------------------

def test_6_huge_or_endless_lines_are_refused_in_bounded_memory(ws, kd: KaggleDouble, cli, tmp_path: Path) -> None:
    big = ws.root / "big.csv"
    with open(big, "wb") as f:
        f.truncate(2 * 1024**3)  # 2 GiB, no newline (sparse: costs no disk)
    code, out, err = _submit(cli, ws, big)
    assert code == 2 and "is 2,147,483,648 bytes, more than a submission" in error_line(err)
    long_line = tmp_path / "one-line.csv"
    long_line.write_bytes(b"id,label" + b"9" * 2_000_000)  # under the size bound, one line
    small = Workspace(ws.root)
    tracemalloc.start()
    for path, words in ((big, "more than a submission"), (long_line, "line 1 is longer than 4,096 bytes")):
        with pytest.raises(Exception, match=words):
            validate_csv(path, small)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, peak  # bytes held at once: never the file
    assert kd.requests == [] and _records(ws) == []


# -- 7: labels int() accepts but a class index is not -------------------------------------------

@pytest.mark.parametrize("label", ["+3", "0_1", "\u0663", "\uff13", "03", " 3", "3.0", "-0"])
def test_7_labels_must_be_plain_ascii_class_indices(ws, kd: KaggleDouble, cli, label: str) -> None:
    lines = ws.answer_key().read_text().splitlines()
    ident = lines[5].split(",")[0]
    lines[5] = f"{ident},{label}"
    path = ws.root / "odd.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = _submit(cli, ws, path)
    assert code == 2
    line = error_line(err)
    assert "line 6: label" in line and "not a plain class index" in line
    assert kd.requests == []


# -- 8: every page of the leaderboard and of the submissions -------------------------------------

def test_8_all_pages_are_read(make_double, ws, cli) -> None:
    others = [(f"Team {i:03d}", 1.0 - i / 1000) for i in range(1, 251)]  # 0.999 .. 0.750
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key(), leaderboard=others,
                     page_cap=50, daily_limit=500)
    for i in range(130):
        kd.add_external(f"web-{i}.csv", f"from the website {i}", "0.50000", minutes_ago=1000 - i)
    lines = ws.answer_key().read_text().splitlines()
    n = ws.submission_format().num_classes
    wrong = round(0.23 * (len(lines) - 1))  # public score about 0.77: rank 230 of 251
    for i in range(1, 1 + wrong):
        ident, label = lines[i].split(",")
        lines[i] = f"{ident},{(int(label) + 1) % n}"
    path = ws.root / "mine.csv"
    path.write_text("\n".join(lines) + "\n")
    assert _submit(cli, ws, path)[0] == 0
    rows = _sync(cli, ws)
    assert len(rows) == 131 and len(kd.calls("ListSubmissions")) >= 3
    code, out, err = cli("--workspace", ws.root, "leaderboard", "--sync", "--json")
    assert code == 0, err
    board = json.loads(out)
    mine = float(kd.submissions[-1].public_score)
    expected_rank = 1 + sum(score > mine for _, score in others)
    assert expected_rank > 200  # beyond the first page
    assert board["my_rank"] == expected_rank and len(board["entries"]) == 251
    assert len(kd.calls("GetLeaderboard")) == 6
    assert "Next Page Token" not in out + err


# -- 9: messages ---------------------------------------------------------------------------------

def test_9_start_upload_500_is_retried_and_says_nothing_was_sent(ws, kd: KaggleDouble, cli) -> None:
    kd.fail("StartSubmissionUpload", status=500, times=100)
    code, out, err = _submit(cli, ws, _answers(ws))
    assert code == 2
    line = error_line(err)
    assert line.startswith("kagglebench: error: Kaggle StartSubmissionUpload: Kaggle answered HTTP 500")
    assert "nothing was sent" in line
    assert len(kd.calls("StartSubmissionUpload")) == 5 and kd.calls("CreateSubmission") == []
    (rec,) = _records(ws)
    assert rec["status"] == "failed"


def test_9_429_keeps_kaggles_own_words(ws, kd: KaggleDouble, cli) -> None:
    kd.fail("GetSubmissionLimits", status=429, times=100, message="Rate limit exceeded: 30 requests per minute")
    code, out, err = _submit(cli, ws, _answers(ws))
    assert code == 2
    line = error_line(err)
    assert "(429)" in line and "Kaggle says: Rate limit exceeded: 30 requests per minute" in line
    assert kd.calls("CreateSubmission") == []


@pytest.mark.parametrize("where", ["env", "kaggle.json"])
def test_9_401_names_where_the_key_came_from(make_double, ws, cli, kaggle_env: Path, monkeypatch,
                                            where: str) -> None:
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key(), credentials=where == "kaggle.json")
    if where == "env":
        monkeypatch.setenv("KAGGLE_USERNAME", kd.username)
        monkeypatch.setenv("KAGGLE_KEY", "not-the-key")
        wanted = "KAGGLE_USERNAME/KAGGLE_KEY"
    else:
        (kaggle_env / "kaggle.json").write_text(json.dumps({"username": kd.username, "key": "not-the-key"}))
        wanted = str(kaggle_env / "kaggle.json")
    code, out, err = _submit(cli, ws, _answers(ws))
    assert code == 2
    line = error_line(err)
    assert "(401)" in line and f"the key from {wanted} is wrong or expired" in line
    assert "not-the-key" not in err


def test_9_truncated_kaggle_json_is_named(make_double, ws, cli, kaggle_env: Path) -> None:
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key())
    path = kaggle_env / "kaggle.json"
    path.write_text(path.read_text()[:20])  # cut off mid-way
    code, out, err = _submit(cli, ws, _answers(ws))
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"kagglebench: error: {path}: is not valid JSON (truncated")
    assert "no Kaggle credentials found" not in line and kd.calls("CreateSubmission") == []


def test_9_limited_by_total_is_said_and_returned(make_double, ws, cli) -> None:
    kd = make_double(competition=ws.competition, answer_key=ws.answer_key(), total_limit=1)
    code, out, err = _submit(cli, ws, _answers(ws, "a.csv"), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["remaining_today"] == 0 and got["limited_by_total"] is True
    other = _answers(ws, "b.csv")
    lines = other.read_text().splitlines()
    ident, label = lines[1].split(",")
    lines[1] = f"{ident},{(int(label) + 1) % 10}"
    other.write_text("\n".join(lines) + "\n")  # another prediction: other bytes
    code, out, err = _submit(cli, ws, other, message="another")
    assert code == 2
    line = error_line(err)
    assert "all 1 submissions this competition allows in total" in line and "00:00 UTC" not in line
    assert len(kd.calls("CreateSubmission")) == 1
