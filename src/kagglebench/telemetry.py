"""System telemetry: GPU figures through NVML (nvidia-ml-py) and process figures through psutil.

`Sampler` runs in the training process as a daemon thread and writes a row per GPU
(plus one CPU-only row when there is no GPU) into the store's `system_samples`
table every few seconds. `read_system()` gives the whole machine's figures now,
for the desktop app's system tab. Without NVML or a GPU both report the CPU only,
silently: a laptop without a GPU is not an error.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import psutil

_nvml_lock = threading.Lock()
_nvml_state: dict[str, Any] = {"ok": None}


def _nvml():
    """The pynvml module, initialised once per process; None when NVML is unavailable."""
    with _nvml_lock:
        if _nvml_state["ok"] is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_state.update(ok=True, mod=pynvml)
            except Exception:  # no library, no driver, no GPU: CPU-only telemetry
                _nvml_state["ok"] = False
        return _nvml_state.get("mod") if _nvml_state["ok"] else None


def gpu_count() -> int:
    nv = _nvml()
    if nv is None:
        return 0
    try:
        return int(nv.nvmlDeviceGetCount())
    except Exception:
        return 0


def visible_gpu_indices(device: str | None = None) -> list[int]:
    """NVML indices of the GPU(s) a process on `device` uses.

    CUDA numbers devices after CUDA_VISIBLE_DEVICES filtering; NVML numbers all of
    them. Map through the variable when it holds plain integers (UUIDs are left to NVML order).
    """
    n = gpu_count()
    if n == 0 or (device is not None and not str(device).startswith("cuda")):
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = list(range(n))
    if env is not None:
        parts = [p.strip() for p in env.split(",") if p.strip()]
        if all(p.isdigit() for p in parts):
            visible = [int(p) for p in parts if int(p) < n]
    if device is not None and ":" in str(device):
        local = int(str(device).split(":", 1)[1])
        return [visible[local]] if local < len(visible) else []
    return visible


def _gpu_stats(index: int) -> dict[str, float | None]:
    """One GPU's figures; a field the driver does not report (power on some boards) is None."""
    nv = _nvml()
    h = nv.nvmlDeviceGetHandleByIndex(index)

    def get(fn):
        try:
            return fn()
        except Exception:
            return None

    util = get(lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
    mem = get(lambda: nv.nvmlDeviceGetMemoryInfo(h))
    temp = get(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
    power = get(lambda: nv.nvmlDeviceGetPowerUsage(h))
    name = get(lambda: nv.nvmlDeviceGetName(h))
    return {
        "gpu": index,
        "name": name.decode() if isinstance(name, bytes) else name,
        "gpu_util": float(util) if util is not None else None,
        "gpu_mem_used": float(mem.used) if mem is not None else None,
        "gpu_mem_total": float(mem.total) if mem is not None else None,
        "gpu_temp": float(temp) if temp is not None else None,
        "gpu_power": power / 1000.0 if power is not None else None,  # NVML reports milliwatts
    }


def read_system() -> dict[str, Any]:
    """The whole machine now: {"gpus": [per-GPU dicts], "cpu_percent", "ram_used", "ram_total"}.

    Blocking for about 0.1 s (psutil measures CPU% over an interval): call it from a worker thread.
    """
    gpus = []
    for i in range(gpu_count()):
        try:
            gpus.append(_gpu_stats(i))
        except Exception:
            continue
    vm = psutil.virtual_memory()
    return {"gpus": gpus, "cpu_percent": psutil.cpu_percent(interval=0.1),
            "cpu_count": psutil.cpu_count(), "ram_used": float(vm.total - vm.available),
            "ram_total": float(vm.total)}


class Sampler:
    """Background thread recording this process's CPU%/RSS and its GPUs' figures into the store.

    Opens its own Store connection inside the thread (SQLite connections belong to one thread).
    `stop()` takes a last sample, joins the thread and closes the connection.
    """

    def __init__(self, store_path: str | os.PathLike, run_id: str | None = None,
                 interval: float = 5.0, gpu_indices: list[int] | None = None) -> None:
        self.store_path = Path(store_path)
        self.run_id = run_id
        self.interval = float(interval)
        self.gpu_indices = list(gpu_indices) if gpu_indices is not None else visible_gpu_indices()
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_written = 0

    def sample(self) -> list[dict[str, Any]]:
        """The rows for one moment: one per GPU, or a single CPU-only row (gpu NULL)."""
        now = time.time()
        cpu = self._proc.cpu_percent(interval=None)  # since the previous call
        rss = float(self._proc.memory_info().rss)
        base = {"run_id": self.run_id, "time": now, "cpu_percent": cpu, "rss": rss}
        rows = []
        for i in self.gpu_indices if _nvml() is not None else []:
            try:
                s = _gpu_stats(i)
            except Exception:
                continue
            s.pop("name", None)
            rows.append({**base, **s})
        return rows or [{**base, "gpu": None}]

    def start(self) -> Sampler:
        if self._thread is not None:
            return self
        self._proc.cpu_percent(interval=None)  # prime: the first call always returns 0.0
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kagglebench-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        from kagglebench.store import Store

        try:
            store = Store(self.store_path)
        except Exception:
            return  # telemetry must never take a run down
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                try:
                    store.add_samples(self.sample())
                    self.samples_written += 1
                except Exception:
                    pass  # a locked or vanished store costs one sample, not the run
                if stopping:
                    break
        finally:
            store.close()
