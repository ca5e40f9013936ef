"""Prove the GPU machinery end to end on a GPU machine, in one command, offline.

Usage:
    python benchmarks/gpu_check.py [--out gpu_check.json] [--keep DIR]

Checks, in this order (each says why when it cannot run):

- ``devices``: the GPUs the backend sees (TensorFlow first, then JAX, then
  PyTorch; the table says which one answered).
- ``sessions``: two identical pytest sessions of a small ResNet on synthetic
  CIFAR-shaped images with ``--cnnperf-gpu``, three runs each (the fewest a
  verdict other than ``unstable`` needs): the first accepts its figures
  as the baselines, the second is judged against them and must be ``pass``.
  They run first, in subprocesses, so that this process holds no GPU context
  while they are timed (it would be "another process" on the GPU).
- ``telemetry``: NVML telemetry sampled during that real training, from the
  sessions' results JSON (samples, utilization, memory, power, clocks, no
  NVML error), and the precision recorded (float32 with TF32 off).
- ``layers``: per-layer attribution from device kernel events, with its
  coverage of the profiled steps (at least ``MIN_COVERAGE``).
- ``nvml_match``: every TensorFlow GPU matched to NVML by PCI bus id.
- ``timing_sync``: a synchronized window's wall time agrees with the span
  of the device's kernels in the TensorFlow profiler's trace (the kernels fit
  in the window and fill at least ``MIN_DEVICE_SHARE`` of it), and the same
  window read without synchronizing is shown to be shorter.
- ``tf32``: TF32 really off under float32: a float32 matrix product checked
  against float64 (relative error at most ``MAX_FLOAT32_ERROR``, and at
  least ten times smaller than with TF32 on), and the speed of both.
- ``mixed_precision``: under ``mixed_float16`` (and ``mixed_bfloat16`` on
  compute capability 8.0 and newer) layers compute in half precision with
  float32 variables, a training step's loss is finite, and the speed
  against float32.

It prints a table and writes the results as JSON (``--out``). Exit status: 0
when every check that could run passed, 1 when one failed, 2 when no GPU was
found (every check then says so). Nothing is downloaded: the data are
synthetic and the model is built from the zoo.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run from a checkout: the plugin beside this script, installed or not.
    sys.path.insert(0, str(REPO_ROOT))
SCHEMA_VERSION = 1
#: Share of each profiled step the per-layer attribution must explain.
MIN_COVERAGE = 0.5
#: Share of a synchronized window the device's kernels must fill.
MIN_DEVICE_SHARE = 0.85
#: Relative (Frobenius) error of a strict float32 product of 2048-wide matrices.
MAX_FLOAT32_ERROR = 1e-4
#: Seconds a pytest session may take before the check gives up on it.
SESSION_TIMEOUT_SECONDS = 200

CHECKS = (
    "devices",
    "sessions",
    "telemetry",
    "layers",
    "nvml_match",
    "timing_sync",
    "tf32",
    "mixed_precision",
)


@dataclass
class Check:
    """One check's outcome: ``pass``, ``fail`` or ``skipped``, and why, in words."""

    name: str
    status: str
    detail: str
    backend: str | None = None
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Backend:
    """The framework that answered: its name and version, or why none did."""

    name: str | None
    version: str | None
    problem: str | None = None
    module: Any = None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ValueError, ImportError):  # a None entry in sys.modules: import blocked
        return False


def find_backend() -> Backend:
    """TensorFlow first (pytest-cnnperf trains with it), then JAX, then PyTorch."""
    missing = []
    for name in ("tensorflow", "jax", "torch"):
        if name not in sys.modules and not _installed(name):
            missing.append(name)
            continue
        try:
            if name == "tensorflow":
                try:
                    # Quietly, the way the plugin imports it (needs pytest too).
                    from pytest_cnnperf.backends.imports import import_tensorflow
                except ImportError:
                    module = importlib.import_module(name)
                else:
                    module = import_tensorflow()
            else:
                module = importlib.import_module(name)
        except ImportError:
            missing.append(name)
            continue
        return Backend(name, str(getattr(module, "__version__", "?")), module=module)
    return Backend(None, None, problem=f"none of {', '.join(missing)} is installed")


def without_tensorflow(backend: Backend) -> str:
    """The reason a TensorFlow check cannot run under another backend."""
    return (
        f"needs TensorFlow, which is not installed (backend here: {backend.name} "
        f"{backend.version}); pytest-cnnperf trains with TensorFlow"
    )


# --------------------------------------------------------------------------- devices


def find_gpus(backend: Backend) -> tuple[list[str], str | None]:
    """The GPUs the backend lists, by name, or why there are none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    cuda_text = "unset" if visible is None else repr(visible)
    if backend.name is None:
        return [], f"no framework to ask: {backend.problem}"
    module = backend.module
    if backend.name == "tensorflow":
        gpus = module.config.list_physical_devices("GPU")
        if not gpus:
            built = "with" if module.test.is_built_with_cuda() else "without"
            return [], (
                f"TensorFlow {backend.version} lists no GPU (built {built} CUDA; "
                f"CUDA_VISIBLE_DEVICES is {cuda_text})"
            )
        # Names only: asking for device details could start TensorFlow's runtime,
        # and this process must hold no GPU context while the sessions are timed.
        return [gpu.name for gpu in gpus], None
    if backend.name == "jax":
        gpus = [d for d in module.devices() if getattr(d, "platform", "") == "gpu"]
        if not gpus:
            return [], f"JAX {backend.version} lists no GPU (CUDA_VISIBLE_DEVICES is {cuda_text})"
        return [str(d) for d in gpus], None
    if not module.cuda.is_available():
        return [], (
            f"PyTorch {backend.version} lists no GPU (torch.cuda.is_available() is False; "
            f"CUDA_VISIBLE_DEVICES is {cuda_text})"
        )
    return [module.cuda.get_device_name(i) for i in range(module.cuda.device_count())], None


# --------------------------------------------------------------------------- sessions

#: The sessions' test: one zoo model on synthetic images (no files, no network).
TEST_TEMPLATE = textwrap.dedent(
    """
    import pytest_cnnperf


    @pytest_cnnperf.model({model!r})
    @pytest_cnnperf.dataset(
        "synthetic",
        train_size={train_size},
        test_size={test_size},
        input_shape={input_shape!r},
        num_classes=10,
    )
    def test_{model}(cnnperf, cnnperf_model, cnnperf_dataset):
        cnnperf.train(cnnperf_model, cnnperf_dataset, epochs={epochs}, batch_size={batch_size})
    """
)
TEST_FILE = TEST_TEMPLATE.format(
    model="resnet20_v1",
    train_size=8192,
    test_size=1024,
    input_shape=(32, 32, 3),
    epochs=1,
    batch_size=256,
)
#: How the sessions run on the GPU: synthetic data needs --cnnperf-data=auto
#: there (the GPU profile asks for real files by default), a verdict other than
#: 'unstable' needs three runs a side (docs/baselines.md), and no confirmation
#: run, so that a regression cannot double the second session's time.
GPU_OPTIONS = (
    "--cnnperf-gpu",
    "--cnnperf-data=auto",
    "--cnnperf-repeats=3",
    "--cnnperf-confirm=off",
)


def _plugin_arguments() -> list[str]:
    """``-p pytest_cnnperf.plugin`` when the package is not installed (a checkout)."""
    from importlib import metadata

    installed = any(e.name == "cnnperf" for e in metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "pytest_cnnperf.plugin"]


def run_session(
    project: Path, name: str, *extra: str, options: tuple[str, ...] = GPU_OPTIONS
) -> tuple[dict[str, Any] | None, str]:
    """One pytest session in ``project``; its results document and its output's tail."""
    out = project / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "test_gpu_check.py",
        "-q",
        "-p",
        "no:cacheprovider",
        *_plugin_arguments(),
        *options,
        f"--cnnperf-json={out}",
        f"--cnnperf-baseline-dir={project / 'baselines'}",
        *extra,
    ]
    path = [str(REPO_ROOT), str(project), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    try:
        done = subprocess.run(
            command,
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=SESSION_TIMEOUT_SECONDS,
        )
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        return None, f"timed out after {exc.timeout:.0f} s"
    document = json.loads(out.read_text()) if out.exists() else None
    return document, "\n".join(output.strip().splitlines()[-15:])


def _first_run(document: dict[str, Any] | None) -> dict[str, Any] | None:
    tests = (document or {}).get("tests") or []
    runs = tests[0].get("runs") if tests else None
    return runs[-1] if runs else None


def check_sessions(
    project: Path, *, test_file: str = TEST_FILE, options: tuple[str, ...] = GPU_OPTIONS
) -> tuple[Check, dict[str, Any] | None]:
    """Accept, then judge an identical session against it: ``pass`` expected."""
    (project / "test_gpu_check.py").write_text(test_file)
    (project / "pytest.ini").write_text("[pytest]\n")
    started = time.perf_counter()
    first, first_tail = run_session(
        project, "accept", "--cnnperf-update-baselines", options=options
    )
    if first is None or not first.get("tests"):
        return Check(
            "sessions", "fail", f"the accepting session wrote no results: {first_tail}"
        ), None
    second, second_tail = run_session(project, "compare", options=options)
    if second is None or not second.get("tests"):
        return Check(
            "sessions", "fail", f"the judged session wrote no results: {second_tail}"
        ), first
    test = second["tests"][0]
    verdict = test.get("verdict")
    step = (test.get("comparison") or {}).get("metrics", {}).get("step_time", {})
    figures = {"verdict": verdict, "step_time_change": step.get("change")}
    detail = f"second session judged {verdict!r} against the first"
    if step:
        detail += f" (step_time {step.get('change', float('nan')):.3f}x the baseline)"
    if verdict != "pass":
        detail += f"; message: {test.get('message') or test.get('failure') or second_tail}"
    check = Check(
        "sessions",
        "pass" if verdict == "pass" else "fail",
        detail,
        seconds=time.perf_counter() - started,
        figures=figures,
    )
    return check, second


def check_telemetry(document: dict[str, Any] | None) -> Check:
    run = _first_run(document)
    if run is None:
        return Check("telemetry", "fail", "no training run was recorded")
    data = run.get("telemetry")
    if data is None:
        return Check("telemetry", "fail", "the run carries no telemetry block")
    if data.get("error"):
        return Check("telemetry", "fail", data["error"])
    gpus = data.get("gpus") or []
    if not gpus or not all(g.get("samples", 0) > 0 for g in gpus):
        return Check("telemetry", "fail", f"no samples during the timed windows: {gpus}")
    gpu = gpus[0]
    recorded = (run.get("precision"), run.get("tf32"), run.get("jit_compile"))
    figures = {k: gpu.get(k) for k in gpu if k not in ("throttle_shares", "unsupported")}
    detail = (
        f"{gpu['samples']} samples on {gpu['name']} at PCI {gpu['pci_bus_id']}: utilization "
        f"{_num(gpu.get('utilization_mean_percent'))}% mean, memory "
        f"{_num((gpu.get('memory_used_peak_bytes') or 0) / 2**30)} GiB peak, power "
        f"{_num(gpu.get('power_mean_watts'))} W mean, SM clock "
        f"{_num(gpu.get('sm_clock_mean_mhz'))} MHz mean, "
        f"{_num(gpu.get('temperature_peak_celsius'))} C peak; throttle "
        f"{gpu.get('throttle_shares') or 'none'}; not reported: "
        f"{', '.join(gpu.get('unsupported') or []) or 'nothing'}; recorded precision, tf32, "
        f"jit_compile: {recorded}"
    )
    ok = recorded[0] == "float32" and recorded[1] is False
    if not ok:
        detail += "; expected float32 with TF32 off to be recorded"
    return Check("telemetry", "pass" if ok else "fail", detail, figures=figures)


def check_layers(document: dict[str, Any] | None) -> Check:
    run = _first_run(document)
    layers = (run or {}).get("layers")
    if not layers:
        return Check("layers", "fail", "the run carries no per-layer profile")
    coverage = layers.get("coverage")
    source = layers.get("source")
    steps = layers.get("steps", 0)
    figures = {"coverage": coverage, "source": source, "steps": steps}
    if not steps:
        return Check("layers", "fail", f"nothing profiled: {layers.get('notes')}", figures=figures)
    detail = (
        f"{steps} profiled steps attributed from {source} events to "
        f"{len(layers.get('layers', []))} layers; coverage {_num(coverage)} of each step "
        f"(median; at least {MIN_COVERAGE} required)"
    )
    ok = source == "device" and coverage is not None and coverage >= MIN_COVERAGE
    return Check("layers", "pass" if ok else "fail", detail, figures=figures)


# --------------------------------------------------------------------------- in-process checks


def check_nvml_match(tf: Any) -> Check:
    from pytest_cnnperf import telemetry
    from pytest_cnnperf.backends import tensorflow as tf_backend

    try:
        descriptions = tf_backend.device_descriptions(tf)
        bus_ids = tf_backend.tensorflow_pci_bus_ids(descriptions)
        nvml = telemetry.load_nvml()
        listed = telemetry.nvml_devices(nvml)
        matched = telemetry.match_devices(list(bus_ids.values()), listed)
    except telemetry.NvmlUnavailable as exc:
        return Check("nvml_match", "fail", str(exc))
    if len(bus_ids) != len(descriptions):
        return Check(
            "nvml_match", "fail", f"TensorFlow gave no PCI bus id for some of {descriptions}"
        )
    pairs = [
        f"{name} = NVML {device.index} {device.name} at {device.pci_bus_id}"
        for name, device in zip(bus_ids, matched, strict=True)
    ]
    return Check(
        "nvml_match",
        "pass",
        "; ".join(pairs),
        figures={name: device.pci_bus_id for name, device in zip(bus_ids, matched, strict=True)},
    )


def _device_span_seconds(space: Any) -> float | None:
    """First kernel start to last kernel end on GPU 0's plane of an ``XSpace``."""
    from pytest_cnnperf import profiling

    starts, ends = [], []
    for plane in space.planes:
        if plane.name != f"{profiling.DEVICE_PLANE_PREFIX}0":
            continue
        for line in plane.lines:
            base = int(line.timestamp_ns) * 1000
            for event in line.events:
                starts.append(base + event.offset_ps)
                ends.append(base + event.offset_ps + event.duration_ps)
    if not starts:
        return None
    return float(max(ends) - min(starts)) / 1e12


def check_timing_sync(tf: Any) -> Check:
    from pytest_cnnperf.backends import tensorflow as tf_backend
    from pytest_cnnperf.backends import tensorflow_layers

    # About 0.3 ms a product with TF32 (TensorFlow's default on Ampere and newer),
    # 2 ms without: a window of tens of ms, far above launch and sync costs.
    size, chain, calls = 4096, 16, 8
    with tf.device("/GPU:0"):
        a = tf.random.stateless_normal((size, size), seed=(1, 2)) / math.sqrt(size)

        @tf.function  # type: ignore[untyped-decorator]
        def work(x: Any) -> Any:
            for _ in range(chain):
                x = tf.matmul(x, a)
            return x

        work(a)  # traced and warmed up, outside every window
        tf_backend.synchronize(tf)
        started = time.perf_counter()
        for _ in range(calls):
            out = work(a)
        unsynced = time.perf_counter() - started
        tf_backend.synchronize(tf)
        plain = time.perf_counter() - started
        logdir = tempfile.mkdtemp(prefix="cnnperf-gpu-check-")
        with tensorflow_layers.profiler(tf, logdir, gpu=True):
            tf_backend.synchronize(tf)
            started = time.perf_counter()
            for _ in range(calls):
                out = work(a)
            tf_backend.synchronize(tf)
            window = time.perf_counter() - started
    del out
    span = _device_span_seconds(tensorflow_layers.read_space(logdir))
    if span is None:
        return Check("timing_sync", "fail", "the profiler recorded no kernel on GPU 0")
    share = span / window
    figures = {
        "window_seconds": window,
        "device_span_seconds": span,
        "share": share,
        "unsynchronized_seconds": unsynced,
        "synchronized_seconds": plain,
    }
    detail = (
        f"synchronized window {window * 1000:.2f} ms under the profiler, device kernels "
        f"{span * 1000:.2f} ms from first start to last end ({share:.1%}; at least "
        f"{MIN_DEVICE_SHARE:.0%} and at most 102% required); the same work unprofiled: "
        f"{plain * 1000:.2f} ms synchronized, {unsynced * 1000:.2f} ms read before the sync"
    )
    ok = MIN_DEVICE_SHARE <= share <= 1.02
    return Check("timing_sync", "pass" if ok else "fail", detail, figures=figures)


def _median_seconds(tf: Any, run: Callable[[], Any], repeats: int = 7) -> float:
    from pytest_cnnperf.backends import tensorflow as tf_backend

    times = []
    for _ in range(repeats):
        tf_backend.synchronize(tf)
        started = time.perf_counter()
        run()
        tf_backend.synchronize(tf)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def _capability(tf: Any) -> tuple[int, int] | None:
    gpu = tf.config.list_physical_devices("GPU")[0]
    found = tf.config.experimental.get_device_details(gpu).get("compute_capability")
    return None if found is None else (int(found[0]), int(found[1]))


def check_tf32(tf: Any) -> Check:
    import numpy as np

    capability = _capability(tf)
    if capability is not None and capability < (8, 0):
        return Check(
            "tf32",
            "skipped",
            f"compute capability {capability[0]}.{capability[1]} has no TF32 (Ampere, 8.0, "
            "and newer do): float32 is float32 here whatever the setting",
        )
    rng = np.random.default_rng(0)
    a64 = rng.standard_normal((2048, 2048))
    b64 = rng.standard_normal((2048, 2048))
    reference = a64 @ b64
    errors, speeds = {}, {}
    big = 8192
    for tf32 in (False, True):
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
        with tf.device("/GPU:0"):
            product = tf.matmul(tf.constant(a64, tf.float32), tf.constant(b64, tf.float32))
            errors[tf32] = float(
                np.linalg.norm(product.numpy().astype(np.float64) - reference)
                / np.linalg.norm(reference)
            )
            x = tf.random.stateless_normal((big, big), seed=(3, 4))
            tf.matmul(x, x)  # warmed up
            speeds[tf32] = _median_seconds(tf, partial(tf.matmul, x, x))
    tf.config.experimental.enable_tensor_float_32_execution(False)
    ratio = speeds[False] / speeds[True]
    figures = {
        "float32_error": errors[False],
        "tf32_error": errors[True],
        "float32_seconds": speeds[False],
        "tf32_seconds": speeds[True],
        "speedup": ratio,
    }
    detail = (
        f"relative error against float64: {errors[False]:.2e} with TF32 off (at most "
        f"{MAX_FLOAT32_ERROR:.0e} required), {errors[True]:.2e} with it on; an {big}x{big} "
        f"product takes {speeds[False] * 1000:.2f} ms off, {speeds[True] * 1000:.2f} ms on "
        f"({ratio:.2f}x)"
    )
    ok = errors[False] <= MAX_FLOAT32_ERROR and errors[True] >= 10 * errors[False]
    return Check("tf32", "pass" if ok else "fail", detail, figures=figures)


def check_mixed_precision(tf: Any) -> Check:
    from pytest_cnnperf.backends.imports import import_keras

    keras = import_keras()
    capability = _capability(tf)
    policies = ["mixed_float16"]
    if capability is None or capability >= (8, 0):
        policies.append("mixed_bfloat16")
    found: dict[str, Any] = {}
    problems = []
    try:
        for policy in ("float32", *policies):
            keras.mixed_precision.set_global_policy(policy)
            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.Input((32, 32, 64)),
                    keras.layers.Conv2D(128, 3, padding="same", name="conv"),
                    keras.layers.GlobalAveragePooling2D(name="pool"),
                    # The head in float32, as Keras' guide says for mixed precision.
                    keras.layers.Dense(10, dtype="float32", name="head"),
                ]
            )
            model.compile(
                optimizer="sgd",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=False,
            )
            x = tf.random.stateless_normal((256, 32, 32, 64), seed=(5, 6))
            y = tf.zeros((256,), tf.int32)
            with tf.device("/GPU:0"):
                model.train_on_batch(x, y)  # traced
                seconds = _median_seconds(tf, partial(model.train_on_batch, x, y))
                loss = float(model.train_on_batch(x, y))
            conv = model.get_layer("conv")
            found[policy] = {
                "compute_dtype": conv.compute_dtype,
                "variable_dtype": conv.variable_dtype,
                "loss": loss,
                "step_seconds": seconds,
            }
            half = policy.removeprefix("mixed_")
            if policy != "float32" and (
                conv.compute_dtype != half or conv.variable_dtype != "float32"
            ):
                problems.append(
                    f"{policy}: conv computes in {conv.compute_dtype} with "
                    f"{conv.variable_dtype} variables"
                )
            if not math.isfinite(loss):
                problems.append(f"{policy}: loss {loss}")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    base = found["float32"]["step_seconds"]
    parts = [
        f"{p}: {f['compute_dtype']} compute, {f['variable_dtype']} variables, step "
        f"{f['step_seconds'] * 1000:.2f} ms ({base / f['step_seconds']:.2f}x float32)"
        for p, f in found.items()
        if p != "float32"
    ]
    if capability is not None and capability < (8, 0):
        parts.append(
            f"mixed_bfloat16 not tried: compute capability {capability[0]}.{capability[1]}"
        )
    detail = "; ".join(parts + problems)
    return Check("mixed_precision", "fail" if problems else "pass", detail, figures=found)


# --------------------------------------------------------------------------- the command


def _num(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "-"


def _timed(run: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        check = run()
    except Exception as exc:  # a check that crashed is a failed check, said in words
        name = getattr(run, "check_name", "check")
        check = Check(name, "fail", f"raised {type(exc).__name__}: {exc}")
    check.seconds = check.seconds or time.perf_counter() - started
    return check


def _named(name: str, run: Callable[[], Check]) -> Callable[[], Check]:
    run.check_name = name  # type: ignore[attr-defined]
    return run


def run_checks(backend: Backend, keep: Path | None) -> tuple[list[Check], list[str], str | None]:
    """Every check, in order; the GPUs found; why none was, if none was."""
    gpus, problem = find_gpus(backend)
    if problem is not None:
        reason = f"no GPU found: {problem}"
        return [Check(name, "skipped", reason, backend.name) for name in CHECKS], [], problem
    checks = [Check("devices", "pass", "; ".join(gpus), backend.name)]
    if backend.name != "tensorflow":
        reason = without_tensorflow(backend)
        checks += [Check(name, "skipped", reason, backend.name) for name in CHECKS[1:]]
        return checks, gpus, None
    tf = backend.module
    project = keep or Path(tempfile.mkdtemp(prefix="cnnperf-gpu-check-"))
    project.mkdir(parents=True, exist_ok=True)
    sessions = _timed(_named("sessions", lambda: check_sessions(project)[0]))
    checks.append(sessions)
    # The judged session's run, else the accepting one's: both trained for real.
    written = [project / "compare.json", project / "accept.json"]
    judged = next((json.loads(p.read_text()) for p in written if p.exists()), None)
    checks.append(_timed(_named("telemetry", lambda: check_telemetry(judged))))
    checks.append(_timed(_named("layers", lambda: check_layers(judged))))
    # From here on this process holds GPU contexts: after the timed sessions.
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    checks.append(_timed(_named("nvml_match", lambda: check_nvml_match(tf))))
    checks.append(_timed(_named("timing_sync", lambda: check_timing_sync(tf))))
    checks.append(_timed(_named("tf32", lambda: check_tf32(tf))))
    checks.append(_timed(_named("mixed_precision", lambda: check_mixed_precision(tf))))
    for check in checks:
        check.backend = check.backend or backend.name
    return checks, gpus, None


def table(checks: list[Check]) -> str:
    """The checks as a plain-text table: name, status, seconds, what was found."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  {'status':<7}  {'seconds':>7}  detail"]
    for check in checks:
        lines.append(
            f"{check.name:<{width}}  {check.status:<7}  {check.seconds:>7.1f}  {check.detail}"
        )
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Indented, key-sorted, written atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="results JSON")
    parser.add_argument(
        "--keep", type=Path, default=None, help="run the sessions in DIR and keep their files"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    backend = find_backend()
    checks, gpus, problem = run_checks(backend, args.keep)
    if problem is not None:
        print(f"no GPU found: {problem}")
    print(f"backend: {backend.name or 'none'} {backend.version or ''}".rstrip())
    print(table(checks))
    failed = [c.name for c in checks if c.status == "fail"]
    document = {
        "schema_version": SCHEMA_VERSION,
        "backend": {"name": backend.name, "version": backend.version, "problem": backend.problem},
        "gpus": gpus,
        "no_gpu": problem,
        "python": platform.python_version(),
        "seconds": time.perf_counter() - started,
        "checks": [asdict(c) for c in checks],
        "failed": failed,
    }
    write_json(args.out, document)
    print(f"wrote {args.out}")
    if problem is not None:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
