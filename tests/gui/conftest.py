"""Fixtures for the desktop app's tests: offscreen Qt, isolated settings, small workspaces.

Runs are recorded by writing the store directly (no torch). Every window made
through `make_window` is closed at the end of the test, and the test fails if
one of its threads is still running then.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QSettings

from kagglebench.store import Store

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """QSettings in a temp folder, so tests never read or write the user's own."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    from PySide6.QtCore import QCoreApplication
    QCoreApplication.setOrganizationName("kagglebench-tests")
    QCoreApplication.setApplicationName("kagglebench-tests")
    yield folder


def write_ws(root: Path, competition: str = "kagglebench-demo") -> Path:
    """A workspace folder the app accepts: settings only (the app never loads data)."""
    from kagglebench.workspace import write_settings
    root.mkdir(parents=True, exist_ok=True)
    write_settings(root, {"profile": "demo", "competition": competition})
    return root


def _config(recipe: str, total: int) -> dict:
    """The store's copy of a run's recipe, as the trainer records it (no config.json here:
    `Run.open` migrates from this copy)."""
    from kagglebench.config import load_recipe, recipe_to_dict
    return recipe_to_dict(load_recipe(recipe, [f"train.epochs={total}"]))


def add_run(store: Store, rid: str, *, status: str = "finished", epoch: int = 3, total: int = 10,
            best: float | None = 0.8125, ood: float | None = None, pid: int | None = None,
            name: str | None = None, recipe: str = "lenet5", started_ago: float = 600.0) -> None:
    store.create_run(rid, name=name or rid, recipe=recipe, config=_config(recipe, total),
                     run_dir=f"runs/{rid}", total_epochs=total, pid=pid or os.getpid(), status="running")
    store.update_run(rid, epoch=epoch, step=epoch * 10, best_val_acc=best, ood_acc=ood, images_per_s=1234.0,
                     started=time.time() - started_ago, host=socket.gethostname())
    if status != "running":
        store.finish_run(rid, status, message=None if status == "finished" else f"{status} on purpose")


def epoch_rows(first: int, last: int, steps_per_epoch: int = 10) -> list[dict]:
    return [{"scope": "epoch", "step": e * steps_per_epoch, "epoch": float(e), "train_loss": 2.0 / e,
             "train_acc": 0.1 * e, "val_loss": 2.2 / e, "val_acc": 0.09 * e, "lr": 0.1 / e}
            for e in range(first, last + 1)]


@pytest.fixture
def gui_ws(tmp_path: Path) -> Path:
    return write_ws(tmp_path / "ws")


@pytest.fixture
def make_window(qtbot):
    from kagglebench_gui.mainwindow import MainWindow
    from kagglebench_gui.wsinfo import open_workspace
    made = []

    def make(root: Path, poll_ms: int = 100) -> MainWindow:
        w = MainWindow(open_workspace(root), poll_ms=poll_ms)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
        assert not w.poller_thread.thread.isRunning(), "the store poller thread outlived its window"
        assert w.tasks.pool.activeThreadCount() == 0, "a background task outlived its window"
