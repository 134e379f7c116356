"""The SQLite run store: schema, runs, metrics polling, dead-run reaping, concurrent use."""

import multiprocessing as mp
import sqlite3
import subprocess
import sys

import pytest

from kagglebench.errors import UserError
from kagglebench.store import SCHEMA_VERSION, Store


def _run(store: Store, rid: str = "r-1", **kw) -> None:
    store.create_run(rid, name="n", recipe="demo-cnn", config={"a": 1}, run_dir=f"runs/{rid}", **kw)


def test_schema_is_versioned_and_wal(tmp_path):
    s = Store(tmp_path / "kagglebench.db")
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    Store(tmp_path / "kagglebench.db").close()  # reopening migrates nothing and fails nothing


def test_runs_metrics_and_resume_dedup(tmp_path):
    s = Store(tmp_path / "kagglebench.db")
    _run(s, total_epochs=3)
    s.add_metrics("r-1", [{"scope": "epoch", "step": 10, "epoch": 1, "val_acc": 0.5}])
    first = s.metrics_since("r-1")
    # a resumed run re-logs the same epoch: replaced, not duplicated
    s.add_metrics("r-1", [{"scope": "epoch", "step": 10, "epoch": 1, "val_acc": 0.6}])
    rows = s.metrics_since("r-1", scope="epoch")
    assert [r["val_acc"] for r in rows] == [0.6]
    assert s.metrics_since("r-1", after_id=rows[-1]["id"]) == []
    assert first[0]["id"] < rows[0]["id"]
    s.update_run("r-1", epoch=1, best_val_acc=0.6)
    run = s.get_run("r-1")
    assert run["config"] == {"a": 1} and run["epoch"] == 1 and run["status"] == "running"
    with pytest.raises(UserError, match="no such run"):
        s.require_run("nope")


def test_dead_process_is_marked_failed(tmp_path):
    s = Store(tmp_path / "kagglebench.db")
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    _run(s, pid=p.pid)
    assert [r["status"] for r in s.list_runs()] == ["failed"]
    assert "exited" in s.get_run("r-1")["message"]
    s.reap_dead_runs()                     # the write paths (a training run starting) write it down
    raw = s.db.execute("SELECT status, finished FROM runs WHERE id = 'r-1'").fetchone()
    assert raw["status"] == "failed" and raw["finished"] is not None


def test_reads_never_write(tmp_path):
    """The GUI polls list_runs every half second: reading, even a dead run, changes nothing."""
    path = tmp_path / "kagglebench.db"
    s = Store(path)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    _run(s, "dead", pid=p.pid)
    _run(s, "alive")
    s.add_metrics("alive", [{"scope": "step", "step": 1, "epoch": 0.1, "train_loss": 1.0}])
    s.close()
    reader = Store(path)
    before = reader.db.total_changes
    for _ in range(3):
        runs = {r["id"]: r for r in reader.list_runs()}
        reader.get_run("dead")
        reader.metrics_since("alive")
        reader.list_checkpoints()
        reader.samples_since()
        reader.list_submissions()
    assert reader.db.total_changes == before
    assert runs["dead"]["status"] == "failed" and runs["alive"]["status"] == "running"
    raw = sqlite3.connect(path).execute("SELECT status FROM runs WHERE id = 'dead'").fetchone()
    assert raw == ("running",)             # still as the trainer left it: the read did not write


def test_corrupt_store_is_a_user_error(tmp_path):
    bad = tmp_path / "kagglebench.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="kagglebench.db"):
        Store(bad)


def _writer(path: str, rid: str, n: int) -> None:
    s = Store(path)
    for i in range(n):
        s.add_metrics(rid, [{"scope": "step", "step": i, "epoch": i / n, "train_loss": 1.0 / (i + 1)}])


def test_writer_and_reader_processes_share_the_store(tmp_path):
    path = str(tmp_path / "kagglebench.db")
    s = Store(path)
    _run(s)
    ctx = mp.get_context("spawn")
    w = ctx.Process(target=_writer, args=(path, "r-1", 300))
    w.start()
    seen, last = 0, 0
    while w.is_alive() or last == 0 or seen < 300:
        rows = s.metrics_since("r-1", after_id=last)
        if rows:
            seen += len(rows)
            last = rows[-1]["id"]
        if not w.is_alive() and not rows:
            break
    w.join()
    assert w.exitcode == 0
    assert seen == 300
    assert isinstance(s.db, sqlite3.Connection)
