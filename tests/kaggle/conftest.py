"""Fixtures for talking to the local Kaggle API double (tests/kaggle/double.py) with the real client.

`kaggle_env` isolates credentials (a temp HOME and KAGGLE_CONFIG_DIR holding a chmod-600
kaggle.json for the double's user); `make_double(**kw)` starts a double, points this process's
kaggle client at it and stops it after the test; `kaggle_double` is one with defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kagglebench.workspace import Workspace
from tests.kaggle.double import KaggleDouble


@pytest.fixture
def kaggle_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real credentials can leak in: a fresh HOME and config dir; returns the config dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE", "VERBOSE"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "kaggle-config"
    config.mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    return config


@pytest.fixture
def make_double(kaggle_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., KaggleDouble]]:
    started: list[KaggleDouble] = []

    def make(*, credentials: bool = True, **kw) -> KaggleDouble:
        kd = KaggleDouble(**kw).start()
        started.append(kd)
        kd.install(monkeypatch)
        if credentials:
            kd.write_credentials(kaggle_env)
        return kd

    yield make
    for kd in started:
        kd.stop()


@pytest.fixture
def kaggle_double(make_double: Callable[..., KaggleDouble]) -> KaggleDouble:
    return make_double(answer_key={"a": "1", "b": "2", "c": "0", "d": "1"})


@pytest.fixture
def fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `connect()` in this process (the CLI's too) gets a short timeout and no real backoff."""
    import functools

    from kagglebench.kaggle import client

    monkeypatch.setattr(client, "connect", functools.partial(client.connect, timeout=2.0, backoff=0.01))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, fast_client: None) -> Callable[..., tuple[int, str, str]]:
    """Run `kagglebench ARGS...` in this process: (exit status, stdout, stderr)."""
    from kagglebench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def error_line(err: str) -> str:
    """The one `kagglebench: error:` line of a failed command, checking it is the only one and
    that no traceback was printed."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("kagglebench: error:")]
    assert len(lines) == 1, err
    assert err.rstrip().endswith(lines[0]), err  # the error is the last thing said
    return lines[0]


# A copy of the demo workspace and a double serving its competition, for the submit tests.
@pytest.fixture
def ws(fresh_ws: Path) -> Workspace:
    return Workspace(fresh_ws)


@pytest.fixture
def kd(make_double, ws: Workspace) -> KaggleDouble:
    return make_double(competition=ws.competition, answer_key=ws.answer_key())
