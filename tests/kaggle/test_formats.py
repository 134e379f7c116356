"""Submission CSVs: the writer produces each competition's exact format, the validator refuses bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kagglebench.data import writers
from kagglebench.errors import UserError
from kagglebench.kaggle.formats import validate_csv, write_submission
from kagglebench.workspace import Workspace, write_settings

CLASSES = [f"class{i}" for i in range(10)]


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _cifar100(root: Path) -> Path:
    y = np.arange(40) % 10
    return writers.write_cifar100(root / "cifar-100-python", (_images(40, 0), y, y // 5),
                                  (_images(20, 1), y[:20], y[:20] // 5), CLASSES, ["a", "b"])


def make_ds542(tmp: Path, per_severity: int = 2) -> Workspace:
    """The DS-542 layout: 19 distortion files x 5 severities, ids distortionNN_s_i."""
    train = _cifar100(tmp / "data")
    for k in range(19):
        writers.write_ood_file(tmp / "data" / "ood-test" / f"distortion{k:02d}.npy", _images(5 * per_severity, k))
    write_settings(tmp, {"profile": "ds542-sp25", "competition": "ds542",
                         "data": {"train": str(train), "test": str(tmp / "data" / "ood-test")}})
    return Workspace(tmp)


def make_nyu(tmp: Path) -> Workspace:
    y = np.arange(30) % 10
    train = writers.write_cifar10(tmp / "cifar-10-batches-py", (_images(30, 2), y), (_images(10, 3), y[:10]),
                                  CLASSES)
    ids = [int(i) for i in np.random.default_rng(0).permutation(1000)[:12]]   # not 0..N-1 on purpose
    pkl = writers.write_nyu_pickle(tmp / "cifar_test_nolabels.pkl", _images(12, 4), ids)
    write_settings(tmp, {"profile": "nyu-dl-sp24", "competition": "nyu",
                         "data": {"train": str(train), "test": str(pkl)}})
    return Workspace(tmp)


def make_generic(tmp: Path) -> Workspace:
    """A CIFAR-10 folder whose sample_submission.csv has its own header and a shuffled id order."""
    y = np.arange(30) % 10
    train = writers.write_cifar10(tmp / "cifar-10-batches-py", (_images(30, 5), y), (_images(15, 6), y[:15]),
                                  CLASSES)
    order = np.random.default_rng(1).permutation(15)
    sample = writers.write_csv(tmp / "sample_submission.csv", ["image_id", "category"],
                               [(str(i), 0) for i in order])
    write_settings(tmp, {"profile": "cifar10", "data": {"train": str(train), "sample_submission": str(sample)}})
    return Workspace(tmp)


@pytest.fixture(params=["ds542", "nyu", "generic"])
def ws(request, tmp_path) -> Workspace:
    return {"ds542": make_ds542, "nyu": make_nyu, "generic": make_generic}[request.param](tmp_path)


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("".join(",".join(r) + "\n" for r in rows))
    return path


def _good(ws: Workspace, tmp_path: Path) -> tuple[Path, list[list[str]]]:
    fmt = ws.submission_format()
    labels = np.arange(fmt.rows) % fmt.num_classes
    out = write_submission(tmp_path / "sub" / "good.csv", ws, labels)
    return out, _read(out)


def test_written_file_matches_format_and_passes(ws, tmp_path):
    out, rows = _good(ws, tmp_path)
    fmt = ws.submission_format()
    assert rows[0] == [fmt.id_col, fmt.label_col]
    assert [r[0] for r in rows[1:]] == list(fmt.ids)
    assert validate_csv(out, ws) == fmt.rows
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]   # no temp file left


def test_profile_specific_headers_and_ids(tmp_path):
    ds = make_ds542(tmp_path / "a", per_severity=2)
    _, rows = _good(ds, tmp_path / "a")
    assert rows[0] == ["id", "label"] and len(rows) == 1 + 19 * 5 * 2
    assert [r[0] for r in rows[1:4]] == ["distortion00_1_0", "distortion00_1_1", "distortion00_2_0"]
    assert rows[-1][0] == "distortion18_5_1"
    nyu = make_nyu(tmp_path / "b")
    _, rows = _good(nyu, tmp_path / "b")
    assert rows[0] == ["ID", "Labels"]
    import pickle
    with open(tmp_path / "b" / "cifar_test_nolabels.pkl", "rb") as f:
        ids = pickle.load(f)[b"ids"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in ids]
    gen = make_generic(tmp_path / "c")
    _, rows = _good(gen, tmp_path / "c")
    sample = _read(tmp_path / "c" / "sample_submission.csv")
    assert rows[0] == ["image_id", "category"] and [r[0] for r in rows] == [r[0] for r in sample]


def _refused(path: Path, ws: Workspace, *words: str) -> str:
    with pytest.raises(UserError) as e:
        validate_csv(path, ws)
    msg = str(e.value)
    assert msg.startswith(str(path)), msg
    for w in words:
        assert w in msg, msg
    return msg


def test_bad_files_are_refused_naming_the_problem(ws, tmp_path):
    _out, rows = _good(ws, tmp_path)
    fmt = ws.submission_format()
    head, body = rows[0], rows[1:]
    bad = tmp_path / "bad.csv"
    _refused(_write(bad, [["Id", "Label"], *body]), ws, "header", ",".join(head))
    _refused(_write(bad, [head, *body[:-1]]), ws, f"{len(body) - 1:,} prediction rows", f"{len(body):,}")
    _refused(_write(bad, [head, *body, body[0]]), ws, "rows")
    swapped = [body[1], body[0], *body[2:]]
    _refused(_write(bad, [head, *swapped]), ws, "line 2", repr(body[1][0]), "order")
    dup = [body[0], body[0], *body[2:]]
    _refused(_write(bad, [head, *dup]), ws, "line 3", "appears twice")
    stranger = [["not_an_id", body[0][1]], *body[1:]]
    _refused(_write(bad, [head, *stranger]), ws, "line 2", "not one of this competition's test ids")
    out_of_range = [*body[:-1], [body[-1][0], str(fmt.num_classes)]]
    _refused(_write(bad, [head, *out_of_range]), ws, f"line {len(body) + 1}", f"0..{fmt.num_classes - 1}")
    _refused(_write(bad, [head, [body[0][0], "cat"], *body[1:]]), ws, "line 2", "not a plain class index")
    _refused(_write(bad, [head, [*body[0], "x"], *body[1:]]), ws, "line 2", "3 columns")
    bad.write_text("")
    _refused(bad, ws, "empty")
    _refused(tmp_path / "missing.csv", ws, "no such file")


def test_writer_refuses_wrong_count_or_range(tmp_path):
    ws = make_nyu(tmp_path)
    with pytest.raises(UserError, match="11 predictions for 12 test ids"):
        write_submission(tmp_path / "x.csv", ws, np.zeros(11, int))
    with pytest.raises(UserError, match="outside 0..9"):
        write_submission(tmp_path / "x.csv", ws, np.full(12, 10))
    assert not (tmp_path / "x.csv").exists()
