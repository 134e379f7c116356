"""Credentials stay secret and names cannot escape the workspace.

A recognisable fake Kaggle key (the double's) is planted in kaggle.json and in KAGGLE_KEY for
every command of the whole pipeline, run as a student would (train, eval, predict, report,
submit to the Kaggle double, submissions --sync, leaderboard --sync, and a refused submit with a
wrong key). Then every byte of output and every file under the workspace (store, logs, CSVs,
reports, configs) is searched for it. Names that come from recipes, --name and Kaggle's
submission list must not create anything outside the workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.kaggle.double import KEY, USERNAME, KaggleDouble
from tests.reliability.helpers import cli_env

WRONG_KEY = "k3y-WR0NG-5ecret-feedfacecafebeef00"
RECIPE = """
name = "../../../evil-recipe"
description = "a recipe whose name tries to climb out of runs/"
[model]
name = "simplecnn-1conv"
[data]
val_fraction = 0.25
[train]
epochs = 1
batch_size = 16
"""


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_planted_key_never_leaves_kaggle_json_and_names_stay_inside(tmp_path: Path) -> None:
    from kagglebench.data.demo import write_demo

    ws = write_demo(tmp_path / "ws", classes=4, train=64, test=1, seed=9)
    config = tmp_path / "kaggle-config"
    with KaggleDouble(competition="kagglebench-demo", answer_key=ws / "answer-key" / "ood_answers.csv") as kd:
        kd.add_external("../../../../outside-the-workspace.csv", "made on the website", "0.25")
        kd.write_credentials(config, mode=0o644)  # readable by others: must be warned about
        env = kd.subprocess_env(tmp_path / "site", base=cli_env({
            "HOME": str(tmp_path / "home"), "KAGGLE_CONFIG_DIR": str(config),
            "KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY}))
        (tmp_path / "recipe.toml").write_text(RECIPE)
        before = _files(tmp_path)
        outputs: dict[str, subprocess.CompletedProcess] = {}

        def kb(label: str, *args: str, rc: int = 0) -> subprocess.CompletedProcess:
            proc = subprocess.run([sys.executable, "-m", "kagglebench", "--workspace", str(ws), *args],
                                  env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                                  check=False)
            outputs[label] = proc
            assert proc.returncode == rc, f"{label}: {proc.stderr}"
            return proc

        run = json.loads(kb("train", "train", str(tmp_path / "recipe.toml"), "--name", "../../escape",
                            "--json").stdout)
        rid = run["id"]
        assert (ws / "runs" / rid).is_dir() and "/" not in rid and ".." not in rid
        kb("eval", "eval", rid, "--json")
        kb("predict", "predict", rid)
        kb("report", "report", rid)
        sub = json.loads(kb("submit", "submit", "--run", rid, "-m", "pipeline check", "--json").stdout)
        assert sub["ref"] and len(kd.submissions) == 2
        synced = json.loads(kb("sync", "submissions", "--sync", "--json").stdout)
        assert {Path(r["file"]).name for r in synced} >= {"outside-the-workspace.csv", Path(sub["file"]).name}
        kb("leaderboard", "leaderboard", "--sync", "--json")
        # A wrong key: Kaggle answers 401 and the refusal must not echo the key either.
        kd.key = "the-account-has-a-new-key"  # so the planted KEY is now a wrong one
        kb("wrong-key", "submit", "--file", str(ws / "answer-key" / "ood_answers.csv"), "-m", "x", rc=2)
        kd.key = KEY
        env["KAGGLE_KEY"] = WRONG_KEY
        (config / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": WRONG_KEY}))
        kb("wrong-key-2", "submit", "--file", str(ws / "answer-key" / "ood_answers.csv"), "-m", "x", rc=2)

    assert "chmod 600" in outputs["submit"].stderr  # kaggle.json readable by others was warned about
    assert "401" in outputs["wrong-key"].stderr
    for label, proc in outputs.items():
        for secret in (KEY, WRONG_KEY):
            assert secret not in proc.stdout + proc.stderr, f"{label} printed the key"
        assert "Traceback" not in proc.stderr, label
    written = sorted(p for p in _files(tmp_path) - before if p.is_file())
    assert written, "the pipeline wrote nothing?"
    outside = [p for p in written if not p.is_relative_to(ws) and not p.is_relative_to(config)
               and not p.is_relative_to(tmp_path / "home")]
    assert outside == [], f"written outside the workspace: {outside}"
    for path in (p for p in _files(ws) if p.is_file()):
        data = path.read_bytes()
        for secret in (KEY, WRONG_KEY):
            assert secret.encode() not in data, f"{path} holds the key"
    assert not list(tmp_path.glob("**/outside-the-workspace.csv"))
    assert not (tmp_path / "evil-recipe").exists() and not (tmp_path.parent / "escape").exists()
    # Everything searched above: the store, logs, configs, checkpoints, logits, CSVs, report PNGs.
    kinds = {p.suffix for p in written if p.is_relative_to(ws)}
    assert {".csv", ".json", ".log", ".pt", ".png", ".npz"} <= kinds, kinds
    assert ws / "kagglebench.db" in written
    assert os.stat(config / "kaggle.json").st_mode & 0o777 == 0o644  # we warn, we never chmod for them
