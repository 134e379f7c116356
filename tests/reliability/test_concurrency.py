"""Concurrent use of one workspace: two trainers, `kagglebench runs` in a loop, and a reader that
polls metrics the way the GUI does (rows with an id above the last one it saw).

Nobody may see "database is locked" (or any error), and the reader must receive every metric row
the trainers wrote: a row committed behind the reader's cursor would be lost to the GUI forever.
KB_SOAK_EPOCHS sets how long the trainers run (default 2 epochs each; the recorded soak in
RELIABILITY.md used 100: five minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kagglebench.store import Store
from tests.reliability.helpers import cli_env, kb, write_recipe

STEPS_PER_EPOCH = 6


class Poller(threading.Thread):
    """The GUI's loop: one connection, list runs, fetch rows newer than the last id seen."""

    def __init__(self, db: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.db, self.stop = db, stop
        self.seen: dict[str, set[int]] = {}
        self.last: dict[str, int] = {}
        self.samples = 0
        self.last_sample = 0
        self.polls = 0
        self.errors: list[str] = []

    def poll(self, store: Store) -> None:
        for run in store.list_runs():
            rows = store.metrics_since(run["id"], self.last.get(run["id"], 0))
            if rows:
                self.last[run["id"]] = rows[-1]["id"]
                self.seen.setdefault(run["id"], set()).update(r["id"] for r in rows)
        samples = store.samples_since(self.last_sample)
        if samples:
            self.last_sample = samples[-1]["id"]
            self.samples += len(samples)
        self.polls += 1

    def run(self) -> None:
        while not self.db.exists() and not self.stop.is_set():
            time.sleep(0.05)
        try:
            with Store(self.db) as store:
                while not self.stop.is_set():
                    self.poll(store)
                    time.sleep(0.03)
                self.poll(store)
        except Exception as e:  # noqa: BLE001 - any error is a finding
            self.errors.append(f"{type(e).__name__}: {e}")


class RunsLoop(threading.Thread):
    """`kagglebench runs --json` again and again, as a student refreshing a terminal."""

    def __init__(self, ws: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.ws, self.stop = ws, stop
        self.count = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            if (self.ws / "kagglebench.db").exists():
                proc = kb("runs", "--json", ws=self.ws, timeout=120)
                self.count += 1
                if proc.returncode != 0 or proc.stderr.strip():
                    self.errors.append(f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
            time.sleep(0.1)


def test_two_trainers_a_runs_loop_and_a_gui_poller_share_the_store(rel_ws: Path, tmp_path: Path) -> None:
    epochs = int(os.environ.get("KB_SOAK_EPOCHS", "2"))
    recipe = write_recipe(tmp_path, epochs=epochs, every=2)
    db = rel_ws / "kagglebench.db"
    stop = threading.Event()
    poller, loop = Poller(db, stop), RunsLoop(rel_ws, stop)
    poller.start()
    loop.start()
    start = time.time()
    trainers = [subprocess.Popen([sys.executable, "-m", "kagglebench", "--workspace", str(rel_ws), "train",
                                  str(recipe), "--name", name, f"train.seed={i}", "lr=0.001", "--json"],
                                 env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i, name in enumerate(["first", "second"])]
    try:
        outs = [p.communicate(timeout=600 + 30 * epochs) for p in trainers]
    finally:
        for p in trainers:
            if p.poll() is None:
                p.kill()
        stop.set()
        poller.join(timeout=60)
        loop.join(timeout=120)
    for p, (_, err) in zip(trainers, outs):
        assert p.returncode == 0, err
        assert "locked" not in err.lower() and "Traceback" not in err, err
    assert poller.errors == [] and loop.errors == []
    assert loop.count >= 2 and poller.polls >= 10
    with Store(db) as store:
        runs = store.list_runs()
        assert sorted(r["status"] for r in runs) == ["finished", "finished"]
        for run in runs:
            rows = store.metrics_since(run["id"])
            steps = sorted(r["step"] for r in rows if r["scope"] == "step")
            assert steps == list(range(1, STEPS_PER_EPOCH * epochs + 1)), run["name"]
            assert len([r for r in rows if r["scope"] == "epoch"]) == epochs
            assert poller.seen[run["id"]] == {r["id"] for r in rows}, "the poller missed rows"
    print(f"soak: {epochs} epochs x 2 trainers in {time.time() - start:.0f} s, {loop.count} `runs` calls, "
          f"{poller.polls} polls, {sum(len(s) for s in poller.seen.values())} metric rows, "
          f"{poller.samples} system samples read")


@pytest.mark.parametrize("readonly", [False, True])
def test_store_opened_while_a_writer_holds_a_long_transaction(tmp_path: Path, readonly: bool) -> None:
    """A reader (and a second writer) wait for the lock instead of failing."""
    db = tmp_path / "kagglebench.db"
    with Store(db) as writer:
        writer.create_run("r1", name="r", recipe="r", config={}, run_dir="runs/r1")

        def hold() -> None:
            with writer.transaction():
                writer.db.execute("INSERT INTO metrics (run_id, scope, step, epoch, time) "
                                  "VALUES ('r1', 'step', 1, 0.1, 0)")
                time.sleep(1.0)
        t = threading.Thread(target=hold)
        t.start()
        time.sleep(0.2)
        with Store(db, readonly=readonly) as other:
            if readonly:
                assert other.list_runs()[0]["id"] == "r1"
            else:  # blocks until the first transaction commits, then lands after it
                other.add_metrics("r1", [{"scope": "step", "step": 2, "epoch": 0.2}])
        t.join()
        expected = [1] if readonly else [1, 2]
        assert [r["step"] for r in writer.metrics_since("r1")] == expected


OPEN_AT = """
import sys, time
from kagglebench.store import Store
start = float(sys.argv[2])
while time.time() < start:
    pass
Store(sys.argv[1]).close()
"""


def test_processes_that_open_a_new_store_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    """Two tune workers start their first trials together, so two trainers open the workspace's new
    store in the same millisecond. SQLite refuses one of them the switch to WAL at once ("database
    is locked", busy_timeout notwithstanding): 16 of 30 pairs failed so before the store retried."""
    for i in range(8):
        db = tmp_path / f"ws{i}" / "kagglebench.db"
        db.parent.mkdir()
        start = time.time() + 0.5  # every process is past its imports by then, then all open at once
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, str(db), str(start)], stderr=subprocess.PIPE,
                                  text=True, env=cli_env()) for _ in range(3)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        with Store(db) as s:
            assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_locked_too_long_says_so_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    import kagglebench.store as store_module
    from kagglebench.errors import UserError

    db = tmp_path / "kagglebench.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")                       # a new file, held by another process
    monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.3)
    with pytest.raises(UserError, match=r"another process kept the run store locked for over 0.3 s "
                                        r"\(database is locked\); try again once it is done"):
        Store(db)
    holder.execute("ROLLBACK")
    holder.close()
    with Store(db) as s:                                    # and once it lets go, the store opens
        assert s.list_runs() == []
