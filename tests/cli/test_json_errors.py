"""Under --json a failing command answers its error as data on stdout, as well as the usual
one line on stderr: {"error": {"where", "what", "message"}} (issue 11: the GUI parses no stderr)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagglebench.cli import main


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_a_user_error_under_json_is_one_json_document_on_stdout(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-workspace-here"
    code, out, err = _run(capsys, ["--workspace", str(missing), "runs", "--json"])
    assert code == 2
    doc = json.loads(out)                                  # exactly one document, nothing else
    assert set(doc) == {"error"} and set(doc["error"]) == {"where", "what", "message"}
    assert doc["error"]["where"] == str(missing) and "not a kagglebench workspace" in doc["error"]["what"]
    assert doc["error"]["message"] == f"{doc['error']['where']}: {doc['error']['what']}"
    # stderr keeps the one line it always had, with the same words
    assert err.strip() == f"kagglebench: error: {doc['error']['message']}"


def test_without_json_stdout_stays_empty(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, ["--workspace", str(tmp_path / "nope"), "runs"])
    assert code == 2 and out == "" and err.startswith("kagglebench: error: ")


def test_a_usage_error_under_json_is_answered_as_data_too(capsys) -> None:
    code, out, err = _run(capsys, ["runs", "--json", "--no-such-option"])
    assert code == 2 and "unrecognized arguments: --no-such-option" in err
    doc = json.loads(out)["error"]
    assert doc["what"] == "unrecognized arguments: --no-such-option" and doc["where"] == "kagglebench"
    code, out, _ = _run(capsys, ["find", "no-such-finder", "demo-cnn", "--json"])
    assert code == 2 and "invalid choice" in json.loads(out)["error"]["what"]
