"""The telemetry sampler writes system rows a reader process sees; GPU rows when NVML answers."""

from __future__ import annotations

import threading
import types

import pytest

from kagglebench import telemetry
from kagglebench.store import Store


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kagglebench-telemetry"]


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "kagglebench.db"
    with Store(path) as s:
        s.create_run("r1", name="r1", recipe="demo-cnn", config={}, run_dir="runs/r1")
    return path


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setattr(telemetry, "_nvml_state", {"ok": False})


def test_sampler_records_cpu_rows_and_leaves_no_thread(store_path, no_nvml):
    sampler = telemetry.Sampler(store_path, run_id="r1", interval=0.05)
    sampler.start()
    sum(i * i for i in range(300_000))  # some CPU work for the process to show
    threading.Event().wait(0.3)
    sampler.stop()
    assert _sampler_threads() == []
    with Store(store_path) as s:
        rows = s.samples_since(0, run_id="r1")
    assert len(rows) >= 3
    assert all(r["gpu"] is None and r["gpu_util"] is None for r in rows)
    assert all(r["rss"] > 10e6 for r in rows)  # a Python process with sqlite uses well over 10 MB
    assert all(r["cpu_percent"] >= 0 for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times)


def test_stop_writes_a_final_sample_even_before_the_first_interval(store_path, no_nvml):
    with telemetry.Sampler(store_path, run_id="r1", interval=60):
        pass
    with Store(store_path) as s:
        assert len(s.samples_since(0, run_id="r1")) == 1


def test_unwritable_store_never_raises(tmp_path, no_nvml):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"garbage" * 100)
    sampler = telemetry.Sampler(bad, interval=0.01).start()
    sampler.stop()
    assert sampler.samples_written == 0 and _sampler_threads() == []


def _fake_pynvml(n_gpus: int):
    """A stand-in NVML with fixed figures: this machine has no GPU."""
    mod = types.SimpleNamespace(NVML_TEMPERATURE_GPU=0)
    mod.nvmlDeviceGetCount = lambda: n_gpus
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2e9, total=8e9)
    mod.nvmlDeviceGetTemperature = lambda h, kind: 60
    mod.nvmlDeviceGetName = lambda h: b"Fake GPU"

    def power(h):
        raise RuntimeError("not supported on this board")

    mod.nvmlDeviceGetPowerUsage = power
    return mod


def test_gpu_rows_for_the_gpus_the_run_uses(store_path, monkeypatch):
    monkeypatch.setattr(telemetry, "_nvml_state", {"ok": True, "mod": _fake_pynvml(2)})
    with telemetry.Sampler(store_path, run_id="r1", interval=60, gpu_indices=[1]):
        pass
    with Store(store_path) as s:
        rows = s.samples_since(0, run_id="r1")
    assert len(rows) == 1
    r = rows[0]
    assert (r["gpu"], r["gpu_util"], r["gpu_mem_total"], r["gpu_temp"]) == (1, 41.0, 8e9, 60.0)
    assert r["gpu_power"] is None  # unsupported fields are left empty, not fatal
    assert r["rss"] > 0


def test_visible_gpu_indices_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(telemetry, "_nvml_state", {"ok": True, "mod": _fake_pynvml(4)})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert telemetry.visible_gpu_indices("cuda") == [2, 3]
    assert telemetry.visible_gpu_indices("cuda:1") == [3]
    assert telemetry.visible_gpu_indices("cpu") == []


def test_read_system_reports_machine_figures(monkeypatch):
    monkeypatch.setattr(telemetry, "_nvml_state", {"ok": True, "mod": _fake_pynvml(2)})
    info = telemetry.read_system()
    assert [g["gpu"] for g in info["gpus"]] == [0, 1]
    assert info["gpus"][0]["name"] == "Fake GPU"
    assert 0 < info["ram_used"] < info["ram_total"]
    assert 0 <= info["cpu_percent"] <= 100 * info["cpu_count"]


def test_read_system_without_nvml_is_cpu_only(no_nvml):
    assert telemetry.read_system()["gpus"] == []
