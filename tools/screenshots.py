"""`make screenshots`: real captures of the desktop app for the README.

Builds a small demo workspace, trains one short run to the end and starts a
second that is still training while the pictures are taken, syncs submissions
and the leaderboard from the local Kaggle API double (tests/kaggle/double.py,
when present) so the Leaderboard tab has history, then starts the app under
Xvfb and saves one PNG per tab into assets/screenshots/ with ImageMagick's
`import` (Debian packages: xvfb, imagemagick; x11-apps gives xwd as a fallback).

    python tools/screenshots.py [--workspace DIR] [--out assets/screenshots] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1280, 800)
TABS = ["runs", "curves", "system", "leaderboard", "submit"]


def kb(ws: Path, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "kagglebench", "--workspace", str(ws), *args]
    print("+ kagglebench", *args, flush=True)
    return subprocess.run(cmd, check=check, stdin=subprocess.DEVNULL, **kw)


def make_workspace(where: Path) -> Path:
    from kagglebench.data.demo import write_demo
    print(f"writing a demo workspace in {where}", flush=True)
    return Path(write_demo(where, classes=10, train=1000, test=20, seed=0))


def start_double(ws: Path, tmp: Path):
    """The local Kaggle double with a little history, or None when the tests are not here."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.kaggle.double import KaggleDouble
    except ImportError:
        print("no tests/kaggle/double.py: the Leaderboard tab stays empty", flush=True)
        return None
    comp = None
    import tomllib
    comp = tomllib.loads((ws / "kagglebench.toml").read_text()).get("competition", "kagglebench-demo")
    kd = KaggleDouble(competition=comp, leaderboard=[("Team Alpha", 0.58), ("CIFAR Crushers", 0.52),
                                                      ("Team Beta", 0.41), ("Baseline", 0.25)]).start()
    kd.write_credentials(tmp / "kaggle")
    os.environ.update(kd.subprocess_env(tmp / "site"))
    os.environ["KAGGLE_CONFIG_DIR"] = str(tmp / "kaggle")
    for i, (desc, score, ago) in enumerate([("starter code, 5 epochs", "0.2210", 2900),
                                            ("simplecnn + flips", "0.3120", 1500),
                                            ("resnet18 cosine", "0.3480", 700)]):
        kd.add_external(f"sub{i}.csv", desc, score, minutes_ago=ago)
    return kd


def train_runs(ws: Path) -> subprocess.Popen:
    """One finished run, then one left training (returned) for the live pictures."""
    kb(ws, "train", "simplecnn-1conv", "epochs=3", "batch_size=128", "--name", "simplecnn-1conv short")
    with open(ws / "live-run.log", "wb") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen([sys.executable, "-m", "kagglebench", "--workspace", str(ws), "train",
                                 "simplecnn-1conv", "epochs=100", "batch_size=64", "lr=3e-3",
                                 "--name", "simplecnn-1conv live"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_for_epochs(ws: Path, name: str, n: int, timeout: float = 600) -> None:
    from kagglebench.store import Store
    deadline = time.time() + timeout
    while time.time() < deadline:
        with Store(ws / "kagglebench.db") as s:
            run = next((r for r in s.list_runs() if r["name"] == name), None)
            if run and run["status"] != "running":
                raise SystemExit(f"the live run ended early ({run['status']}): see {ws / 'live-run.log'}")
            if run and run["epoch"] >= n:
                return
        time.sleep(1)
    raise SystemExit(f"the live run did not reach epoch {n} in {timeout:.0f} s")


def start_xvfb(display: str) -> subprocess.Popen:
    if not shutil.which("Xvfb"):
        raise SystemExit("Xvfb is not installed: apt-get install -y xvfb imagemagick")
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    if xvfb.poll() is not None:
        raise SystemExit(f"Xvfb could not start on {display}")
    return xvfb


def capture(display: str, path: Path) -> None:
    """The X screen as PNG: ImageMagick's `import`, else xwd piped through `convert`."""
    env = {**os.environ, "DISPLAY": display}
    if shutil.which("import"):
        subprocess.run(["import", "-display", display, "-window", "root", str(path)], check=True, env=env)
    else:
        xwd = subprocess.run(["xwd", "-root", "-display", display], check=True, capture_output=True).stdout
        subprocess.run(["convert", "xwd:-", str(path)], input=xwd, check=True)


def shoot(ws: Path, out: Path, display: str) -> None:
    """Run the real app on the Xvfb display and capture each tab once it has data."""
    os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtCore import QEventLoop, QTimer

    from kagglebench_gui.app import App, make_qapp

    qapp = make_qapp()
    app = App(qapp)
    app.open(str(ws))
    w = app.window
    w.setGeometry(0, 0, *SIZE)

    def pump(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    pump(4)
    w.leaderboard_tab.sync()  # the Sync button, as a user would press it
    pump(3)
    live = [r["id"] for r in w.runs_tab.model.runs if r["status"] == "running"]
    done = [r["id"] for r in w.runs_tab.model.runs if r["status"] == "finished"]
    w.runs_tab.select_ids(set(live[:1]))
    w.runs_tab._on_selection()
    w.curves_tab.show_runs(live + done)
    w.submit_tab.single.setChecked(True)
    w.submit_tab.message.setText("simplecnn-1conv, 3 epochs")
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(TABS):
        w.tabs.setCurrentIndex(i)
        pump(3 if name in ("curves", "system") else 1.5)
        path = out / f"{i + 1}-{name}.png"
        capture(display, path)
        print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    w.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", help="use this workspace instead of a fresh demo one")
    p.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    p.add_argument("--display", default=":97")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kagglebench-shots-"))
    ws = Path(args.workspace).resolve() if args.workspace else make_workspace(tmp / "demo-workspace")
    kd = start_double(ws, tmp)
    live = xvfb = None
    try:
        live = train_runs(ws)
        wait_for_epochs(ws, "simplecnn-1conv live", 4)
        xvfb = start_xvfb(args.display)
        shoot(ws, Path(args.out), args.display)
    finally:
        if live is not None and live.poll() is None:
            live.send_signal(signal.SIGTERM)  # the trainer checkpoints and marks itself stopped
            live.wait(60)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
        if kd is not None:
            kd.stop()
        if not args.keep and not args.workspace:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
