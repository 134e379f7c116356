#!/usr/bin/env python3
"""The prepared GPU check: every GPU path of kagglebench, exercised once, with a report.

    python tools/gpu_check.py OUTDIR            # on a GPU machine (make gpu-check)
    python tools/gpu_check.py OUTDIR --cpu --tiny   # the rehearsal: under a minute on 2 cores

GPU time is rare and short for this project (about 15 minutes at a time, start included),
so this script is rehearsed on the CPU in `make test` and must run on the GPU machine as it
is: Python with torch, torchvision, numpy, scipy, pandas, scikit-learn, matplotlib, tqdm,
psutil and nvidia-ml-py, nothing installed, kagglebench run from `src/` with PYTHONPATH.

It drives kagglebench through its command line (the contract, DESIGN.md) in child
processes, on data it generates in the real formats (CIFAR-10/100 python folders, STL-10
binary, a DS-542 OOD folder), and reads the results back from the store. Each check gets
pass/fail and its figures; the report (report.md + report.json) is rewritten after every
check, so a run cut short by its time limit still leaves everything measured so far. Checks
that would start after `--budget` seconds are recorded as skipped, not dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SRC, GUI, TESTS = ROOT / "src", ROOT / "gui", ROOT / "tests"
RECIPES = SRC / "kagglebench" / "recipes"
sys.path[:0] = [str(SRC)]

import torch  # noqa: E402  (after the path: the check runs without kagglebench installed)


class CheckFailed(Exception):
    """A check ran and its result is wrong (as opposed to the check itself crashing)."""


def need(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


# -- running kagglebench -------------------------------------------------------------------------
class Kb:
    """Runs `python -m kagglebench` children with this checkout's src/ first on the path."""

    def __init__(self, work: Path, device: str) -> None:
        self.work = work
        self.device = device
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.env["KAGGLEBENCH_OFFLINE"] = "1"
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env["TORCH_HOME"] = str(work / "torch-home")
        for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLEBENCH_WORKSPACE"):
            self.env.pop(var, None)

    def cmd(self, ws: Path | None, *args: str) -> list[str]:
        return [sys.executable, "-m", "kagglebench", *(["--workspace", str(ws)] if ws else []), *args]

    def run(self, ws: Path | None, *args: str, timeout: float = 600, env: dict | None = None) -> str:
        """Run to the end; the stdout text, or CheckFailed with the child's last stderr lines."""
        proc = subprocess.run(self.cmd(ws, *args), capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=self.work, check=False)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise CheckFailed(f"`kagglebench {' '.join(args)}` exited {proc.returncode}: {tail}")
        return proc.stdout

    def many(self, commands: list[list[str]], timeout: float = 1800, env: dict | None = None) -> list[dict]:
        """Several commands in ONE child process (torch imported once): for each, the exit
        status, its stdout and the tail of its stderr. The same `kagglebench.cli.main` a
        terminal runs; an exception in one command is that command's failure, not the batch's."""
        proc = subprocess.run([sys.executable, "-c", _MANY], input=json.dumps(commands), capture_output=True,
                              text=True, timeout=timeout, env={**self.env, **(env or {})}, cwd=self.work, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MANY_TAG)]
        done = [json.loads(ln[len(_MANY_TAG):]) for ln in lines]
        if len(done) < len(commands):  # the child died (killed, out of memory): the rest never ran
            why = f"the child process ended ({proc.returncode}): " + " | ".join(proc.stderr.strip().splitlines()[-3:])
            done += [{"rc": -1, "out": "", "err": why}] * (len(commands) - len(done))
        return done

    def many_at_once(self, commands: list[list[str]], ways: int) -> list[dict]:
        """`many`, split round-robin over `ways` child processes running side by side."""
        if ways <= 1 or len(commands) <= 1:
            return self.many(commands)
        from concurrent.futures import ThreadPoolExecutor

        parts = [commands[i::ways] for i in range(ways)]
        threads = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // ways))}  # no oversubscribed cores
        with ThreadPoolExecutor(ways) as pool:
            done = list(pool.map(lambda part: self.many(part, env=threads), parts))
        return [done[i % ways][i // ways] for i in range(len(commands))]

    def json(self, ws: Path | None, *args: str, **kw: Any) -> Any:
        return json.loads(self.run(ws, *args, "--json", **kw))

    def train(self, ws: Path, recipe: str, *overrides: str, timeout: float = 600) -> dict:
        dev = [] if self.device == "auto" else [f"train.device={self.device}"]
        return self.json(ws, "train", recipe, *dev, *overrides, timeout=timeout)


def db_rows(ws: Path, sql: str, *params: Any) -> list[dict]:
    """Rows from the workspace's store, read-only (the store is the contract the GUI reads too)."""
    con = sqlite3.connect(f"file:{ws / 'kagglebench.db'}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def peak_rss_of(cmd: list[str], env: dict, cwd: Path,
                timeout: float) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `cmd`, polling the RSS of it and its children: (process, seconds, peak bytes)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    peak = 0.0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None and time.perf_counter() - t0 < timeout:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.perf_counter() - t0, peak


# -- data in the real formats --------------------------------------------------------------------
def learnable_images(n: int, classes: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images a network can learn in a few hundred steps: a smooth colour pattern per class,
    shifted, scaled and noised per image (uint8 NHWC)."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 255, (classes, 4, 4, 3)).astype(np.float32)
    protos = protos.repeat(size // 4, axis=1).repeat(size // 4, axis=2)
    labels = rng.integers(0, classes, n)
    images = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, 8192):  # bounded memory for 50,000 x 96 x 96
        lab = labels[start:start + 8192]
        x = protos[lab] * rng.uniform(0.6, 1.0, (len(lab), 1, 1, 1)).astype(np.float32)
        x = np.roll(x, rng.integers(-2, 3), axis=1)
        x += rng.normal(0, 40, x.shape).astype(np.float32)
        images[start:start + len(lab)] = np.clip(x, 0, 255).astype(np.uint8)
    return images, labels


class Data:
    """The workspaces of the check, built once: CIFAR-10, CIFAR-100 + DS-542 OOD, STL-10."""

    def __init__(self, kb: Kb, n_train: int, n_test: int, ood_per_severity: int, cifar100_labels: int) -> None:
        from kagglebench.data import writers

        self.kb, root = kb, kb.work / "data"
        x, y = learnable_images(n_train + n_test, 10, 32, 0)
        writers.write_cifar10(root / "cifar-10-batches-py", (x[:n_train], y[:n_train]),
                              (x[n_train:], y[n_train:]), [f"class{i}" for i in range(10)])
        # (the tiny rehearsal uses 10 of the 100 classes, so the stratified split holds a few of each)
        x, y = learnable_images(n_train + n_test, cifar100_labels, 32, 1)
        writers.write_cifar100(root / "cifar-100-python", (x[:n_train], y[:n_train], y[:n_train] // 5),
                               (x[n_train:], y[n_train:], y[n_train:] // 5),
                               [f"class{i}" for i in range(100)], [f"super{i}" for i in range(20)])
        rng = np.random.default_rng(2)
        for k in range(19):  # the DS-542 layout: 19 files of 5 severities, read memory-mapped
            writers.write_ood_file(root / "ood-test" / f"distortion{k:02d}.npy",
                                   rng.integers(0, 256, (5 * ood_per_severity, 32, 32, 3), dtype=np.uint8))
        stl_n = max(40, n_train // 10)
        x, y = learnable_images(2 * stl_n, 10, 96, 3)
        writers.write_stl10(root / "stl10_binary", "train", x[:stl_n], y[:stl_n])
        writers.write_stl10(root / "stl10_binary", "test", x[stl_n:], y[stl_n:])
        self.train_images = {"ws-cifar10": n_train, "ws-ds542": n_train, "ws-stl10": stl_n}
        self.cifar10 = self._init("ws-cifar10", "cifar10", root / "cifar-10-batches-py")
        self.ds542 = self._init("ws-ds542", "ds542-sp25", root / "cifar-100-python", root / "ood-test")
        self.stl10 = self._init("ws-stl10", "stl10-5class", root / "stl10_binary")

    def _init(self, name: str, profile: str, data: Path, test: Path | None = None) -> Path:
        ws = self.kb.work / name
        self.kb.run(None, "init", str(ws), "--profile", profile, "--data", str(data),
                    *(["--test", str(test)] if test else []))
        return ws

    def workspace_for(self, recipe: dict) -> Path:
        name = recipe["name"]
        if "stl10" in name:
            return self.stl10
        text = f"{name} {recipe.get('description', '')}".lower()
        return self.cifar10 if ("cifar-10" in text or "cifar10" in text) and "cifar-100" not in text else self.ds542


def seed_pretrained_weights(torch_home: Path, arch: str, weights: str) -> Path:
    """ImageNet weights cannot be downloaded here: put same-shaped generated ones in the cache,
    under torchvision's own file name, so a pretrained recipe loads them through the real path."""
    import torchvision

    w = torchvision.models.get_model_weights(arch)[weights]
    path = torch_home / "hub" / "checkpoints" / w.url.rsplit("/", 1)[1]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(torchvision.models.get_model(arch).state_dict(), path)
    return path


# -- the checks ----------------------------------------------------------------------------------
class Check:
    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args, self.out = args, out
        self.gpu = not args.cpu
        self.device = "cpu" if args.cpu else "cuda"
        self.work = Path(args.work or out / "work")
        fresh_work_folder(self.work)
        self.kb = Kb(self.work, self.device)
        self.results: list[dict] = []
        self.info: dict[str, Any] = {}
        self.t_start = time.perf_counter()
        self.data: Data | None = None
        self.runs: dict[str, str] = {}  # recipe -> run id of its short run
        self.fast_run: str | None = None  # the fast check's eager run, in the CIFAR-10 workspace
        self.lock = threading.Lock()      # checks that run side by side (on the CPU) share the report

    # the bookkeeping
    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def record(self, name: str, fn: Callable[[], dict], alongside: bool = False) -> None:
        """Run one check and add its result; `alongside`: other checks run at the same time, so
        its CPU time cannot be told apart (left out) and the report is written under a lock."""
        why_not = None
        if self.results and self.results[0]["status"] != "pass":
            why_not = "not started: the environment check failed"
        elif self.elapsed() > self.args.budget:
            why_not = f"not started: past the {self.args.budget:.0f} s budget"
        if why_not:
            with self.lock:
                self.results.append({"check": name, "status": "skipped", "seconds": 0.0, "figures": {},
                                     "detail": why_not})
                self.write_report()
            return
        t0, c0 = time.perf_counter(), cpu_seconds()
        print(f"[{self.elapsed():6.1f}s] {name} ...", file=sys.stderr, flush=True)
        try:
            figures = fn() or {}
            status, detail = "pass", ""
            if figures.pop("_goal_missed", None):
                status, detail = "fail", figures.pop("_why", "a goal was missed")
        except CheckFailed as e:
            status, figures, detail = "fail", {}, str(e)
        except Exception as e:  # noqa: BLE001 - one broken path must not hide the others
            status, figures = "error", {}
            detail = f"{type(e).__name__}: {e} | " + " ".join(traceback.format_exc().splitlines()[-3:])
        secs = time.perf_counter() - t0
        cpu = None if alongside else round(cpu_seconds() - c0, 1)
        with self.lock:
            self.results.append({"check": name, "status": status, "seconds": round(secs, 2), "cpu_seconds": cpu,
                                 "figures": figures, "detail": detail})
            print(f"[{self.elapsed():6.1f}s] {name}: {status} {detail}", file=sys.stderr, flush=True)
            self.write_report()

    def write_report(self) -> None:
        doc = {"info": self.info, "elapsed_s": round(self.elapsed(), 1),
               "cpu_s": round(cpu_seconds(), 1), "load_average": [round(x, 2) for x in os.getloadavg()],
               "results": self.results,
               "passed": sum(r["status"] == "pass" for r in self.results),
               "failed": sum(r["status"] in ("fail", "error") for r in self.results),
               "skipped": sum(r["status"] == "skipped" for r in self.results)}
        tmp = self.out / ".report.json.tmp"
        tmp.write_text(json.dumps(doc, indent=2, default=str))
        os.replace(tmp, self.out / "report.json")
        tmp = self.out / ".report.md.tmp"
        tmp.write_text(render_markdown(doc))
        os.replace(tmp, self.out / "report.md")

    # sizes: full on a GPU; tiny for the rehearsal
    @property
    def tiny(self) -> bool:
        return self.args.tiny

    def steps(self) -> int:
        return 2 if self.tiny else self.args.steps

    # 1. the machine
    def environment(self) -> dict:
        import psutil

        info = {"date": dt.date.today().isoformat(), "python": platform.python_version(),
                "torch": torch.__version__, "cuda": torch.version.cuda, "device": self.device,
                "cpu_cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1)}
        if self.gpu:
            need(torch.cuda.is_available(), "no GPU visible to PyTorch (use --cpu for the rehearsal)")
            props = torch.cuda.get_device_properties(0)
            info.update(gpu=props.name, gpu_count=torch.cuda.device_count(),
                        gpu_memory_gb=round(props.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
        self.info.update(info)
        rate, dtype = self.matmul_rate()
        self.info["matmul_gflops"] = round(rate / 1e9, 1)
        self.info["matmul_dtype"] = dtype
        return {"matmul_gflops": round(rate / 1e9, 1), "dtype": dtype}

    def matmul_rate(self) -> tuple[float, str]:
        """The device's measured matmul FLOP/s: bf16 on a GPU (the training dtype), fp32 on a CPU."""
        n, dtype = (8192, torch.bfloat16) if self.gpu else (512 if self.tiny else 2048, torch.float32)
        a = torch.randn(n, n, device=self.device, dtype=dtype)
        b = torch.randn(n, n, device=self.device, dtype=dtype)
        best = math.inf
        for _ in range(5):
            self.sync()
            t0 = time.perf_counter()
            for _ in range(10):
                a @ b
            self.sync()
            best = min(best, (time.perf_counter() - t0) / 10)
        return 2 * n**3 / best, str(dtype).replace("torch.", "")

    def sync(self) -> None:
        if self.gpu:
            torch.cuda.synchronize()

    # 2. the data
    def make_data(self) -> dict:
        t0 = time.perf_counter()
        n_train, n_test, per = (80, 40, 20) if self.tiny else (50_000, 10_000, 10_000)
        self.data = Data(self.kb, n_train, n_test, per, 10 if self.tiny else 100)
        return {"train_images": n_train, "ood_images": 19 * 5 * per, "seconds": round(time.perf_counter() - t0, 1)}

    # 3. every recipe, a short run
    def recipes(self) -> dict:
        """Every built-in recipe trains a few hundred steps (a few on the CPU), all in one child
        process; a recipe that starts from another run (STL-10 from convnet96) goes second."""
        need(self.data is not None, "no data (the data check failed)")
        listing, *shown = self.kb.many([["recipes", "--json"]] + [["recipes", p.stem, "--json"]
                                                                   for p in sorted(RECIPES.glob("*.toml"))])
        names = [r["name"] for r in json.loads(listing["out"])]
        configs = {(cfg := json.loads(r["out"]))["name"]: cfg for r in shown if r["rc"] == 0}
        need(set(names) <= set(configs), f"recipes without a shown config: {sorted(set(names) - set(configs))}")
        plans = {n: self.plan(n, configs[n]) for n in names}
        later = [n for n in names if "stl10" in n and not configs[n]["model"].get("init_from")]
        figures: dict[str, Any] = {}
        for batch in ([n for n in names if n not in later], later):
            cmds = []
            for n in batch:
                ws, over = plans[n]
                if n in later and "convnet96" in self.runs:  # a checkpoint file: the run is in another workspace
                    over = [*over, f"model.init_from={self.checkpoint_path('convnet96')}"]
                cmds.append(["--workspace", str(ws), "train", n, *over, "--json"])
            t0 = time.perf_counter()
            # on the CPU two children side by side use both cores; a GPU gets one at a time
            for n, res in zip(batch, self.kb.many_at_once(cmds, 1 if self.gpu else 2)):
                try:
                    need(res["rc"] == 0, f"exited {res['rc']}: {res['err']}")
                    figures[n] = self.short_run_figures(n, plans[n][0], json.loads(res["out"]), configs[n])
                except (CheckFailed, json.JSONDecodeError) as e:
                    figures[n] = {"ok": False, "why": str(e)[:300]}
            if batch:
                figures[f"batch_{len(figures)}_seconds"] = round(time.perf_counter() - t0, 1)
        failed = [n for n, f in figures.items() if isinstance(f, dict) and not f["ok"]]
        if failed:
            figures.update(_goal_missed=True, _why=f"{len(failed)} recipe(s) failed: {', '.join(failed)}")
        return figures

    def checkpoint_path(self, recipe: str) -> Path:
        run_id = self.runs[recipe]
        for ws in (self.data.cifar10, self.data.ds542, self.data.stl10):
            row = db_rows(ws, "SELECT path FROM checkpoints WHERE run_id=? AND tag='last'", run_id)
            if row:
                return ws / row[0]["path"]
        raise CheckFailed(f"{run_id} has no last checkpoint")

    def plan(self, name: str, cfg: dict) -> tuple[Path, list[str]]:
        """The workspace and the overrides of a recipe's short run: its own batch size (a small
        one on the CPU), as many epochs as the steps need, no early stop."""
        ws = self.data.workspace_for({"name": name, "description": cfg.get("description", "")})
        batch = int(cfg["train"]["batch_size"])
        n_train = self.data.train_images[ws.name]
        over = []
        if self.tiny:  # the rehearsal: every code path, on as few images as still make 2+ steps
            batch = min(batch, 4)
            # (simplecnn-1conv's run is reused by eval and predict, which need every class)
            if ws != self.data.stl10 and not cfg["data"].get("classes") and name != "simplecnn-1conv":
                over.append('data.classes=["class0","class1"]')
                n_train = n_train // 5  # 2 of the 10 classes the tiny data uses
        per_epoch = max(1, int(n_train * (1 - float(cfg["data"].get("val_fraction", 0.1)))) // batch)
        epochs = max(1, math.ceil(self.steps() / per_epoch))
        over += [f"epochs={epochs}", f"batch_size={batch}", "train.early_stopping_patience=0"]
        if self.device != "auto":
            over.append(f"train.device={self.device}")
        if cfg["model"].get("pretrained"):
            seed_pretrained_weights(self.work / "torch-home", cfg["model"]["name"], cfg["model"]["weights"])
        return ws, over

    def short_run_figures(self, name: str, ws: Path, res: dict, cfg: dict) -> dict:
        self.runs[name] = res["id"]
        losses = [row["train_loss"] for row in db_rows(
            ws, "SELECT train_loss FROM metrics WHERE run_id=? AND scope='step' AND train_loss IS NOT NULL "
            "ORDER BY step", res["id"])]
        need(len(losses) >= 2, f"fewer than 2 logged losses ({res.get('status')})")
        need(all(math.isfinite(v) for v in losses), "a loss is not finite")
        k = max(1, len(losses) // 5)
        first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
        fig = {"ok": True, "status": res["status"], "epochs": res.get("epochs"), "steps": max_step(ws, res["id"]),
               "loss_first": round(first, 4), "loss_last": round(last, 4)}
        if not self.tiny:  # a handful of CPU steps proves nothing about falling; hundreds on a GPU do
            need(last < first, f"the loss did not fall ({first:.3f} -> {last:.3f})")
        peak = db_rows(ws, "SELECT MAX(gpu_mem_used) AS m FROM system_samples WHERE run_id=? AND gpu IS NOT NULL",
                       res["id"])
        if peak and peak[0]["m"] is not None:
            fig["peak_gpu_mem_gb"] = round(peak[0]["m"] / 2**30, 2)  # NVML reports bytes
        return fig

    # 4. fast against airbench94's own loop
    def fast_vs_airbench(self) -> dict:
        need(self.data is not None, "no data")
        ws = self.data.cifar10
        epochs = 1 if self.tiny else 4
        figures: dict[str, Any] = {}
        for compiled in (False, True):
            if compiled and self.tiny:
                continue  # compiling on a 2-core CPU takes minutes: the GPU run measures it
            over = [f"epochs={epochs}", f"train.compile={'true' if compiled else 'false'}"]
            if self.tiny:
                over.append("batch_size=64")
            res = self.kb.train(ws, "fast", *over, timeout=900)
            rows = db_rows(ws, "SELECT epoch, time FROM metrics WHERE run_id=? AND scope='epoch' ORDER BY step",
                           res["id"])
            run = db_rows(ws, "SELECT started, images_per_s FROM runs WHERE id=?", res["id"])[0]
            times = [run["started"], *[r["time"] for r in rows]]
            per_epoch = np.diff(times)
            # the first epoch carries warm-up (and compilation): airbench excludes it too
            steady = float(np.median(per_epoch[1:])) if len(per_epoch) > 1 else float(per_epoch[0])
            key = "compiled" if compiled else "eager"
            figures[f"kagglebench_{key}_s_per_epoch"] = round(steady, 3)
            figures[f"kagglebench_{key}_images_per_s"] = round(run["images_per_s"], 1)
            figures[f"kagglebench_{key}_val_acc"] = round(res.get("best_val_acc") or 0.0, 4)
            self.fast_run = self.fast_run or res["id"]
        ref = airbench_reference()
        if ref is None:
            figures.update(_goal_missed=True, _why="tests/reference/airbench94.py (the transcription) is missing")
            return figures
        images, labels = read_cifar10(self.work / "data" / "cifar-10-batches-py")
        n = int(len(images) * 0.9)  # the images kagglebench trains on (10% held out for validation)
        rate = airbench_images_per_s(ref, images[:n], labels[:n], epochs=epochs, device=self.device,
                                     batch_size=64 if self.tiny else 1024)
        figures["airbench_images_per_s"] = round(rate, 1)
        for key in ("eager", "compiled"):
            mine = figures.get(f"kagglebench_{key}_images_per_s")
            if mine:  # airbench's time over kagglebench's for the same images: > 1 means kagglebench is slower
                figures[f"time_ratio_{key}"] = round(rate / mine, 3)
        best = min(v for k, v in figures.items() if k.startswith("time_ratio"))
        if not self.tiny and best > 1.2:
            figures.update(_goal_missed=True, _why=f"kagglebench takes {best:.2f}x airbench's time (goal 1.2x)")
        return figures

    # 5. achieved FLOP/s of training against the measured matmul rate
    def flops(self) -> dict:
        need(self.fast_run is not None, "no fast run to measure (the fast check failed)")
        from torch.utils.flop_counter import FlopCounterMode

        ws = self.data.cifar10
        run = db_rows(ws, "SELECT images_per_s, config FROM runs WHERE id=?", self.fast_run)[0]
        net = build_model_from_config(json.loads(run["config"]), 10)
        x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
        with FlopCounterMode(display=False) as counter:
            torch.nn.functional.cross_entropy(net(x), y).backward()
        per_image = counter.get_total_flops() / 16
        rate, dtype = self.matmul_rate()
        achieved = per_image * float(run["images_per_s"] or 0)
        frac = achieved / rate
        figures = {"train_gflop_per_image": round(per_image / 1e9, 4), "images_per_s": round(run["images_per_s"], 1),
                   "achieved_gflops": round(achieved / 1e9, 1), "matmul_gflops": round(rate / 1e9, 1),
                   "matmul_dtype": dtype, "fraction": round(frac, 3)}
        if self.gpu and frac < 0.30:
            figures.update(_goal_missed=True, _why=f"{frac:.0%} of the {dtype} matmul rate (goal 30%)")
        return figures

    def small_run(self, ws: Path, again: bool = False) -> str:
        """A run of the small simplecnn-1conv in `ws` (the recipes check's, or a new one)."""
        rid = self.runs.get("simplecnn-1conv")
        if again or not rid or not (ws / "kagglebench.db").exists() or not db_rows(
                ws, "SELECT id FROM runs WHERE id=?", rid):
            rid = self.kb.train(ws, "simplecnn-1conv", "epochs=1", *(["batch_size=16"] if self.tiny else []))["id"]
            self.runs["simplecnn-1conv"] = rid
        return rid

    # 6. eval --ood on the GPU, and the same accuracies on the CPU
    def eval_ood(self) -> dict:
        need(self.data is not None, "no data")
        ws = self.data.ds542
        rid = self.small_run(ws)
        n_big, n_same = (20, 20) if self.tiny else (10_000, 500)
        t0 = time.perf_counter()
        big = self.kb.json(ws, "eval", rid, "--ood", "--ood-samples", str(n_big), "--device", self.device,
                           timeout=900)
        secs = time.perf_counter() - t0
        cells = sum(len(v) for v in big["ood"].values())
        need(cells == 95, f"{cells} corruption x severity cells, not 95")
        figures = {"images": n_big, "cells": cells, "seconds": round(secs, 1), "ood_acc": big["ood_acc"],
                   "ood_ci": big.get("ood_ci")}
        if self.gpu:  # the same small evaluation on both devices: the accuracies must agree
            on = self.kb.json(ws, "eval", rid, "--ood", "--ood-samples", str(n_same), "--device", "cuda")
            off = self.kb.json(ws, "eval", rid, "--ood", "--ood-samples", str(n_same), "--device", "cpu")
            diffs = [abs(on["ood"][c][s] - off["ood"][c][s]) for c in on["ood"] for s in on["ood"][c]]
            figures.update(max_cell_diff=round(max(diffs), 4), mean_cell_diff=round(float(np.mean(diffs)), 5),
                           ood_acc_gpu=on["ood_acc"], ood_acc_cpu=off["ood_acc"])
            # float differences may flip a prediction near a tie; one image in a cell is 1/n_same
            if max(diffs) > 3 / n_same:
                figures.update(_goal_missed=True, _why=f"GPU and CPU differ by {max(diffs):.3f} in one cell")
        return figures

    # 7. predict over the full DS-542 folder
    def predict(self) -> dict:
        need(self.data is not None, "no data")
        ws = self.data.ds542
        rid = self.small_run(ws)
        out = self.work / "predict.csv"
        cmd = self.kb.cmd(ws, "predict", rid, "--out", str(out), "--json")
        proc, secs, peak = peak_rss_of(cmd, self.kb.env, self.work, timeout=900)
        need(proc.returncode == 0, f"predict exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        with open(out, "rb") as f:
            rows = sum(1 for _ in f) - 1
        n = 19 * 5 * (20 if self.tiny else 10_000)
        need(rows == n, f"the CSV has {rows} rows, not {n}")
        return {"rows": rows, "seconds": round(secs, 1), "images_per_s": round(rows / secs, 1),
                "peak_host_rss_gb": round(peak / 2**30, 2)}

    # 8. telemetry lands in the store
    def telemetry(self) -> dict:
        need(bool(self.runs), "no training run to read samples of")
        rows = []
        for ws in (self.data.cifar10, self.data.ds542, self.data.stl10):
            if (ws / "kagglebench.db").exists():
                rows += db_rows(ws, "SELECT * FROM system_samples")
        need(rows, "no system samples in any store")
        gpu_rows = [r for r in rows if r["gpu"] is not None]
        figures = {"samples": len(rows), "gpu_samples": len(gpu_rows)}
        if self.gpu:
            need(gpu_rows, "no NVML rows (gpu column set) in the store")
            last = gpu_rows[-1]
            for k in ("gpu_util", "gpu_mem_used", "gpu_temp", "gpu_power"):
                need(last[k] is not None, f"NVML sample without {k}")
                figures[k] = last[k]
        else:
            need(any(r["cpu_percent"] is not None for r in rows), "no CPU samples")
        return figures

    # 9. find batch-size against a real out-of-memory
    def find_batch_size(self) -> dict:
        need(self.data is not None, "no data")
        recipe, top = ("simplecnn-1conv", 16) if self.tiny else ("resnet152-imagenet", 1 << 16)
        size = "data.input_size=" + ("32" if self.tiny else "224")
        res = self.kb.json(self.data.ds542, "find", "batch-size", recipe, size, "--max", str(top), timeout=900)
        need(res["batch_size"] > 0, "not even a batch of 1 fits")
        if self.gpu:
            need(res["limit"] == "memory", f"stopped by {res['limit']}, not by running out of memory")
        figures = {"batch_size": res["batch_size"], "limit": res["limit"], "tried": len(res.get("tried", []))}
        if self.gpu:  # recovering: the same device trains right after in a new process
            self.small_run(self.data.ds542, again=True)
            figures["trained_after"] = True
        return figures

    # 10. SIGKILL mid-run, --resume: the same weights as a run never killed
    def kill_resume(self) -> dict:
        need(self.data is not None, "no data")
        ws = self.data.cifar10
        epochs = 3
        over = ["train.deterministic=true", "train.checkpoint_every_steps=2", f"epochs={epochs}",
                "batch_size=16" if self.tiny else "batch_size=256", "model.name=simplecnn-1conv",
                *([] if self.device == "auto" else [f"train.device={self.device}"])]
        # the uninterrupted run trains beside the one to be killed (same seed, same steps)
        def spawn(name: str) -> subprocess.Popen:
            return subprocess.Popen(self.kb.cmd(ws, "train", "simplecnn-1conv", *over, "--name", name, "--json"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.kb.env,
                                    cwd=self.work)
        straight_proc, proc = spawn("straight"), spawn("killed")
        n_train = int(self.data.train_images[ws.name] * 0.9)  # the workspace's 10% validation held out
        batch = int(next(o for o in over if o.startswith("batch_size=")).split("=")[1])
        target = max(3, epochs * (n_train // batch) // 2)
        run_id = None
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            rows = db_rows(ws, "SELECT id, step FROM runs WHERE name='killed' ORDER BY created DESC LIMIT 1")
            if rows and rows[0]["step"] >= target:
                run_id = rows[0]["id"]
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.communicate()
        out, err = straight_proc.communicate(timeout=600)
        need(straight_proc.returncode == 0, f"the uninterrupted run exited {straight_proc.returncode}: {err[-300:]}")
        straight = json.loads(out)
        total = max_step(ws, straight["id"])
        need(run_id is not None, f"the run finished (or failed) before step {target}: nothing to kill")
        killed_at = max_step(ws, run_id)
        need(killed_at < total, f"killed at step {killed_at} of {total}: nothing left to resume")
        resumed = self.kb.json(ws, "train", "--resume", run_id)
        need(resumed["status"] == "finished", f"the resumed run ended {resumed['status']}")
        a, b = last_weights(ws, straight["id"]), last_weights(ws, run_id)
        need(a.keys() == b.keys(), "different weight names")
        worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())
        identical = all(torch.equal(a[k], b[k]) for k in a)
        need(identical, f"resumed weights differ from the uninterrupted run's by up to {worst:.3g}")
        return {"steps": total, "killed_at_step": killed_at, "bit_identical": identical}

    # 11. DDP: one process (and two with two GPUs), NCCL on a GPU
    def ddp(self) -> dict:
        need(self.data is not None, "no data")
        ws = self.data.cifar10
        figures: dict[str, Any] = {}
        common = ["epochs=1", "batch_size=32", "model.name=simplecnn-1conv"]
        backend = "nccl" if self.gpu else "gloo"
        world1 = all_reduce_world_of_one(backend, self.work, self.kb.env)  # runs beside the training
        res = self.kb.json(ws, "train", "simplecnn-1conv", *common, "--nproc", "1")
        need(res["status"] == "finished", f"--nproc 1 ended {res['status']}")
        figures["nproc1"] = res["status"]
        figures["world1_all_reduce"] = world1()
        if self.gpu and torch.cuda.device_count() >= 2 or (not self.gpu and not self.tiny):
            res = self.kb.json(ws, "train", "simplecnn-1conv", *common, "--nproc", "2", timeout=900)
            need(res["status"] == "finished", f"--nproc 2 ended {res['status']}")
            figures["nproc2"] = res["status"]
        return figures

    def run_all(self) -> None:
        checks = [("environment", self.environment), ("data", self.make_data), ("recipes", self.recipes),
                  ("fast vs airbench94", self.fast_vs_airbench), ("training FLOP/s", self.flops),
                  ("eval --ood", self.eval_ood), ("predict DS-542", self.predict), ("telemetry", self.telemetry),
                  ("find batch-size", self.find_batch_size), ("kill and resume", self.kill_resume),
                  ("DDP", self.ddp)]
        only = set(self.args.only.split(",")) if self.args.only else None
        checks = [(n, fn) for n, fn in checks if only is None or n.split()[0] in only or n in ("environment", "data")]
        # On the CPU the checks after the FLOP/s one (each a few children on the shared data) run two
        # at a time to use both cores; a GPU runs one at a time, so each one's figures are its own.
        split = next((i for i, (n, _) in enumerate(checks) if n == "eval --ood"), len(checks))
        for name, fn in checks[:split]:
            self.record(name, fn)
        if self.gpu:
            for name, fn in checks[split:]:
                self.record(name, fn)
            return
        from concurrent.futures import ThreadPoolExecutor

        order = [n for n, _ in checks]
        longest_first = sorted(checks[split:], key=lambda c: c[0] not in ("kill and resume", "DDP"))
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: self.record(*c, alongside=True), longest_first))
        self.results.sort(key=lambda r: order.index(r["check"]))
        self.write_report()


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children: unlike wall time, it
    does not grow with what else runs on the machine."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# -- helpers that read kagglebench's files -------------------------------------------------------
WORK_MARK = ".kagglebench-gpu-check"


def fresh_work_folder(work: Path) -> None:
    """An empty scratch folder: a previous check's (marked as ours) is removed first, so a rerun
    into the same OUT starts clean; anything else already there is never touched."""
    import shutil

    if (work / WORK_MARK).exists():
        shutil.rmtree(work)
    elif work.exists() and any(work.iterdir()):
        sys.exit(f"gpu_check: error: {work}: the scratch folder is not empty and not a previous check's "
                 "(pick another OUT or --work)")
    work.mkdir(parents=True, exist_ok=True)
    (work / WORK_MARK).write_text("scratch folder of tools/gpu_check.py: removed by the next run\n")


def max_step(ws: Path, run_id: str) -> int:
    return int(db_rows(ws, "SELECT step FROM runs WHERE id=?", run_id)[0]["step"])


def last_weights(ws: Path, run_id: str) -> dict[str, torch.Tensor]:
    row = db_rows(ws, "SELECT path FROM checkpoints WHERE run_id=? AND tag='last'", run_id)
    need(bool(row), f"{run_id} has no last checkpoint")
    return torch.load(ws / row[0]["path"], map_location="cpu", weights_only=False)["model"]


def build_model_from_config(config: dict, classes: int) -> torch.nn.Module:
    """The run's network, built by kagglebench's own factory from its resolved config."""
    from kagglebench import config as kbconfig
    from kagglebench import models

    cfg = config.get("recipe", config)
    recipe = kbconfig.recipe_from_dict(cfg)
    return models.build_model(recipe.model, classes, recipe.data.input_size or 32)


def read_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    import pickle

    xs, ys = [], []
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "rb") as f:
            d = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d[b"labels"]))
    return np.concatenate(xs), np.concatenate(ys)


def airbench_reference() -> Any:
    """tests/reference/airbench94.py (the test-only transcription of airbench94's loop), if present."""
    path = TESTS / "reference" / "airbench94.py"
    if not path.exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("airbench94_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def airbench_images_per_s(ref: Any, images: np.ndarray, labels: np.ndarray, *, epochs: int, device: str,
                          batch_size: int) -> float:
    """airbench94's own loop on these images: training images per second after the first epoch
    (which carries the warm-up), timed at epoch boundaries as airbench times itself."""
    hyp = ref.with_hyp(opt_train_epochs=epochs, opt_batch_size=batch_size)
    x, y = torch.as_tensor(images), torch.as_tensor(labels)
    loader = ref.CifarLoader(x, y, train=True, batch_size=batch_size, aug=hyp["aug"], device=device)
    marks: list[float] = []

    def batches(epoch: int) -> Any:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return loader

    ref.train(x, y, hyp=hyp, device=device, batches=batches)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    marks.append(time.perf_counter())
    per_epoch = np.diff(marks)[1:] if len(marks) > 2 else np.diff(marks)
    return len(loader) * batch_size / float(np.median(per_epoch))


_MANY_TAG = "@@kagglebench-gpu-check@@ "
_MANY = r"""
import contextlib, io, json, sys, traceback
from kagglebench.cli import main
for argv in json.loads(sys.stdin.read()):
    out, err, rc = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            rc = 1
            traceback.print_exc()
    tail = " | ".join(err.getvalue().strip().splitlines()[-3:])
    print("@@kagglebench-gpu-check@@ " + json.dumps({"rc": rc, "out": out.getvalue(), "err": tail}), flush=True)
"""

_WORLD1 = """
import os, sys, torch, torch.distributed as dist
backend = sys.argv[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2], RANK="0", WORLD_SIZE="1")
dev = "cuda" if backend == "nccl" else "cpu"
if dev == "cuda":
    torch.cuda.set_device(0)
dist.init_process_group(backend=backend)
t = torch.ones(4, device=dev) * 3
dist.all_reduce(t)
dist.barrier()
print(float(t.sum()))
dist.destroy_process_group()
"""


def all_reduce_world_of_one(backend: str, work: Path, env: dict) -> Callable[[], str]:
    """Start an all_reduce in a world of one process; the returned function waits for its verdict."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", _WORLD1, backend, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=work)

    def verdict() -> str:
        out, err = proc.communicate(timeout=300)
        need(proc.returncode == 0 and out.strip() == "12.0", f"{backend} all_reduce failed: {err.strip()[-300:]}")
        return f"{backend} ok"
    return verdict


# -- the report ----------------------------------------------------------------------------------
def render_markdown(doc: dict) -> str:
    info = doc["info"]
    head = info.get("gpu") or f"CPU ({info.get('cpu_cores')} cores)"
    lines = [f"# kagglebench GPU check: {head}", "",
             f"{info.get('date', '')}, torch {info.get('torch')}, CUDA {info.get('cuda')}, "
             f"Python {info.get('python')}; "
             f"measured {info.get('matmul_dtype')} matmul {info.get('matmul_gflops')} GFLOP/s. "
             f"{doc['passed']} passed, {doc['failed']} failed, {doc['skipped']} skipped in {doc['elapsed_s']} s "
             f"({doc.get('cpu_s')} s of CPU; load average {doc.get('load_average')}).", "",
             "| check | result | seconds | CPU s | figures |", "|---|---|---:|---:|---|"]
    for r in doc["results"]:
        figs = r["figures"]
        flat = {k: v for k, v in figs.items() if not isinstance(v, dict)}
        text = ", ".join(f"{k} {v}" for k, v in flat.items())
        if r["detail"]:
            text = f"{r['detail']}; {text}" if text else r["detail"]
        cpu = "" if r.get("cpu_seconds") is None else r["cpu_seconds"]
        lines.append(f"| {r['check']} | {r['status']} | {r['seconds']} | {cpu} | "
                     f"{text.replace('|', '/')} |")
    nested = [(r["check"], k, v) for r in doc["results"] for k, v in r["figures"].items() if isinstance(v, dict)]
    if nested:
        lines += ["", "## Per item", "", "| check | item | figures |", "|---|---|---|"]
        for check, k, v in nested:
            lines.append(f"| {check} | {k} | {', '.join(f'{a} {b}' for a, b in v.items()).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="folder for report.md and report.json (created)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU (the rehearsal)")
    p.add_argument("--tiny", action="store_true", help="tiny data and step counts (the rehearsal)")
    p.add_argument("--steps", type=int, default=200, help="training steps per recipe (default 200)")
    p.add_argument("--budget", type=float, default=None,
                   help="start no check after this many seconds (default 330 on a GPU, none with --cpu)")
    p.add_argument("--only", help="comma-separated first words of the checks to run (environment and data always)")
    p.add_argument("--work", help="scratch folder (default OUT/work)")
    args = p.parse_args(argv)
    if args.budget is None:
        args.budget = math.inf if args.cpu else 330.0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check = Check(args, out)
    check.run_all()
    bad = [r["check"] for r in check.results if r["status"] in ("fail", "error")]
    print(f"report: {out / 'report.md'}" + (f" ({len(bad)} failed: {', '.join(bad)})" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
