"""Environment fingerprints; NVML faked at the pynvml module boundary only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest
from fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_NOT_SUPPORTED,
    FakeGpu,
    make_fake_nvml,
)

from pytest_cnnperf import environment
from pytest_cnnperf.baselines import HardwareKey


def _fake_pynvml(names: list[str]) -> types.ModuleType:
    """The shared fake pynvml (tests/fake_nvml.py) with one GPU per name."""
    return make_fake_nvml(
        [FakeGpu(name=name, bus_id=f"00000000:{7 + i:02x}:00.0") for i, name in enumerate(names)]
    )


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
    monkeypatch.setitem(
        sys.modules, "pynvml", make_fake_nvml([], init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    )
    report = environment.nvml_report()
    assert report.gpus == ()
    # The same sentence as the telemetry's, so that the summary says it once.
    assert report.error == (
        "GPU telemetry is off: the NVIDIA driver is not loaded (NVML error 9, Driver "
        "Not Loaded); check that nvidia-smi lists the GPUs."
    )


def test_nvml_report_without_pynvml_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert environment.nvml_report().error == (
        "GPU telemetry is off: pynvml is not installed; pip install 'pytest-cnnperf[gpu]' "
        "installs it (nvidia-ml-py)."
    )


def test_gpus_carry_compute_capability_and_bus_id(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [
        FakeGpu(name="NVIDIA H100 80GB HBM3", bus_id="00000000:1B:00.0", capability=(9, 0)),
        FakeGpu(name="NVIDIA H100 80GB HBM3", bus_id="00000000:2B:00.0", capability=(9, 0)),
    ]
    gpus[1].fails["nvmlDeviceGetCudaComputeCapability"] = NVML_ERROR_NOT_SUPPORTED
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_nvml(gpus))
    snapshot = environment.take_snapshot(gpu=True, precision="tf32")
    assert snapshot.hardware == HardwareKey("gpu", "NVIDIA H100 80GB HBM3", 2, "tf32")
    block = snapshot.to_dict()["gpus"]
    assert [(g["compute_capability"], g["pci_bus_id"]) for g in block] == [
        ("9.0", "0000:1b:00.0"),
        (None, "0000:2b:00.0"),
    ]
    assert snapshot.software["driver"] == "550.54.15"


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
        "backend": "tensorflow",
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
        from pytest_cnnperf.backends import tensorflow as tf_backend
        from pytest_cnnperf.backends.imports import import_tensorflow
        tf = import_tensorflow()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        placement = tf_backend.pin(tf, gpu=False, requested=1, worker_id="gw0")
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
        from pytest_cnnperf.backends import tensorflow as tf_backend
        from pytest_cnnperf.backends.imports import import_tensorflow
        tf = import_tensorflow()
        try:
            tf_backend.pin(tf, gpu=False, requested=3, worker_id=None)
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
        from pytest_cnnperf.backends import tensorflow as tf_backend
        from pytest_cnnperf.backends.imports import import_tensorflow
        print(tf_backend.missing_gpu_message(import_tensorflow()))
        """
    )
    assert "tf.config.list_physical_devices('GPU') returned []" in stdout
    assert "CUDA_VISIBLE_DEVICES is '7'" in stdout
    assert "pip install 'pytest-cnnperf[gpu]'" in stdout


def test_cuda_and_cudnn_versions_come_from_tensorflows_build_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The build information is TensorFlow's own dictionary; a stand-in module
    # gives what a CUDA wheel's gives.
    tf = types.ModuleType("tensorflow")
    tf.sysconfig = types.SimpleNamespace(  # type: ignore[attr-defined]
        get_build_info=lambda: {
            "cuda_version": "12.5.1",
            "cudnn_version": "9",
            "is_cuda_build": True,
        }
    )
    monkeypatch.setitem(sys.modules, "tensorflow", tf)
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(["NVIDIA L4"]))
    software = environment.software_fingerprint(gpu=True)
    assert (software["cuda"], software["cudnn"], software["driver"]) == ("12.5.1", "9", "550.54.15")
