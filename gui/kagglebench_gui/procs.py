"""Starting and stopping training runs as separate processes.

A run is `python -m kagglebench train ...` in its own session, so a crash or
an out-of-memory in training never takes the window down and closing the
window leaves it going: the next start of the app finds it again through the
store (runs are just rows with a pid). Stopping sends SIGTERM to the pid the
trainer recorded; the trainer checkpoints and marks itself stopped.

Children run with `--json`: their stderr (the log a user reads) goes to a log file, their
stdout to a JSON file beside it, which is how the app learns a command's result or error
(the engine's error document); the log is never parsed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kagglebench.errors import UserError
from kagglebench.store import pid_alive
from kagglebench_gui.wsinfo import WorkspaceInfo


@dataclass
class Launch:
    """One child we started: its command, log file, the file its JSON answer goes to."""

    proc: subprocess.Popen
    what: str
    log: Path
    answer: Path
    started: float = field(default_factory=time.time)

    def result(self) -> dict | None:
        """The JSON document the command printed (its result, or {"error": ...}); None if none."""
        try:
            text = self.answer.read_text(encoding="utf-8")
        except OSError:
            return None
        for line in reversed([ln for ln in text.splitlines() if ln.strip()]):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            return doc if isinstance(doc, dict) else None
        return None


class ProcessManager:
    """Launches training children and reaps them; all calls are quick and non-blocking
    except `launch`, which the window runs on its task pool (it opens a log file)."""

    def __init__(self, ws: WorkspaceInfo, python: str = sys.executable) -> None:
        self.ws = ws
        self.python = python
        self._lock = threading.Lock()
        self._live: list[Launch] = []

    def train_command(self, recipe: str, overrides: list[str], name: str | None = None) -> list[str]:
        cmd = [self.python, "-m", "kagglebench", "--workspace", str(self.ws.root), "train", recipe, *overrides]
        return cmd + (["--name", name] if name else []) + ["--json"]

    def resume_command(self, run_id: str) -> list[str]:
        return [self.python, "-m", "kagglebench", "--workspace", str(self.ws.root), "train", "--resume", run_id,
                "--json"]

    def sweep_command(self, recipe: str, grid: list[str], parallel: int = 1) -> list[str]:
        return [self.python, "-m", "kagglebench", "--workspace", str(self.ws.root), "sweep", recipe, *grid,
                "--parallel", str(parallel), "--json"]

    def launch(self, cmd: list[str], what: str) -> Launch:
        """Start `cmd` detached from the window: its own session, stderr to a log file,
        stdout (its JSON answer) to a file beside it."""
        logs = self.ws.root / ".kagglebench-gui" / "launch"
        logs.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{len(self._live)}"
        log, answer = logs / f"{stem}.log", logs / f"{stem}.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("QT_QPA_PLATFORM", None)  # the trainer never opens a window
        with open(log, "wb") as err, open(answer, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    cwd=self.ws.root, env=env, start_new_session=True)
        launch = Launch(proc, what, log, answer)
        with self._lock:
            self._live.append(launch)
        return launch

    def reap(self) -> list[tuple[Launch, int, dict | None]]:
        """Children that ended since the last call: (launch, exit status, its JSON answer).
        Called from a timer; `poll()` never blocks and keeps finished children from
        lingering as zombies while the window is open."""
        ended = []
        with self._lock:
            for launch in list(self._live):
                rc = launch.proc.poll()
                if rc is not None:
                    self._live.remove(launch)
                    ended.append(launch)
        return [(la, la.proc.returncode, la.result()) for la in ended]

    def running(self) -> list[Launch]:
        with self._lock:
            return list(self._live)


def stop_run(run: dict) -> str:
    """SIGTERM the run's training process. Returns a line for the status bar."""
    if run["status"] != "running":
        raise UserError(run["id"], f"is {run['status']}, not running: nothing to stop")
    pid, host = run.get("pid"), run.get("host")
    if host and host != socket.gethostname():
        raise UserError(run["id"], f"runs on {host}; stop it there (this app can only signal its own machine)")
    if not pid or not pid_alive(pid, host):
        raise UserError(run["id"], "its training process is gone; it will show as failed")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise UserError(run["id"], "its training process is gone; it will show as failed") from None
    except PermissionError:
        raise UserError(run["id"], f"process {pid} belongs to another user; it cannot be stopped from here") from None
    return f"asked run {run['id']} to stop (it saves a checkpoint first)"
