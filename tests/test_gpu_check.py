"""``benchmarks/gpu_check.py`` on a machine without a GPU, and its readers of results.

What the script proves on a GPU it can only prove there (docs/gpu.md); here
it must say "no GPU found" cleanly, name the backend it used (or that
TensorFlow is missing, per check), and read the plugin's results the way the
plugin writes them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pytest_cnnperf.telemetry import GpuTelemetry, RunTelemetry

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while being made.
    sys.modules.setdefault("gpu_check", module)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, prelude: str = "") -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run the script in a subprocess, after ``prelude`` (stand-ins in sys.modules)."""
    out = tmp_path / "gpu_check.json"
    code = textwrap.dedent(prelude) + textwrap.dedent(
        f"""
        import runpy, sys
        sys.argv = ["gpu_check.py", "--out", {str(out)!r}]
        runpy.run_path({str(SCRIPT)!r}, run_name="__main__")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    return done, json.loads(out.read_text()) if out.exists() else None


def test_no_gpu_found_is_a_clean_answer(tmp_path: Path) -> None:
    done, document = _run(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("no GPU found: TensorFlow ")
    assert "lists no GPU (built with" in first and "CUDA_VISIBLE_DEVICES is" in first
    assert "backend: tensorflow" in done.stdout
    assert document["no_gpu"] and document["backend"]["name"] == "tensorflow"
    assert [c["name"] for c in document["checks"]] == list(_load().CHECKS)
    assert {c["status"] for c in document["checks"]} == {"skipped"}
    assert all(c["detail"].startswith("no GPU found: ") for c in document["checks"])


FAKE_JAX = """
import sys, types
sys.modules["tensorflow"] = None  # import tensorflow raises ImportError
jax = types.ModuleType("jax")
jax.__version__ = "0.4.30"
class Device:
    def __init__(self, platform, name):
        self.platform, self.name = platform, name
    def __str__(self):
        return self.name
jax.devices = lambda: DEVICES
sys.modules["jax"] = jax
"""


def test_without_tensorflow_and_without_a_gpu_it_names_the_backend(tmp_path: Path) -> None:
    done, document = _run(tmp_path, FAKE_JAX + 'DEVICES = [Device("cpu", "TFRT_CPU_0")]\n')
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[0] == (
        "no GPU found: JAX 0.4.30 lists no GPU (CUDA_VISIBLE_DEVICES is "
        + (repr(_env("CUDA_VISIBLE_DEVICES")) if _env("CUDA_VISIBLE_DEVICES") else "unset")
        + ")"
    )
    assert document["backend"]["name"] == "jax"


def test_without_tensorflow_each_check_says_tensorflow_is_missing(tmp_path: Path) -> None:
    done, document = _run(tmp_path, FAKE_JAX + 'DEVICES = [Device("gpu", "cuda:0")]\n')
    assert done.returncode == 0, done.stderr
    checks = {c["name"]: c for c in document["checks"]}
    assert checks["devices"]["status"] == "pass" and checks["devices"]["detail"] == "cuda:0"
    assert checks["devices"]["backend"] == "jax"
    for name in ("sessions", "telemetry", "nvml_match", "timing_sync", "tf32"):
        assert checks[name]["status"] == "skipped"
        assert checks[name]["detail"] == (
            "needs TensorFlow, which is not installed (backend here: jax 0.4.30); "
            "pytest-cnnperf trains with TensorFlow"
        )


def test_without_any_framework_it_says_so(tmp_path: Path) -> None:
    done, _ = _run(
        tmp_path,
        "import sys\nfor name in ('tensorflow', 'jax', 'torch'):\n    sys.modules[name] = None\n",
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[0] == (
        "no GPU found: no framework to ask: none of tensorflow, jax, torch is installed"
    )


def _env(name: str) -> str | None:
    import os

    return os.environ.get(name)


# -- reading the plugin's results ------------------------------------------------------


def _document(telemetry: RunTelemetry | None, layers: dict[str, Any] | None) -> dict[str, Any]:
    run = {
        "precision": "float32",
        "tf32": False,
        "jit_compile": False,
        "telemetry": None if telemetry is None else telemetry.to_dict(),
        "layers": layers,
    }
    return {"tests": [{"runs": [run], "verdict": "pass"}]}


def test_telemetry_read_from_results_passes_with_samples() -> None:
    gpu_check = _load()
    sampled = RunTelemetry(
        gpus=(
            GpuTelemetry(
                "0000:07:00.0",
                "NVIDIA H200",
                40,
                utilization_mean_percent=97.0,
                memory_used_peak_bytes=3 * 2**30,
                power_mean_watts=420.0,
                sm_clock_mean_mhz=1980.0,
                temperature_peak_celsius=55.0,
            ),
        )
    )
    check = gpu_check.check_telemetry(_document(sampled, None))
    assert check.status == "pass"
    assert check.detail.startswith(
        "40 samples on NVIDIA H200 at PCI 0000:07:00.0: utilization 97% mean, memory 3 GiB "
        "peak, power 420 W mean, SM clock 1.98e+03 MHz mean, 55 C peak"
    )


def test_telemetry_with_an_nvml_error_fails_with_its_message() -> None:
    gpu_check = _load()
    off = RunTelemetry(error="GPU telemetry is off: the NVIDIA driver is not loaded (...).")
    check = gpu_check.check_telemetry(_document(off, None))
    assert (check.status, check.detail) == (
        "fail",
        "GPU telemetry is off: the NVIDIA driver is not loaded (...).",
    )


def test_layers_need_device_events_and_coverage() -> None:
    gpu_check = _load()
    device = {"coverage": 0.91, "source": "device", "steps": 8, "layers": [{}] * 5}
    assert gpu_check.check_layers(_document(None, device)).status == "pass"
    host = {**device, "source": "host"}
    assert gpu_check.check_layers(_document(None, host)).status == "fail"
    low = {**device, "coverage": 0.3}
    check = gpu_check.check_layers(_document(None, low))
    assert check.status == "fail"
    assert check.detail == (
        "8 profiled steps attributed from device events to 5 layers; coverage 0.3 of each "
        "step (median; at least 0.5 required)"
    )


def test_the_device_span_is_read_from_an_xspace() -> None:
    xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")
    gpu_check = _load()
    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/device:GPU:0")
    line = plane.lines.add(timestamp_ns=1_000)
    line.events.add(offset_ps=0, duration_ps=2_000_000_000)  # 2 ms
    other = plane.lines.add(timestamp_ns=3_000_000)  # 3 ms after the first line's base
    other.events.add(offset_ps=0, duration_ps=1_000_000_000)
    space.planes.add(name="/host:CPU").lines.add(timestamp_ns=0).events.add(
        offset_ps=0, duration_ps=10**13
    )
    assert gpu_check._device_span_seconds(space) == pytest.approx(0.004 - 1e-6)


def test_the_sessions_test_file_collects(pytester: pytest.Pytester) -> None:
    gpu_check = _load()
    pytester.makepyfile(test_gpu_check=gpu_check.TEST_FILE)
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_resnet20_v1[[]resnet20_v1-synthetic[]]*"])


def test_the_two_sessions_run_and_are_read_on_cpu(tmp_path: Path) -> None:
    # The sessions' harness (plugin found, results written and read back) with a
    # tiny LeNet-5 on CPU: on a GPU the same code runs with --cnnperf-gpu.
    gpu_check = _load()
    tiny = gpu_check.TEST_TEMPLATE.format(
        model="lenet5",
        train_size=256,
        test_size=64,
        input_shape=(28, 28, 1),
        epochs=1,
        batch_size=64,
    )
    check, document = gpu_check.check_sessions(
        tmp_path, test_file=tiny, options=("--cnnperf-windows=2", "--cnnperf-confirm=off")
    )
    assert (tmp_path / "accept.json").exists() and (tmp_path / "compare.json").exists()
    assert check.detail.startswith("second session judged ")
    assert check.figures["verdict"] in ("pass", "unstable", "improved", "regressed")
    # On CPU there is no telemetry, and the layers come from host events: both say so.
    assert gpu_check.check_telemetry(document).detail == "the run carries no telemetry block"
    layers = gpu_check.check_layers(document)
    assert layers.status == "fail" and "attributed from host events" in layers.detail
