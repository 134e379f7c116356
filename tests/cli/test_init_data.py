"""`kagglebench data demo|check` and `kagglebench init` run as a student would run them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kagglebench.data import writers


def kb(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kagglebench", *map(str, args)],
                          check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_data_demo_then_check_and_init(tmp_path):
    r = kb("data", "demo", tmp_path / "demo", "--classes", "3", "--train", "30", "--test", "2")
    assert r.returncode == 0, r.stderr
    assert "hidden test set: 190 images" in r.stdout  # 19 corruptions x 5 severities x 2
    r = kb("data", "check", tmp_path / "demo" / "data" / "cifar-100-python")
    assert r.returncode == 0 and "cifar100" in r.stdout and "10-10 images per class" in r.stdout
    r = kb("data", "check", tmp_path / "demo" / "data" / "ood-test")
    assert "19 distortion files x 5 severities x 2 images" in r.stdout
    r = kb("init", tmp_path / "ws", "--profile", "ds542-sp25", "--data",
           tmp_path / "demo" / "data" / "cifar-100-python", "--competition", "my-comp")
    assert r.returncode == 0, r.stderr
    assert "id,label with 190 rows" in r.stdout
    assert 'competition = "my-comp"' in (tmp_path / "ws" / "kagglebench.toml").read_text()


def test_broken_pickle_is_one_line_exit_2(tmp_path):
    x = np.zeros((4, 32, 32, 3), np.uint8)
    root = writers.write_cifar10(tmp_path / "c10", (x, np.arange(4)), (x, np.arange(4)),
                                 [str(i) for i in range(10)], 1)
    f = root / "test_batch"
    f.write_bytes(f.read_bytes()[:100])
    r = kb("data", "check", root)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith(f"kagglebench: error: {f}: cannot be read as a pickle")


def test_errors_for_unknown_profile_missing_path_and_occupied_folder(tmp_path):
    r = kb("init", tmp_path / "ws", "--profile", "cifar1000", "--data", tmp_path)
    assert r.returncode == 2 and "unknown profile 'cifar1000'" in r.stderr and "Traceback" not in r.stderr
    r = kb("data", "check", tmp_path / "missing")
    assert r.returncode == 2 and f"{tmp_path / 'missing'}: no such file or folder" in r.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("x")
    r = kb("data", "demo", tmp_path / "taken", "--train", "20", "--classes", "2")
    assert r.returncode == 2 and "not empty" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
