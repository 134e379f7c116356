"""Fixtures for the tune tests: a tiny demo workspace, the `kagglebench` command, a private PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def tune_demo(tmp_path_factory) -> Path:
    """4 classes, 400 training images (40 validation): a good learning rate beats chance within an
    epoch or two, lr=10 stays at chance. Read-only."""
    from kagglebench.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("tune") / "ws", classes=4, train=400, test=10, seed=1, ood=False)


@pytest.fixture
def tune_ws(tune_demo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(tune_demo, dest)
    return dest


def kb_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for k in ("KAGGLEBENCH_SWEEP_ID", "KAGGLEBENCH_TUNE_TRIAL", "KAGGLEBENCH_TUNE_STUDY",
              "KAGGLEBENCH_TUNE_STORAGE", "KAGGLEBENCH_WORKSPACE"):
        env.pop(k, None)
    return env


def kb(*args, cwd, timeout=600, env=None):
    """Run `python -m kagglebench ARGS` in `cwd` to its end."""
    return subprocess.run([sys.executable, "-m", "kagglebench", *args], cwd=cwd, env={**kb_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def write_space(ws: Path, text: str, name: str = "space.toml") -> Path:
    path = ws / name
    path.write_text(text)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A private PostgreSQL 15 cluster in a temporary folder on a free port; stopped and removed after.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` (else `nobody`)
    account through runuser. Skipped, with the reason, where the server cannot be started."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        import pwd

        runuser = shutil.which("runuser")
        for name in ("postgres", "nobody"):
            try:
                owner = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if runuser is None or owner is None:
            pytest.skip("running as root and cannot switch to a non-root user for PostgreSQL (no runuser, or "
                        "no postgres/nobody account): initdb refuses to run as root")
        prefix = [runuser, "-u", owner.pw_name, "--"]
    folder = Path(tempfile.mkdtemp(prefix="kb-pg-"))  # under /tmp: reachable by that user
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, port = folder / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    init = subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "kb",
                           "--no-sync"], capture_output=True, text=True, env=env, timeout=120)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {(init.stderr or init.stdout).strip().splitlines()[-1:]}")
    ctl = [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    start = subprocess.run([*ctl, "-l", str(folder / "server.log"), "-w", "-t", "60", "-o",
                            f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off", "start"],
                           capture_output=True, text=True, env=env, timeout=120)
    if start.returncode != 0:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else start.stderr
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server did not start: {log.strip().splitlines()[-1:]}")
    try:
        yield f"postgresql://kb@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
