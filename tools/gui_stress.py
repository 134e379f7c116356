"""Stress the desktop app with a very long run and measure what a user feels.

Writes a run of N step rows (default 1,000,000) plus its epoch rows into a fresh workspace's
store, opens the real app offscreen (QT_QPA_PLATFORM=offscreen) and measures:

1. CPU of the idle app (a few short finished runs, the Live curves tab showing);
2. time to the first correct paint after ticking the long run in Live curves: the curve spans
   the run's first to last step, its drawn minimum and maximum are the data's, the x axis
   shows the whole run, and the plot has been painted; then the time until every row has loaded;
3. the time to switch to the Runs tab and back to Live curves (painted), over several switches;
4. CPU of the app while another process keeps appending rows to the long run, ticked and shown.

    python tools/gui_stress.py [--rows 1000000] [--grow-seconds 20] [--json OUT]

CPU is this process's user+system time over wall time (100% = one core). The figures depend
on the machine and on what else runs on it: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import math, os, random, sys, time
from kagglebench.store import Store
db, rid, step, seconds, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
s = Store(db)
s.update_run(rid, status="running", pid=os.getpid(), finished=None)
rng = random.Random(1)
end = time.time() + seconds
while time.time() < end:
    rows = []
    for _ in range(rate // 10):
        step += 1
        rows.append(dict(scope="step", step=step, epoch=step / 1000,
                         train_loss=2 * math.exp(-step / 3e5) + rng.random() * 0.3,
                         train_acc=0.9 - 0.8 * math.exp(-step / 2e5) + rng.random() * 0.05, lr=0.1,
                         images_per_s=4000 + rng.random() * 500))
    s.add_metrics(rid, rows)
    s.update_run(rid, step=step)
    time.sleep(0.1)
s.finish_run(rid, "stopped", "stress writer done")
"""


def step_rows(first: int, last: int, rng) -> list[dict]:
    out = []
    for step in range(first, last):
        out.append(dict(scope="step", step=step, epoch=step / 1000,
                        train_loss=2 * math.exp(-step / 3e5) + rng.random() * 0.3,
                        train_acc=0.9 - 0.8 * math.exp(-step / 2e5) + rng.random() * 0.05,
                        lr=0.1 * (1 + math.cos(math.pi * step / 1.2e6)) / 2 + 1e-4,
                        images_per_s=4000 + rng.random() * 500))
    return out


def write_store(ws: Path, rows: int) -> dict:
    """The long run (stopped, so the app does not tick it by itself) and three short ones."""
    import random

    from kagglebench.store import Store
    from kagglebench.workspace import write_settings

    write_settings(ws, {"profile": "demo", "competition": "kagglebench-demo"})
    rng = random.Random(0)
    t = time.perf_counter()
    with Store(ws / "kagglebench.db") as s:
        s.create_run("long-1", name="long-1", recipe="demo-cnn", config={}, run_dir="runs/long-1",
                     total_epochs=rows // 1000 + 100)
        for start in range(0, rows, 20_000):
            s.add_metrics("long-1", step_rows(start, min(start + 20_000, rows), rng))
        s.add_metrics("long-1", [dict(scope="epoch", step=e * 1000, epoch=float(e), val_loss=1.5 - e / rows * 900,
                                      val_acc=0.3 + 0.5 * e * 1000 / rows, val_top5=0.7 + 0.2 * e * 1000 / rows)
                                 for e in range(1, rows // 1000 + 1)])
        s.update_run("long-1", step=rows - 1, epoch=rows // 1000)
        s.finish_run("long-1", "stopped", "stopped for the stress test")
        for i in range(3):
            rid = f"short-{i}"
            s.create_run(rid, name=rid, recipe="demo-cnn", config={}, run_dir=f"runs/{rid}", total_epochs=10)
            s.add_metrics(rid, step_rows(0, 500, rng))
            s.finish_run(rid, "finished")
        truth = s.db.execute("SELECT MIN(train_loss), MAX(train_loss), MIN(step), MAX(step) FROM metrics "
                             "WHERE run_id = 'long-1' AND scope = 'step'").fetchone()
    return {"write_s": time.perf_counter() - t, "loss_min": truth[0], "loss_max": truth[1],
            "step_min": truth[2], "step_max": truth[3]}


def cpu_seconds() -> float:
    import psutil
    t = psutil.Process().cpu_times()
    return t.user + t.system


def run_loop(seconds: float) -> None:
    """Let the app's own event loop run (idle waits stay idle)."""
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def cpu_share(seconds: float) -> float:
    c0, t0 = cpu_seconds(), time.perf_counter()
    run_loop(seconds)
    return 100 * (cpu_seconds() - c0) / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--idle-seconds", type=float, default=10)
    p.add_argument("--grow-seconds", type=float, default=20)
    p.add_argument("--grow-rate", type=int, default=200, help="step rows per second the writer appends")
    p.add_argument("--switches", type=int, default=10)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "gui")]

    tmp = Path(tempfile.mkdtemp(prefix="kagglebench-stress-"))
    ws = tmp / "ws"
    ws.mkdir()
    print(f"writing {args.rows:,} rows into {ws}/kagglebench.db …", flush=True)
    truth = write_store(ws, args.rows)
    print(f"  written in {truth['write_s']:.1f} s", flush=True)

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from kagglebench_gui.mainwindow import MainWindow
    from kagglebench_gui.wsinfo import open_workspace

    app = QApplication.instance() or QApplication([])
    app.setOrganizationName("kagglebench-stress")
    w = MainWindow(open_workspace(ws))
    w.resize(1440, 900)
    w.show()
    curves = w.curves_tab
    w.tabs.setCurrentWidget(curves)
    run_loop(3)  # the first poll, the short runs ticked and drawn
    out: dict = {"rows": args.rows, "load_before": os.getloadavg(), "cpu_count": os.cpu_count()}
    out["idle_cpu_percent"] = cpu_share(args.idle_seconds)
    print(f"idle app: {out['idle_cpu_percent']:.1f}% of one core", flush=True)

    # Tick the long run as a user would, then wait for the first correct, painted picture.
    item = next(curves.runs_list.item(i) for i in range(curves.runs_list.count())
                if curves.runs_list.item(i).data(Qt.UserRole) == "long-1")
    master = curves.plots["Loss"].getViewBox()

    def correct() -> bool:
        pair = curves._items.get(("long-1", "train_loss"))
        if pair is None or pair[0].xData is None or not len(pair[0].xData):
            return False
        x, y = pair[0].xData, pair[0].yData
        if not (x.min() <= truth["step_min"] and x.max() >= truth["step_max"]):
            return False
        if not (math.isclose(y.min(), truth["loss_min"]) and math.isclose(y.max(), truth["loss_max"])):
            return False
        curves.glw.viewport().repaint()  # the picture on screen, not only the data behind it
        lo, hi = master.viewRange()[0]
        return lo <= truth["step_min"] + 1 and hi >= truth["step_max"] - 1

    t0, c0 = time.perf_counter(), time.process_time()
    item.setCheckState(Qt.Checked)
    while not correct():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > 120:
            raise SystemExit("no correct picture of the long run within 120 s")
    out["first_paint_s"] = time.perf_counter() - t0
    out["first_paint_cpu_s"] = time.process_time() - c0
    print(f"first correct paint after ticking: {out['first_paint_s']:.3f} s "
          f"({out['first_paint_cpu_s']:.3f} s of CPU)", flush=True)
    while not curves.data["long-1"].loaded:
        app.processEvents()
        time.sleep(0.005)
    out["all_rows_loaded_s"] = time.perf_counter() - t0
    print(f"every row loaded (drawn from the rows themselves): {out['all_rows_loaded_s']:.2f} s", flush=True)
    run_loop(1)

    # Tab switches: Runs, then back to Live curves, each painted before the clock stops.
    times, cpu = [], []
    for _ in range(args.switches):
        w.tabs.setCurrentWidget(w.runs_tab)
        app.processEvents()
        run_loop(0.2)
        t, c = time.perf_counter(), time.process_time()
        w.tabs.setCurrentWidget(curves)
        curves.repaint_curves(force=True)
        curves.glw.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out["tab_switch_s_median"], out["tab_switch_s_max"] = statistics.median(times), max(times)
    out["tab_switch_cpu_s_median"] = statistics.median(cpu)
    print(f"tab switch back to Live curves: median {out['tab_switch_s_median'] * 1000:.0f} ms, "
          f"max {out['tab_switch_s_max'] * 1000:.0f} ms (median {out['tab_switch_cpu_s_median'] * 1000:.0f} ms "
          "of CPU)", flush=True)

    # The long run grows while it is ticked and shown.
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(ws / "kagglebench.db"), "long-1",
                               str(truth["step_max"]), str(args.grow_seconds + 5), str(args.grow_rate)],
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                                                os.environ.get("PYTHONPATH", "")])})
    run_loop(3)
    n0 = curves.point_count("long-1")
    out["growing_cpu_percent"] = cpu_share(args.grow_seconds)
    out["grown_rows"] = curves.point_count("long-1") - n0
    print(f"while the run grows ({out['grown_rows']:,} rows in {args.grow_seconds:.0f} s): "
          f"{out['growing_cpu_percent']:.1f}% of one core", flush=True)
    writer.wait(60)
    out["load_after"] = os.getloadavg()
    w.close()
    print(f"load average before {out['load_before']}, after {out['load_after']} on {out['cpu_count']} cores")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
