"""`kagglebench init DIR --competition SLUG --download` and `kagglebench data download` through the
real client against the double: a zip of the demo competition, served behind a redirect."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from kagglebench.workspace import Workspace
from tests.kaggle.conftest import error_line
from tests.kaggle.double import KaggleDouble

SLUG = "ds542-style-demo"


def _zip(folder: Path, drop: str | None = None) -> tuple[bytes, dict[str, int]]:
    """The folder's files as Kaggle serves a competition's data: one zip (stored), and the listing."""
    buf, names = io.BytesIO(), {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.name != drop:
                z.write(f, f.relative_to(folder).as_posix())
                names[f.relative_to(folder).as_posix()] = f.stat().st_size
    return buf.getvalue(), names


@pytest.fixture(scope="module")
def demo_zip(tmp_path_factory) -> tuple[bytes, dict[str, int]]:
    from kagglebench.data.demo import write_demo

    # 800 training images: a zip of about 3 MB, more than the client's 1 MB write chunks
    root = write_demo(tmp_path_factory.mktemp("dl") / "ws", classes=4, train=800, test=2, seed=3)
    return _zip(root / "data")


@pytest.fixture
def kd(make_double, demo_zip) -> KaggleDouble:
    return make_double(competition=SLUG, files=demo_zip[0], file_names=demo_zip[1])


def test_init_download_builds_a_working_workspace(kd: KaggleDouble, cli, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    code, out, err = cli("init", ws_dir, "--competition", SLUG, "--download")
    assert code == 0, err
    assert "workspace ready" in out and "profile ds542-sp25" in out
    assert [r.method for r in kd.calls() if r.method != "IntrospectToken"] == \
        ["ListDataFiles", "DownloadDataFiles", "GET"]  # the zip came through the redirect
    ws = Workspace(ws_dir)
    assert ws.competition == SLUG and ws.test_size() == 19 * 5 * 2
    assert ws.submission_format().sample == (ws_dir / "data" / "sample_submission.csv").resolve()
    assert not (ws_dir / ".kagglebench-download").exists() and not (ws_dir / ".data-unpacking").exists()
    code, out, err = cli("--workspace", ws_dir, "train", "demo-cnn", "epochs=1", "--json")
    assert code == 0, err
    assert '"status": "finished"' in out


def test_interrupted_download_leaves_nothing_half_unpacked_then_resumes(kd: KaggleDouble, cli,
                                                                        tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    kd.stall_download(after=len(kd.zip) - 200_000)  # all but the last 200 kB, then the line stalls
    child = subprocess.Popen([sys.executable, "-m", "kagglebench", "init", str(ws_dir), "--competition", SLUG,
                              "--download"], env=kd.subprocess_env(tmp_path / "site"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    part = ws_dir / ".kagglebench-download" / f"{SLUG}.zip"
    try:
        end = time.monotonic() + 120
        while not part.exists() or part.stat().st_size < 1 << 20:  # a first 1 MB chunk is on disk
            assert child.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)  # the student's laptop dies mid-download
        child.wait()
    finally:
        kd.release()
        if child.poll() is None:
            child.kill()
    assert not (ws_dir / "data").exists() and not (ws_dir / "kagglebench.toml").exists()
    had = part.stat().st_size
    assert 0 < had < len(kd.zip)
    code, out, err = cli("init", ws_dir, "--competition", SLUG, "--download")
    assert code == 0, err
    resumed = [r for r in kd.calls("GET") if r.headers.get("Range")]
    assert resumed and resumed[-1].headers["Range"] == f"bytes={had}-"  # only the rest was fetched
    assert Workspace(ws_dir).test_size() == 19 * 5 * 2


def test_damaged_archive_is_refused_and_nothing_is_unpacked(kd: KaggleDouble, cli, tmp_path: Path) -> None:
    data = bytearray(kd.zip)
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a stored member
    kd.zip = bytes(data)
    code, out, err = cli("init", tmp_path / "ws", "--competition", SLUG, "--download")
    assert code == 2
    assert "archive is damaged" in error_line(err)
    assert not (tmp_path / "ws" / "data").exists() and not (tmp_path / "ws" / ".data-unpacking").exists()


def test_rules_not_accepted_is_the_403_line(make_double, demo_zip, cli, tmp_path: Path) -> None:
    make_double(competition=SLUG, files=demo_zip[0], file_names=demo_zip[1], joined=False)
    code, out, err = cli("init", tmp_path / "ws", "--competition", SLUG, "--download")
    assert code == 2
    line = error_line(err)
    assert "Kaggle list data files: Kaggle denied access (403)" in line and "accept" in line
    assert not (tmp_path / "ws" / "data").exists()


def test_data_download_fetches_again(kd: KaggleDouble, cli, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    assert cli("init", ws_dir, "--competition", SLUG, "--download")[0] == 0
    stale = ws_dir / "data" / "stale.txt"
    stale.write_text("left from before")
    code, out, err = cli("--workspace", ws_dir, "data", "download")
    assert code == 0, err
    assert "data ready" in out and len(kd.calls("GET")) == 2
    assert not stale.exists()  # data/ is the new download, whole


def test_ds542_folder_missing_a_distortion_file_is_refused(make_double, demo_zip, cli, tmp_path: Path) -> None:
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(demo_zip[0])) as z:
        z.extractall(unpacked)
    (unpacked / "ood-test" / "distortion18.npy").unlink()  # 18 of 19 present
    code, out, err = cli("data", "check", unpacked / "ood-test")
    assert code == 2 and "distortion18.npy: file not found" in error_line(err)
    files, names = _zip(unpacked)
    make_double(competition=SLUG, files=files, file_names=names)
    code, out, err = cli("init", tmp_path / "ws", "--competition", SLUG, "--download")
    assert code == 2 and "distortion18.npy: file not found" in error_line(err)
    assert not (tmp_path / "ws" / "kagglebench.toml").exists()


@pytest.mark.parametrize(("files", "profile"), [
    (["cifar-100-python/train", "cifar-100-python/meta", "ood-test/distortion00.npy"], "ds542-sp25"),
    (["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/batches.meta", "cifar_test_nolabels.pkl"],
     "nyu-dl-sp24"),
    (["stl10_binary/train_X.bin"], "stl10-5class"),
    (["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"], "cifar10"),
    (["cifar-100-python/train", "cifar-100-python/meta"], "cifar100"),
    (["train/cat/1.png", "train/dog/2.png", "test/3.png"], "imagefolder"),
    (["cifar-10-batches-py/data_batch_1", "cifar-100-python/train", "cifar-100-python/meta"], None),
    (["notes.txt"], None),
])
def test_the_profile_is_asked_of_the_registered_competitions(tmp_path: Path, files: list[str],
                                                             profile: str | None) -> None:
    from kagglebench.errors import UserError
    from kagglebench.kaggle.download import detect_layout

    for f in files:  # the formats are told apart by their file names
        (tmp_path / "data" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / f).write_bytes(b"")
    if profile is None:
        with pytest.raises(UserError, match="cannot tell which profile .* pass --profile NAME"):
            detect_layout(tmp_path / "data")
        return
    layout = detect_layout(tmp_path / "data")
    assert layout.profile == profile and layout.train is not None
    if profile in ("ds542-sp25", "nyu-dl-sp24", "imagefolder"):
        assert layout.test is not None
