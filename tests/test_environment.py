"""Environment fingerprints; NVML faked at the pynvml module boundary only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass

import pytest

from pytest_cnnperf import environment
from pytest_cnnperf.baselines import HardwareKey


@dataclass
class _Memory:
    total: int


class _NVMLError(Exception):
    pass


def _fake_pynvml(names: list[str], *, init_error: bool = False) -> types.ModuleType:
    """A stand-in for the pynvml module with the functions pytest-cnnperf calls."""
    fake = types.ModuleType("pynvml")
    state = {"initialized": False, "inits": 0}

    def nvmlInit() -> None:
        state["inits"] += 1
        if init_error:
            raise _NVMLError("Driver Not Loaded")
        state["initialized"] = True

    def nvmlShutdown() -> None:
        state["initialized"] = False

    fake.NVMLError = _NVMLError  # type: ignore[attr-defined]
    fake.nvmlInit = nvmlInit  # type: ignore[attr-defined]
    fake.nvmlShutdown = nvmlShutdown  # type: ignore[attr-defined]
    fake.nvmlSystemGetDriverVersion = lambda: "550.54.15"  # type: ignore[attr-defined]
    fake.nvmlSystemGetCudaDriverVersion = lambda: 12040  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: len(names)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: names[h].encode()  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: _Memory(40 * 2**30)  # type: ignore[attr-defined]
    fake.state = state  # type: ignore[attr-defined]
    return fake


def test_nvml_report_lists_gpus_and_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    report = environment.nvml_report()
    assert report.error is None
    assert [g.name for g in report.gpus] == ["NVIDIA A100-SXM4-40GB"] * 2
    assert report.driver_version == "550.54.15"
    assert report.cuda_driver_version == "12.4"
    assert fake.state["initialized"] is False  # shut down again


def test_nvml_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml([], init_error=True))
    report = environment.nvml_report()
    assert report.gpus == ()
    assert report.error == "NVML could not start: Driver Not Loaded"


def test_gpu_hardware_key_and_software_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(["NVIDIA L4", "NVIDIA L4"]))
    hardware = environment.describe_hardware(gpu=True, precision="mixed_float16")
    assert hardware == HardwareKey("gpu", "NVIDIA L4", 2, "mixed_float16")
    software = environment.software_fingerprint(gpu=True)
    assert software["driver"] == "550.54.15"
    assert software["cuda_driver"] == "12.4"
    assert software["keras"] and software["python"]


def test_snapshot_opens_nvml_once_and_serves_key_and_software(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _fake_pynvml(["NVIDIA H200"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    snapshot = environment.take_snapshot(gpu=True, precision="float32")
    assert fake.state["inits"] == 1  # type: ignore[attr-defined]
    assert snapshot.hardware == HardwareKey("gpu", "NVIDIA H200", 1, "float32")
    assert snapshot.software["driver"] == "550.54.15"
    block = snapshot.to_dict()
    assert block["device"] == {
        "kind": "gpu",
        "model": "NVIDIA H200",
        "count": 1,
        "precision": "float32",
    }
    assert block["gpus"][0]["name"] == "NVIDIA H200" and block["nvml_error"] is None


def test_cpu_snapshot_never_opens_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(["NVIDIA H200"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    snapshot = environment.take_snapshot(gpu=False, precision="float32")
    assert fake.state["inits"] == 0  # type: ignore[attr-defined]
    assert snapshot.hardware.device_kind == "cpu" and snapshot.gpus == ()


def test_cpu_hardware_key() -> None:
    hardware = environment.describe_hardware(gpu=False, precision="float32")
    assert hardware.device_kind == "cpu"
    assert hardware.device_count >= 1
    assert hardware.device_model == environment.cpu_model()


def _run_python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_pinning_selects_a_logical_cpu_device_and_hides_gpus() -> None:
    # Two logical CPU devices stand in for two accelerators.
    stdout = _run_python(
        """
        from pytest_cnnperf import devices
        from pytest_cnnperf.backend import import_tensorflow
        tf = import_tensorflow()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        placement = devices.pin(tf, gpu=False, requested=1, worker_id="gw0")
        with tf.device(placement.device_name):
            x = tf.constant([1.0, 2.0]) * 3
        print(placement.device_name, placement.visible_count, x.device,
              tf.config.get_visible_devices("GPU"))
        """
    )
    name, count, placed, visible_gpus = stdout.split()
    assert name.endswith("CPU:1") and count == "2"
    assert placed.endswith("CPU:1")
    assert visible_gpus == "[]"


def test_pinning_rejects_an_index_beyond_the_devices() -> None:
    stdout = _run_python(
        """
        from pytest_cnnperf import devices
        from pytest_cnnperf.backend import import_tensorflow
        tf = import_tensorflow()
        try:
            devices.pin(tf, gpu=False, requested=3, worker_id=None)
        except devices.DeviceError as exc:
            print(exc)
        """
    )
    assert "--cnnperf-device 3 asks for CPU:3, but TensorFlow sees 1 CPU device" in stdout


def test_missing_gpu_message_names_what_was_looked_for() -> None:
    stdout = _run_python(
        """
        import os
        os.environ["CUDA_VISIBLE_DEVICES"] = "7"
        from pytest_cnnperf import devices
        from pytest_cnnperf.backend import import_tensorflow
        print(devices.missing_gpu_message(import_tensorflow()))
        """
    )
    assert "tf.config.list_physical_devices('GPU') returned []" in stdout
    assert "CUDA_VISIBLE_DEVICES is '7'" in stdout
    assert "pip install 'pytest-cnnperf[gpu]'" in stdout
