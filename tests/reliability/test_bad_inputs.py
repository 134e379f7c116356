"""The bad-input corpus: each broken file or value, given to the real CLI, must produce one line
`kagglebench: error: <file or setting>: <problem>`, exit status 2, no traceback, and change
nothing on disk (no run, no submission record, no half-written file, the input untouched).

The files live in corpus/ (written by corpus/make_corpus.py). The subprocesses of one group run
a few at a time in a module fixture, so the whole corpus costs a few seconds of wall time;
each case is still its own parametrised test.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.helpers import CORPUS, assert_one_line_error, cli_env, kb

DATA = CORPUS / "data"

# (case, path under corpus/data, words the error line must contain: the file, then the problem)
DATA_CASES = [
    ("pickle-truncated", "cifar100-truncated", ["cifar100-truncated/train", "truncated"]),
    ("pickle-corrupt", "cifar100-corrupt", ["cifar100-corrupt/train", "cannot be read as a pickle"]),
    ("pickle-empty-file", "cifar100-empty-file", ["cifar100-empty-file/train", "cannot be read"]),
    ("pickle-not-a-dict", "cifar100-not-a-dict", ["cifar100-not-a-dict/train", "expected a pickled dict"]),
    ("pickle-missing-key", "cifar100-missing-labels", ["cifar100-missing-labels/train", "fine_labels"]),
    ("images-wrong-shape", "cifar100-wrong-shape", ["cifar100-wrong-shape/train", "(4, 3000)"]),
    ("images-wrong-dtype", "cifar100-wrong-dtype", ["cifar100-wrong-dtype/train", "float32"]),
    ("label-out-of-range", "cifar100-label-out-of-range", ["label-out-of-range/train", "label 100", "0..99"]),
    ("label-negative", "cifar100-negative-label", ["negative-label/train", "label -1"]),
    ("labels-count", "cifar100-label-count", ["cifar100-label-count/train", "2 labels for 4 images"]),
    ("dataset-empty", "cifar100-empty", ["cifar100-empty", "no images"]),
    ("ood-file-missing", "ood-missing-file", ["ood-missing-file/distortion05.npy", "not found"]),
    ("npy-truncated", "ood-truncated", ["ood-truncated/distortion03.npy", "truncated"]),
    ("npy-corrupt", "ood-corrupt", ["ood-corrupt/distortion00.npy", "cannot be read as a .npy"]),
    ("npy-wrong-dtype", "ood-wrong-dtype", ["ood-wrong-dtype/distortion07.npy", "float32", "uint8"]),
    ("npy-wrong-shape", "ood-wrong-shape", ["ood-wrong-shape/distortion02.npy", "shape (5, 4, 4)"]),
    ("npy-not-five-severities", "ood-not-five-severities", ["distortion00.npy", "(7, 4, 4, 3)"]),
    ("npy-shapes-differ", "ood-mixed-shapes", ["ood-mixed-shapes/distortion09.npy", "differs"]),
    ("npy-pickled-objects", "ood-pickled-objects", ["ood-pickled-objects/distortion01.npy", "cannot be read"]),
    ("nyu-ids-vs-data", "nyu-ids-length/cifar_test_nolabels.pkl", ["cifar_test_nolabels.pkl", "5 ids for 6"]),
    ("nyu-wrong-shape", "nyu-wrong-shape/cifar_test_nolabels.pkl", ["cifar_test_nolabels.pkl", "(6, 96, 32)"]),
    ("nyu-wrong-dtype", "nyu-wrong-dtype/cifar_test_nolabels.pkl", ["cifar_test_nolabels.pkl", "float64"]),
    ("nyu-no-ids", "nyu-no-ids/cifar_test_nolabels.pkl", ["cifar_test_nolabels.pkl", "missing key 'ids'"]),
    ("nyu-truncated", "nyu-truncated/cifar_test_nolabels.pkl", ["cifar_test_nolabels.pkl", "truncated"]),
    ("stl10-bad-size", "stl10-bad-size", ["stl10-bad-size/train_X.bin", "not a whole number"]),
    ("image-corrupt", "imagefolder-corrupt-image", ["cats/broken.png", "cannot be decoded"]),
    ("imagefolder-no-images", "imagefolder-no-images", ["imagefolder-no-images", "no images"]),
    ("folder-unknown", "empty-folder", ["empty-folder", "no data format recognised"]),
    ("path-missing", "no-such-folder", ["no-such-folder", "no such file or folder"]),
]

RECIPE_CASES = [  # `train corpus/recipes/FILE`
    ("recipe-unknown-key", "unknown-key.toml", ["unknown-key.toml", "unknown key 'train.epochz'", "train.epochs"]),
    ("recipe-unknown-section", "unknown-section.toml", ["unknown-section.toml", "unknown key 'trian'"]),
    ("recipe-syntax", "syntax-error.toml", ["syntax-error.toml", "not valid TOML", "line 2"]),
    ("recipe-wrong-type", "wrong-type.toml", ["wrong-type.toml", "train.epochs", "whole number", "'ten'"]),
    ("recipe-nan", "nan-lr.toml", ["nan-lr.toml", "optim.lr", "finite"]),
    ("recipe-negative", "negative-batch.toml", ["negative-batch.toml", "train.batch_size = -8"]),
    ("recipe-unknown-base", "unknown-base.toml", ["no-such-recipe", "no built-in recipe"]),
    ("recipe-base-loop", "base-loop.toml", ["base-loop.toml", "loop"]),
    ("recipe-mean-length", "mean-two-values.toml", ["mean-two-values.toml", "data.mean", "3 numbers"]),
    ("recipe-unknown-model", "unknown-model.toml", ["resnet9000", "is not one of (did you mean 'resnet50'?)"]),
    ("recipe-binary", "binary.toml", ["binary.toml", "not a text file"]),
    ("recipe-missing", "no-such.toml", ["no-such.toml", "not found"]),
]

OVERRIDE_CASES = [  # `train simplecnn-1conv KEY=VALUE`
    ("override-inf", "lr=inf", ["lr=inf", "finite"]),
    ("override-negative-lr", "lr=-0.1", ["lr=-0.1", "> 0"]),
    ("override-fraction", "epochs=2.5", ["epochs=2.5", "whole number"]),
    ("override-zero-batch", "batch_size=0", ["batch_size=0", ">= 1"]),
    ("override-unknown-key", "train.epochz=3", ["train.epochz", "unknown key", "did you mean 'train.epochs'"]),
    ("override-unknown-choice", "optim.name=sgdd", ["sgdd", "sgd, adam, adamw"]),
    ("override-val-fraction", "data.val_fraction=1.5", ["val_fraction", "< 1"]),
    ("override-zero-std", "data.std=[0,1,1]", ["data.std", "> 0"]),
    ("override-no-equals", "epochs", ["epochs", "key=value"]),
]

CSV_CASES = [  # `submit --file corpus/csv/FILE --dry-run` on the tiny demo workspace (95 rows)
    ("csv-header", "wrong-header.csv", ["wrong-header.csv", "header", "id,label"]),
    ("csv-missing-rows", "missing-rows.csv", ["missing-rows.csv", "92", "95"]),
    ("csv-extra-rows", "extra-rows.csv", ["extra-rows.csv", "96", "95"]),
    ("csv-unknown-id", "unknown-id.csv", ["unknown-id.csv", "picture_10"]),
    ("csv-order", "wrong-order.csv", ["wrong-order.csv", "line 2", "distortion00_2_0"]),
    ("csv-duplicate-id", "duplicate-id.csv", ["duplicate-id.csv", "distortion00_5_0"]),
    ("csv-label-range", "label-out-of-range.csv", ["label-out-of-range.csv", "label 4", "0..3"]),
    ("csv-label-negative", "negative-label.csv", ["negative-label.csv", "-1"]),
    ("csv-label-text", "label-not-a-number.csv", ["label-not-a-number.csv", "'cat'"]),
    ("csv-columns", "three-columns.csv", ["three-columns.csv", "3 columns"]),
    ("csv-header-only", "header-only.csv", ["header-only.csv", "0 prediction rows"]),
    ("csv-empty", "empty.csv", ["empty.csv", "is empty"]),
    ("csv-not-utf8", "not-utf8.csv", ["not-utf8.csv", "UTF-8"]),
]


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _run_all(jobs: dict[str, Callable[[], object]]) -> dict[str, object]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


@pytest.fixture(scope="module")
def corpus_digest() -> str:
    return _tree_digest(CORPUS)


@pytest.fixture(scope="module")
def data_results(corpus_digest: str) -> dict:
    return _run_all({case: (lambda p=path: kb("data", "check", str(DATA / p))) for case, path, _ in DATA_CASES})


@pytest.fixture(scope="module")
def train_results(rel_demo: Path, tmp_path_factory) -> tuple[Path, dict]:
    ws = tmp_path_factory.mktemp("badtrain") / "ws"
    shutil.copytree(rel_demo, ws)
    jobs = {case: (lambda f=f: kb("train", str(CORPUS / "recipes" / f), ws=ws)) for case, f, _ in RECIPE_CASES}
    jobs.update({case: (lambda o=o: kb("train", "simplecnn-1conv", o, ws=ws)) for case, o, _ in OVERRIDE_CASES})
    return ws, _run_all(jobs)


@pytest.fixture(scope="module")
def sub_ws(tmp_path_factory) -> Path:
    """A demo workspace of 4 classes with one image per OOD severity: 95 submission rows."""
    from kagglebench.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("badcsv") / "ws", classes=4, train=40, test=1, seed=5)


@pytest.fixture(scope="module")
def csv_results(sub_ws: Path) -> dict:
    return _run_all({case: (lambda f=f: kb("submit", "--file", str(CORPUS / "csv" / f), "--dry-run", "-m", "t",
                                          ws=sub_ws)) for case, f, _ in CSV_CASES})


@pytest.mark.parametrize(("case", "path", "needles"), DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_file(data_results: dict, case: str, path: str, needles: list[str]) -> None:
    assert_one_line_error(data_results[case], *needles)


@pytest.mark.parametrize(("case", "file", "needles"), RECIPE_CASES + OVERRIDE_CASES,
                         ids=[c[0] for c in RECIPE_CASES + OVERRIDE_CASES])
def test_bad_recipe_or_setting(train_results: tuple[Path, dict], case: str, file: str,
                               needles: list[str]) -> None:
    ws, results = train_results
    assert_one_line_error(results[case], *needles)
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir()), "a run was started"


@pytest.mark.parametrize(("case", "file", "needles"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_submission_csv(sub_ws: Path, csv_results: dict, case: str, file: str, needles: list[str]) -> None:
    assert_one_line_error(csv_results[case], *needles)
    db = sub_ws / "kagglebench.db"
    if db.exists():  # refused before anything was recorded
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0


def test_corpus_was_not_touched(data_results: dict, train_results: tuple, csv_results: dict,
                                corpus_digest: str) -> None:
    assert _tree_digest(CORPUS) == corpus_digest


def test_debug_shows_the_traceback_instead(rel_ws: Path) -> None:
    proc = kb("--debug", "data", "check", str(DATA / "cifar100-truncated"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "UserError" in proc.stderr


# ---- the workspace itself: missing, broken settings, a corrupt store, a folder we cannot write

def _ws_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_missing_workspace(tmp_path: Path) -> None:
    assert_one_line_error(kb("runs", ws=tmp_path / "nowhere"), "nowhere", "not a kagglebench workspace")
    (tmp_path / "empty").mkdir()
    proc = kb("runs", cwd=tmp_path / "empty")  # no --workspace: searched from here upward
    assert_one_line_error(proc, "empty", "kagglebench.toml")
    assert list((tmp_path / "empty").iterdir()) == []


def test_broken_settings_file(rel_demo: Path, tmp_path: Path) -> None:
    ws = _ws_copy(rel_demo, tmp_path / "ws")
    (ws / "kagglebench.toml").write_text("profile = demo\n[data\n")
    assert_one_line_error(kb("runs", ws=ws), "kagglebench.toml", "not valid TOML")
    (ws / "kagglebench.toml").write_bytes(b"\xff\xfe\x00\x00profile")
    assert_one_line_error(kb("runs", ws=ws), "kagglebench.toml", "not a text file")
    assert not (ws / "kagglebench.db").exists()


def test_corrupt_store_is_refused_and_left_as_it_was(rel_demo: Path, tmp_path: Path) -> None:
    ws = _ws_copy(rel_demo, tmp_path / "ws")
    db = ws / "kagglebench.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)  # a header, then garbage
    before = db.read_bytes()
    for args in (["runs"], ["runs", "--json"], ["submissions"], ["train", "simplecnn-1conv", "epochs=1"]):
        assert_one_line_error(kb(*args, ws=ws, timeout=600), "kagglebench.db", "not a readable kagglebench store")
    assert db.read_bytes() == before  # never "repaired" into an empty store: the runs may be recoverable
    assert not (ws / "runs").exists()


def test_store_from_a_newer_kagglebench(rel_demo: Path, tmp_path: Path) -> None:
    ws = _ws_copy(rel_demo, tmp_path / "ws")
    with sqlite3.connect(ws / "kagglebench.db") as con:
        con.execute("PRAGMA user_version = 99")
    assert_one_line_error(kb("runs", ws=ws), "kagglebench.db", "newer kagglebench")


def test_unwritable_submissions_folder(trained_ws: Path, tmp_path: Path) -> None:
    from kagglebench.store import Store

    ws = _ws_copy(trained_ws, tmp_path / "ws")
    with Store(ws / "kagglebench.db") as s:
        rid = s.list_runs()[0]["id"]
    subs = ws / "submissions"
    subs.mkdir(exist_ok=True)
    old = list(subs.iterdir())
    subs.chmod(0o555)  # not enough as root: the hook refuses writes there too
    try:
        proc = kb("predict", rid, ws=ws, env=cli_env({"KB_FAULT_DENY": str(subs)}, hooks=True))
        assert_one_line_error(proc, "submissions", "permission denied")
        assert list(subs.iterdir()) == old  # no partial CSV, no temp file
    finally:
        subs.chmod(0o755)


@pytest.mark.parametrize(("case", "ood", "drop", "needles"), [
    ("ds542-last-file-missing", "ood-good", "distortion18.npy", ["ood-test/distortion18.npy", "not found",
                                                                 "19"]),
    ("ds542-middle-file-missing", "ood-missing-file", None, ["distortion05.npy", "not found"]),
    ("ds542-npy-truncated", "ood-truncated", None, ["distortion03.npy", "truncated"]),
])
def test_init_refuses_a_broken_ds542_folder(tmp_path: Path, case: str, ood: str, drop: str | None,
                                            needles: list[str]) -> None:
    shutil.copytree(DATA / "cifar100-good", tmp_path / "cifar-100-python")
    shutil.copytree(DATA / ood, tmp_path / "ood-test")
    if drop:
        (tmp_path / "ood-test" / drop).unlink()
    proc = kb("init", str(tmp_path / "ws"), "--profile", "ds542-sp25", "--data", str(tmp_path / "cifar-100-python"))
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "ws").exists()  # no half-made workspace
