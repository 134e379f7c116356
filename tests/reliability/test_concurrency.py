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
