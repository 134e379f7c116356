"""The SQLite run store: the one contract between the trainer, the CLI and the GUI.

Imports neither torch nor Qt. WAL mode and a busy timeout let a trainer write
while the CLI and the desktop app read. Readers poll with `metrics_since` /
`samples_since` (rows newer than the last id they saw). The schema is
versioned; `_MIGRATIONS[i]` brings a database from version i to i+1.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

BUCKET_STEPS = 256
_BUCKET_X = ("step", "epoch", "time")
_BUCKET_Y = ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr", "images_per_s")
RUN_STATUSES = ("running", "finished", "stopped", "diverged", "failed", "pruned")

_MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        recipe TEXT NOT NULL,
        config TEXT NOT NULL,             -- resolved recipe, JSON
        status TEXT NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 0, -- epochs completed
        total_epochs INTEGER,
        step INTEGER NOT NULL DEFAULT 0,
        best_val_acc REAL,
        ood_acc REAL,
        images_per_s REAL,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        host TEXT,
        pid INTEGER,
        git_commit TEXT,
        versions TEXT,                    -- JSON {package: version}
        sweep_id TEXT,
        run_dir TEXT NOT NULL,            -- relative to the workspace
        message TEXT                      -- last error / stop reason, one line
    );
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        scope TEXT NOT NULL,              -- 'step' or 'epoch'
        step INTEGER NOT NULL,            -- global optimizer step at the time
        epoch REAL NOT NULL,              -- fractional for step rows
        train_loss REAL, train_acc REAL, val_loss REAL, val_acc REAL, val_top5 REAL,
        lr REAL, images_per_s REAL,
        time REAL NOT NULL,
        UNIQUE (run_id, scope, step)
    );
    CREATE INDEX metrics_run ON metrics(run_id, id);
    CREATE TABLE checkpoints (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,                -- 'last', 'epoch012', ...
        epoch INTEGER NOT NULL,
        step INTEGER NOT NULL,
        path TEXT NOT NULL,               -- relative to the workspace
        val_acc REAL,
        metric REAL,
        created REAL NOT NULL,
        PRIMARY KEY (run_id, tag)
    );
    CREATE TABLE evals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        checkpoint TEXT NOT NULL,
        tta TEXT NOT NULL,
        val_acc REAL, val_top5 REAL, nll REAL, ece REAL, ood_acc REAL,
        details TEXT,                     -- JSON: per-class, confusion, ood table
        created REAL NOT NULL
    );
    CREATE TABLE system_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT,
        time REAL NOT NULL,
        gpu INTEGER,                      -- NVML index, NULL for the CPU-only row
        gpu_util REAL, gpu_mem_used REAL, gpu_mem_total REAL, gpu_temp REAL, gpu_power REAL,
        cpu_percent REAL, rss REAL
    );
    CREATE INDEX samples_run ON system_samples(run_id, id);
    CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        recipe TEXT NOT NULL,
        grid TEXT NOT NULL,               -- JSON {key: [values]}
        created REAL NOT NULL
    );
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        competition TEXT NOT NULL,
        ref TEXT,                         -- Kaggle's submission ref
        file TEXT NOT NULL,
        sha256 TEXT,
        rows INTEGER,
        message TEXT,
        status TEXT NOT NULL,             -- pending, submitted, complete, error, failed: ..., unknown, dry-run
        public_score REAL,
        private_score REAL,
        local_estimate REAL,              -- validation accuracy of what was submitted
        ood_estimate REAL,                -- local OOD estimate
        members TEXT,                     -- JSON list of {run, checkpoint, weight}
        error TEXT,
        source TEXT NOT NULL DEFAULT 'kagglebench',  -- or 'kaggle' for ones made elsewhere
        created REAL NOT NULL,
        kaggle_date TEXT
    );
    CREATE TABLE leaderboard_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        competition TEXT NOT NULL,
        taken REAL NOT NULL,
        my_rank INTEGER,
        my_score REAL,
        entries TEXT NOT NULL             -- JSON list of {rank, team, score, date}
    );
    """,
    # 1 -> 2: the student's own labels for a run, edited in the desktop app
    """
    ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';   -- JSON list of strings
    ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
    CREATE TABLE metric_buckets (         -- step rows summarised per BUCKET_STEPS steps, kept on write,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- so a reader draws a long
        bucket INTEGER NOT NULL,          -- run's shape without reading every row
        n INTEGER NOT NULL,
        """ + ",\n        ".join(f"{c}_min REAL, {c}_max REAL" for c in ("step", "epoch", "time")) + """,
        """ + ",\n        ".join(f"{c}_min REAL, {c}_max REAL, {c}_sum REAL, {c}_n INTEGER"
                                   for c in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5",
                                             "lr", "images_per_s")) + """,
        PRIMARY KEY (run_id, bucket)
    );
    INSERT INTO metric_buckets SELECT run_id, step / 256, COUNT(*), """ + ", ".join(
        f"MIN({c}), MAX({c})" for c in ("step", "epoch", "time")) + ", " + ", ".join(
        f"MIN({c}), MAX({c}), TOTAL({c}), COUNT({c})" for c in ("train_loss", "train_acc", "val_loss", "val_acc",
                                                                "val_top5", "lr", "images_per_s")) + """
    FROM metrics WHERE scope = 'step' GROUP BY run_id, step / 256
    """,
    # 2 -> 3: the submitted file's size, matched with its name and message against Kaggle's list
    # when a submit's outcome is unknown (kaggle/sync.py).
    "ALTER TABLE submissions ADD COLUMN bytes INTEGER",
    # 3 -> 4: runs of a `kagglebench tune` study carry its name and their trial number
    """
    ALTER TABLE runs ADD COLUMN study TEXT;
    ALTER TABLE runs ADD COLUMN trial INTEGER;
    CREATE INDEX runs_study ON runs(study);
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)


def _now() -> float:
    return time.time()


def pid_alive(pid: int | None, host: str | None = None) -> bool:
    """Whether a process we started on this host still exists (a zombie, exited but not yet
    reaped by its parent, counts as dead)."""
    import psutil

    if not pid or (host and host != socket.gethostname()):
        return True  # cannot tell for other hosts: assume alive
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


DEAD_MESSAGE = "the training process exited without reporting"
LOCK_WAIT_S = 30.0  # how long a connection waits for another process's lock before it gives up


class Store:
    """A connection to `kagglebench.db`. Cheap to open; one per thread or process."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise UserError(self.path, "no run store here yet (train a run first)")
        try:
            self.db = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_S * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._use_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
            else:
                self._check_version()
        except sqlite3.OperationalError as e:
            if "locked" in str(e):
                raise UserError(self.path, f"another process kept the run store locked for over {LOCK_WAIT_S:g} s "
                                f"({e}); try again once it is done") from None
            raise UserError(self.path, f"not a readable kagglebench store ({e})") from None
        except sqlite3.DatabaseError as e:
            raise UserError(self.path, f"not a readable kagglebench store ({e})") from None

    # -- plumbing -----------------------------------------------------------------
    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _use_wal(self) -> None:
        """Switch the file to write-ahead logging (it stays so). SQLite answers "database is locked"
        at once, without waiting out busy_timeout, when two processes switch a new store at the same
        moment (two tune workers' first trials do): try again for as long as busy_timeout waits."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _check_version(self) -> None:
        v = self._version()
        if v > SCHEMA_VERSION:
            raise UserError(self.path, f"written by a newer kagglebench (schema {v}); upgrade kagglebench")

    def _migrate(self) -> None:
        self._check_version()
        if self._version() == SCHEMA_VERSION:
            return
        with self.transaction():
            v = self._version()  # re-read under the lock: another process may have migrated
            for i in range(v, SCHEMA_VERSION):
                for stmt in _MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _insert(self, table: str, row: dict[str, Any], *, replace: bool = False) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        cur = self.db.execute(f"{verb} INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        return cur.lastrowid

    @staticmethod
    def _dicts(rows: Iterable[sqlite3.Row]) -> list[dict[str, Any]]:
        return [dict(r) for r in rows]

    # -- runs ---------------------------------------------------------------------
    def new_run_id(self, recipe: str) -> str:
        """A short id a student can type: the recipe name and four hex digits."""
        stem = "".join(c if c.isalnum() or c == "-" else "-" for c in recipe)[:24].strip("-") or "run"
        while True:
            rid = f"{stem}-{secrets.token_hex(2)}"
            if self.get_run(rid) is None:
                return rid

    def create_run(self, run_id: str, *, name: str, recipe: str, config: dict, run_dir: str,
                   total_epochs: int | None = None, sweep_id: str | None = None,
                   study: str | None = None, trial: int | None = None,
                   git_commit: str | None = None, versions: dict | None = None,
                   pid: int | None = None, status: str = "running") -> None:
        now = _now()
        self._insert("runs", dict(
            id=run_id, name=name, recipe=recipe, config=json.dumps(config), status=status,
            total_epochs=total_epochs, created=now, started=now, host=socket.gethostname(),
            pid=pid if pid is not None else os.getpid(), git_commit=git_commit,
            versions=json.dumps(versions or {}), sweep_id=sweep_id, run_dir=run_dir, study=study, trial=trial))

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise ValueError(f"unknown run status {fields['status']!r}")
        if "config" in fields and not isinstance(fields["config"], str):
            fields["config"] = json.dumps(fields["config"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

    def finish_run(self, run_id: str, status: str, message: str | None = None) -> None:
        self.update_run(run_id, status=status, finished=_now(), message=message)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run_dict(row) if row else None

    def require_run(self, run_id: str) -> dict[str, Any]:
        run = self.get_run(run_id)
        if run is None:
            raise UserError(run_id, "no such run in this workspace (see `kagglebench runs`)")
        return run

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
        """A runs row as a dict. A `running` run whose process is gone reads as `failed` (it died
        without a word); reading never writes that down: `reap_dead_runs` does, on the write paths."""
        d = dict(row)
        d["config"] = json.loads(d["config"])
        d["versions"] = json.loads(d["versions"] or "{}")
        d["tags"] = json.loads(d.get("tags") or "[]")
        if d["status"] == "running" and not pid_alive(d["pid"], d["host"]):
            d["status"], d["message"] = "failed", DEAD_MESSAGE
        return d

    def list_runs(self, sweep_id: str | None = None, study: str | None = None) -> list[dict[str, Any]]:
        """Every run (or one sweep's, or one tune study's), oldest first. Only reads: safe to poll."""
        if sweep_id:
            rows = self.db.execute("SELECT * FROM runs WHERE sweep_id = ? ORDER BY created", (sweep_id,))
        elif study:
            rows = self.db.execute("SELECT * FROM runs WHERE study = ? ORDER BY created", (study,))
        else:
            rows = self.db.execute("SELECT * FROM runs ORDER BY created")
        return [self._run_dict(r) for r in rows]

    def set_tags(self, run_id: str, tags: Iterable[str]) -> list[str]:
        """Replace a run's tags (trimmed, no blanks or repeats, in the order given)."""
        clean: list[str] = []
        for t in tags:
            t = str(t).strip()
            if t and t not in clean:
                clean.append(t)
        self.require_run(run_id)
        self.db.execute("UPDATE runs SET tags = ? WHERE id = ?", (json.dumps(clean), run_id))
        return clean

    def set_note(self, run_id: str, note: str) -> None:
        self.require_run(run_id)
        self.db.execute("UPDATE runs SET note = ? WHERE id = ?", (note, run_id))

    def reap_dead_runs(self) -> list[str]:
        """Mark `running` runs whose process is gone as `failed` (it died without a word)."""
        dead = [r["id"] for r in self.db.execute("SELECT id, pid, host FROM runs WHERE status = 'running'")
                if not pid_alive(r["pid"], r["host"])]
        for rid in dead:
            self.db.execute("UPDATE runs SET status = 'failed', finished = ?, message = ? "
                            "WHERE id = ? AND status = 'running'", (_now(), DEAD_MESSAGE, rid))
        return dead

    def delete_run(self, run_id: str) -> None:
        with self.transaction():
            for table in ("metrics", "metric_buckets", "checkpoints", "evals"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            self.db.execute("DELETE FROM system_samples WHERE run_id = ?", (run_id,))
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # -- metrics ------------------------------------------------------------------
    def add_metrics(self, run_id: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert metric rows; a row with the same (run, scope, step) replaces the old one,
        so a resumed run never holds a duplicated epoch."""
        with self.transaction():
            steps = []
            for r in rows:
                row = {"run_id": run_id, "time": _now(), **r}
                self._insert("metrics", row, replace=True)
                if row.get("scope") == "step":
                    steps.append(row)
            self._add_to_buckets(run_id, steps)

    def _add_to_buckets(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Fold new step rows into their buckets' min / max / sum / count."""
        by_bucket: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            by_bucket.setdefault(int(r["step"]) // BUCKET_STEPS, []).append(r)
        for bucket, part in by_bucket.items():
            agg: dict[str, Any] = {"run_id": run_id, "bucket": bucket, "n": len(part)}
            for c in _BUCKET_X + _BUCKET_Y:
                vals = [float(r[c]) for r in part if r.get(c) is not None]
                agg[f"{c}_min"] = min(vals) if vals else None
                agg[f"{c}_max"] = max(vals) if vals else None
                if c in _BUCKET_Y:
                    agg[f"{c}_sum"], agg[f"{c}_n"] = sum(vals), len(vals)
            merge = ["n = n + excluded.n"]
            for c in _BUCKET_X + _BUCKET_Y:
                for f, op in (("min", "MIN"), ("max", "MAX")):
                    k = f"{c}_{f}"
                    merge.append(f"{k} = COALESCE({op}({k}, excluded.{k}), {k}, excluded.{k})")
                if c in _BUCKET_Y:
                    merge += [f"{c}_sum = {c}_sum + excluded.{c}_sum", f"{c}_n = {c}_n + excluded.{c}_n"]
            cols = ", ".join(agg)
            self.db.execute(f"INSERT INTO metric_buckets ({cols}) VALUES ({', '.join('?' * len(agg))}) "
                            f"ON CONFLICT (run_id, bucket) DO UPDATE SET {', '.join(merge)}", list(agg.values()))

    def _rebuild_buckets(self, run_id: str, from_bucket: int = 0) -> None:
        """Recompute buckets from `from_bucket` on from the rows themselves."""
        self.db.execute("DELETE FROM metric_buckets WHERE run_id = ? AND bucket >= ?", (run_id, from_bucket))
        rows = self._dicts(self.db.execute("SELECT * FROM metrics WHERE run_id = ? AND scope = 'step' AND step >= ? "
                                           "ORDER BY id", (run_id, from_bucket * BUCKET_STEPS)))
        self._add_to_buckets(run_id, rows)

    def metric_buckets(self, run_id: str) -> list[sqlite3.Row]:
        """The summary of a run's step rows, one row per BUCKET_STEPS steps, in step order."""
        return self.db.execute("SELECT * FROM metric_buckets WHERE run_id = ? ORDER BY bucket", (run_id,)).fetchall()

    def metrics_since(self, run_id: str, after_id: int = 0, scope: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM metrics WHERE run_id = ? AND id > ?"
        args: list[Any] = [run_id, after_id]
        if scope:
            q += " AND scope = ?"
            args.append(scope)
        return self._dicts(self.db.execute(q + " ORDER BY id", args))

    def drop_metrics_after(self, run_id: str, step: int) -> None:
        """On resume: forget rows logged after the checkpoint we resume from."""
        with self.transaction():
            self.db.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, step))
            self._rebuild_buckets(run_id, (step + 1) // BUCKET_STEPS)

    # -- checkpoints --------------------------------------------------------------
    def add_checkpoint(self, run_id: str, tag: str, *, epoch: int, step: int, path: str,
                       val_acc: float | None = None, metric: float | None = None) -> None:
        self._insert("checkpoints", dict(run_id=run_id, tag=tag, epoch=epoch, step=step, path=path,
                                         val_acc=val_acc, metric=metric, created=_now()), replace=True)

    def remove_checkpoint(self, run_id: str, tag: str) -> None:
        self.db.execute("DELETE FROM checkpoints WHERE run_id = ? AND tag = ?", (run_id, tag))

    def list_checkpoints(self, run_id: str | None = None) -> list[dict[str, Any]]:
        if run_id:
            rows = self.db.execute("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY epoch, step", (run_id,))
        else:
            rows = self.db.execute("SELECT * FROM checkpoints ORDER BY run_id, epoch, step")
        return self._dicts(rows)

    # -- evaluations ----------------------------------------------------------------
    def add_eval(self, run_id: str, checkpoint: str, tta: str, *, details: dict | None = None,
                 **metrics: float | None) -> int:
        rid = self._insert("evals", dict(run_id=run_id, checkpoint=checkpoint, tta=tta,
                                         details=json.dumps(details or {}), created=_now(), **metrics))
        if metrics.get("ood_acc") is not None:
            self.update_run(run_id, ood_acc=metrics["ood_acc"])
        return rid

    def list_evals(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._dicts(self.db.execute("SELECT * FROM evals WHERE run_id = ? ORDER BY id", (run_id,)))
        for r in rows:
            r["details"] = json.loads(r["details"] or "{}")
        return rows

    # -- system samples -------------------------------------------------------------
    def add_samples(self, rows: Iterable[dict[str, Any]]) -> None:
        with self.transaction():
            for r in rows:
                self._insert("system_samples", r)

    def samples_since(self, after_id: int = 0, run_id: str | None = None) -> list[dict[str, Any]]:
        if run_id:
            rows = self.db.execute("SELECT * FROM system_samples WHERE run_id = ? AND id > ? ORDER BY id",
                                   (run_id, after_id))
        else:
            rows = self.db.execute("SELECT * FROM system_samples WHERE id > ? ORDER BY id", (after_id,))
        return self._dicts(rows)

    # -- sweeps ---------------------------------------------------------------------
    def create_sweep(self, recipe: str, grid: dict[str, list]) -> str:
        sid = f"sweep-{secrets.token_hex(3)}"
        self._insert("sweeps", dict(id=sid, recipe=recipe, grid=json.dumps(grid), created=_now()))
        return sid

    def get_sweep(self, sweep_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return {**dict(row), "grid": json.loads(row["grid"])} if row else None

    # -- submissions ----------------------------------------------------------------
    def add_submission(self, *, competition: str, file: str, status: str, members: list | None = None,
                       **fields: Any) -> int:
        return self._insert("submissions", dict(competition=competition, file=file, status=status,
                                                members=json.dumps(members or []), created=_now(), **fields))

    def update_submission(self, sub_id: int, **fields: Any) -> None:
        if "members" in fields and not isinstance(fields["members"], str):
            fields["members"] = json.dumps(fields["members"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE submissions SET {sets} WHERE id = ?", [*fields.values(), sub_id])

    def list_submissions(self, competition: str | None = None) -> list[dict[str, Any]]:
        if competition:
            rows = self.db.execute("SELECT * FROM submissions WHERE competition = ? ORDER BY created",
                                   (competition,))
        else:
            rows = self.db.execute("SELECT * FROM submissions ORDER BY created")
        out = self._dicts(rows)
        for r in out:
            r["members"] = json.loads(r["members"] or "[]")
        return out

    # -- leaderboard ----------------------------------------------------------------
    def add_leaderboard_snapshot(self, competition: str, entries: list[dict], my_rank: int | None,
                                 my_score: float | None) -> int:
        return self._insert("leaderboard_snapshots", dict(
            competition=competition, taken=_now(), my_rank=my_rank, my_score=my_score,
            entries=json.dumps(entries)))

    def latest_leaderboard(self, competition: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM leaderboard_snapshots WHERE competition = ? "
                              "ORDER BY taken DESC, id DESC LIMIT 1", (competition,)).fetchone()
        return {**dict(row), "entries": json.loads(row["entries"])} if row else None
