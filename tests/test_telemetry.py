"""GPU telemetry: the sampler, device matching, verdicts and NVML failures, on a fake pynvml.

The fake (``tests/fake_nvml.py``) stands in at the ``pynvml`` module boundary
only; everything from ``pytest_cnnperf.telemetry`` down is the real code.
Pure unit tests: no TensorFlow.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest
from fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    FakeGpu,
    NVMLError,
    make_fake_nvml,
)

from pytest_cnnperf import telemetry
from pytest_cnnperf.backends import tensorflow as tf_backend
from pytest_cnnperf.baselines.compare import Comparison, MetricComparison, discount_disturbed
from pytest_cnnperf.baselines.model import Verdict
from pytest_cnnperf.baselines.tolerances import MetricTolerance
from pytest_cnnperf.metrics import ACCURACY, GPU_MEMORY_PEAK, GPU_UTILIZATION, STEP_TIME
from pytest_cnnperf.timing import EpochRecorder


@pytest.fixture(autouse=True)
def fresh_nvml() -> Iterator[None]:
    """Each test opens NVML anew (the process keeps one otherwise)."""
    telemetry.reset_nvml()
    yield
    telemetry.reset_nvml()


def _sampler(gpus: list[FakeGpu], bus_ids: list[str] | None = None) -> telemetry.Sampler:
    fake = make_fake_nvml(gpus)
    fake.nvmlInit()  # type: ignore[attr-defined]
    listed = telemetry.nvml_devices(fake)
    wanted = bus_ids or [d.pci_bus_id for d in listed]
    return telemetry.Sampler(fake, telemetry.match_devices(wanted, listed))


# -- PCI bus ids -----------------------------------------------------------------


def test_pci_bus_ids_of_nvml_and_tensorflow_are_normalized_alike() -> None:
    assert telemetry.normalize_pci_bus_id(b"00000000:3B:00.0") == "0000:3b:00.0"
    assert telemetry.normalize_pci_bus_id("0000:3b:00.0") == "0000:3b:00.0"
    assert telemetry.normalize_pci_bus_id("3b:00.0") == "0000:3b:00.0"


def test_a_malformed_pci_bus_id_is_refused_in_keras_form() -> None:
    with pytest.raises(ValueError) as raised:
        telemetry.normalize_pci_bus_id("GPU-0")
    assert str(raised.value) == (
        "Expected a PCI bus id such as '0000:3b:00.0'. Received: bus_id='GPU-0'"
    )


def test_tensorflow_descriptions_give_bus_ids_by_device_name() -> None:
    found = tf_backend.tensorflow_pci_bus_ids(
        {
            "/device:GPU:0": "device: 0, name: NVIDIA A100-SXM4-40GB, pci bus id: "
            "0000:B7:00.0, compute capability: 8.0",
            "/device:GPU:1": "no bus id here",
        }
    )
    assert found == {"/device:GPU:0": "0000:b7:00.0"}


def test_devices_are_matched_by_bus_id_not_by_index() -> None:
    # NVML lists GPUs in PCI order; CUDA_VISIBLE_DEVICES=1 makes NVML's second
    # GPU TensorFlow's GPU:0. The sampler must watch NVML's index 1.
    sampler_gpus = [
        FakeGpu(name="first", bus_id="00000000:07:00.0"),
        FakeGpu(name="second", bus_id="00000000:0F:00.0"),
    ]
    fake = make_fake_nvml(sampler_gpus)
    fake.nvmlInit()  # type: ignore[attr-defined]
    matched = telemetry.match_devices(["0000:0f:00.0"], telemetry.nvml_devices(fake))
    assert [(d.index, d.name) for d in matched] == [(1, "second")]


def test_a_bus_id_nvml_does_not_list_is_one_clear_message() -> None:
    fake = make_fake_nvml([FakeGpu(bus_id="00000000:07:00.0")])
    fake.nvmlInit()  # type: ignore[attr-defined]
    with pytest.raises(telemetry.NvmlUnavailable) as raised:
        telemetry.match_devices(["0000:0f:00.0"], telemetry.nvml_devices(fake))
    assert str(raised.value) == (
        "GPU telemetry is off: TensorFlow trains on the GPU at PCI bus 0000:0f:00.0, "
        "which NVML does not list (NVML lists 0000:07:00.0)."
    )


# -- sampling and summaries ----------------------------------------------------------


def test_samples_are_summarized_as_mean_and_peak_in_named_units() -> None:
    gpu = FakeGpu(
        utilization=[90, 100],
        memory_used=[2 * 2**30, 3 * 2**30],
        power_milliwatts=[200_000, 300_000],
        sm_clock_mhz=[1400, 1410],
        memory_clock_mhz=[1215],
        temperature_c=[60, 66],
    )
    sampler = _sampler([gpu])
    assert sampler.sample() and sampler.sample()
    summary = sampler.summary()
    assert summary.error is None
    (only,) = summary.gpus
    assert only.samples == 2
    assert only.utilization_mean_percent == 95 and only.utilization_peak_percent == 100
    assert only.memory_used_peak_bytes == 3 * 2**30
    assert only.power_mean_watts == 250.0 and only.power_peak_watts == 300.0
    assert only.sm_clock_mean_mhz == 1405 and only.memory_clock_peak_mhz == 1215
    assert only.temperature_peak_celsius == 66
    assert only.pci_bus_id == "0000:07:00.0" and only.disturbances() == []


def test_a_quiet_well_fed_gpu_is_no_disturbance() -> None:
    # Idle (0x1) and sync boost (0x10) are clocks-event reasons but not throttling.
    sampler = _sampler([FakeGpu(reasons=[0x1, 0x10], processes=[os.getpid()])])
    for _ in range(4):
        sampler.sample()
    assert sampler.summary().disturbances() == []


def test_thermal_throttling_is_a_disturbance_with_its_share() -> None:
    sampler = _sampler([FakeGpu(name="NVIDIA L4", reasons=[0, 0, 0x40, 0x40 | 0x4])])
    for _ in range(4):
        sampler.sample()
    assert sampler.summary().disturbances() == [
        "clocks throttled on the NVIDIA L4 at PCI 0000:07:00.0: power cap (software) in 25% "
        "of samples, thermal slowdown (hardware) in 50% of samples"
    ]


def test_another_process_on_the_gpu_is_a_disturbance_and_ours_is_not() -> None:
    sampler = _sampler([FakeGpu(name="NVIDIA L4", processes=[os.getpid(), 4242])])
    sampler.sample()
    assert sampler.summary().disturbances() == [
        "another process used the NVIDIA L4 at PCI 0000:07:00.0 (pid 4242)"
    ]


def test_in_a_container_one_foreign_pid_is_this_process() -> None:
    # NVML lists host process ids, none of them ours: one process is this one.
    alone = _sampler([FakeGpu(name="NVIDIA L4", processes=[91234])])
    alone.sample()
    assert alone.summary().disturbances() == []
    shared = _sampler([FakeGpu(name="NVIDIA L4", processes=[91234, 91300])])
    shared.sample()
    assert shared.summary().disturbances() == [
        "another process used the NVIDIA L4 at PCI 0000:07:00.0: NVML listed processes "
        "91234, 91300 at once, ids of another PID namespace (a container), so one is this "
        "process and the others are not"
    ]


def test_low_utilization_is_a_starved_gpu() -> None:
    sampler = _sampler([FakeGpu(name="NVIDIA L4", utilization=[20, 30])])
    sampler.sample()
    sampler.sample()
    assert sampler.summary().disturbances() == [
        "the NVIDIA L4 at PCI 0000:07:00.0 was busy 25% of the time on average "
        "(below 50%): starved for input"
    ]


def test_a_figure_the_gpu_does_not_report_is_left_out_not_an_error() -> None:
    gpu = FakeGpu(fails={"nvmlDeviceGetPowerUsage": NVML_ERROR_NOT_SUPPORTED})
    sampler = _sampler([gpu])
    sampler.sample()
    sampler.sample()
    summary = sampler.summary()
    assert summary.error is None
    assert summary.gpus[0].power_mean_watts is None
    assert summary.gpus[0].unsupported == ("power",)
    assert summary.gpus[0].utilization_mean_percent == 95
    # Asked once, then no more: NOT_SUPPORTED does not change during a run.
    assert gpu.reads.get("nvmlDeviceGetPowerUsage", 0) == 0


def test_a_driver_older_than_the_binding_leaves_figures_out_not_an_error() -> None:
    # Before driver 535 the clocks-event reasons and the v3 process list are
    # missing functions: the older name of the reasons is used, processes are left out.
    gpu = FakeGpu(
        fails={
            "nvmlDeviceGetCurrentClocksEventReasons": NVML_ERROR_FUNCTION_NOT_FOUND,
            "nvmlDeviceGetComputeRunningProcesses": NVML_ERROR_FUNCTION_NOT_FOUND,
        }
    )
    fake = make_fake_nvml([gpu])
    fake.nvmlDeviceGetCurrentClocksThrottleReasons = (  # type: ignore[attr-defined]
        lambda handle: 0x40
    )
    fake.nvmlInit()  # type: ignore[attr-defined]
    sampler = telemetry.Sampler(fake, telemetry.nvml_devices(fake))
    assert sampler.sample()
    summary = sampler.summary()
    assert summary.error is None
    assert summary.gpus[0].throttle_shares == {"thermal slowdown (hardware)": 1.0}
    assert summary.gpus[0].unsupported == ("processes",)


def test_a_gpu_lost_while_sampling_ends_the_sampling_with_its_message() -> None:
    gpu = FakeGpu()
    sampler = _sampler([gpu])
    assert sampler.sample()
    gpu.fails["nvmlDeviceGetUtilizationRates"] = NVML_ERROR_GPU_IS_LOST
    assert sampler.sample() is False
    summary = sampler.summary()
    assert summary.gpus[0].samples == 1
    assert summary.error == (
        "GPU telemetry is off: a GPU stopped answering (NVML error 15, GPU is lost); "
        "check dmesg for Xid errors."
    )


def test_older_bindings_name_the_reasons_throttle_reasons() -> None:
    fake = make_fake_nvml([FakeGpu()])
    fake.nvmlDeviceGetCurrentClocksThrottleReasons = (  # type: ignore[attr-defined]
        lambda handle: 0x20
    )
    del fake.nvmlDeviceGetCurrentClocksEventReasons  # type: ignore[attr-defined]
    fake.nvmlInit()  # type: ignore[attr-defined]
    sampler = telemetry.Sampler(fake, telemetry.nvml_devices(fake))
    sampler.sample()
    assert sampler.summary().gpus[0].throttle_shares == {"thermal slowdown (software)": 1.0}


def test_the_thread_samples_only_while_a_window_is_open() -> None:
    gpu = FakeGpu()
    fake = make_fake_nvml([gpu])
    fake.nvmlInit()  # type: ignore[attr-defined]
    sampler = telemetry.Sampler(fake, telemetry.nvml_devices(fake), interval_seconds=0.001)
    sampler.start()
    # Started paused: nothing sampled before a window.
    assert "nvmlDeviceGetUtilizationRates" not in gpu.reads
    sampler.resume()
    done = threading.Event()
    for _ in range(2000):
        if gpu.reads.get("nvmlDeviceGetUtilizationRates", 0) >= 3:
            done.set()
            break
        done.wait(0.005)
    sampler.pause()
    result = sampler.stop()
    assert done.is_set()
    assert result.gpus[0].samples >= 2 and result.error is None


def test_a_bad_interval_is_refused_in_keras_form() -> None:
    with pytest.raises(ValueError) as raised:
        telemetry.Sampler(make_fake_nvml([]), [], interval_seconds=0)
    assert str(raised.value) == (
        "Expected interval_seconds to be a number above 0. Received: interval_seconds=0"
    )


# -- the timer drives the sampler, outside its clock reads ---------------------------


class _Watcher:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def resume(self) -> None:
        self.log.append("resume")

    def pause(self) -> None:
        self.log.append("pause")


def test_the_timer_resumes_before_and_pauses_after_its_clock_reads() -> None:
    log: list[str] = []

    def clock() -> float:
        log.append("clock")
        return 0.0

    recorder = EpochRecorder(
        lambda: log.append("sync"), clock=clock, watcher=_Watcher(log), watch_from=1
    )
    recorder.begin_epoch(0)  # warm-up: not watched
    recorder.end_epoch(0, {})
    assert log == ["sync", "clock", "sync", "clock", "pause"]
    log.clear()
    recorder.begin_epoch(1)
    recorder.end_epoch(1, {})
    assert log == ["resume", "sync", "clock", "sync", "clock", "pause"]


# -- NVML missing or failing: one message per cause -----------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            NVML_ERROR_LIBRARY_NOT_FOUND,
            "GPU telemetry is off: NVML's library libnvidia-ml.so.1 was not found (NVML "
            "error 12, NVML Shared Library Not Found); install the NVIDIA driver, or run "
            "the container with the NVIDIA container toolkit (docker run --gpus all).",
        ),
        (
            NVML_ERROR_DRIVER_NOT_LOADED,
            "GPU telemetry is off: the NVIDIA driver is not loaded (NVML error 9, Driver "
            "Not Loaded); check that nvidia-smi lists the GPUs.",
        ),
        (
            NVML_ERROR_NO_PERMISSION,
            "GPU telemetry is off: this user may not query the GPUs (NVML error 4, "
            "Insufficient Permissions); ask for access to /dev/nvidia* or run where "
            "nvidia-smi works for this user.",
        ),
        (
            18,
            "GPU telemetry is off: the NVML library and the loaded driver are different "
            "versions (NVML error 18, RM has detected an NVML/RM version mismatch.); reboot "
            "after a driver upgrade.",
        ),
        (
            13,
            "GPU telemetry is off: the driver is older than the NVML functions pytest-cnnperf "
            "calls (NVML error 13, Function Not Found); upgrade the NVIDIA driver.",
        ),
        (999, "GPU telemetry is off: NVML failed (NVML error 999, Unknown Error)."),
    ],
)
def test_nvml_failing_to_start_is_one_message_never_a_crash(
    monkeypatch: pytest.MonkeyPatch, code: int, message: str
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_nvml([], init_error=code))
    result = telemetry.open_sampler(["0000:07:00.0"])
    assert isinstance(result, telemetry.RunTelemetry)
    assert result.error == message and result.gpus == ()


def test_pynvml_missing_is_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    result = telemetry.open_sampler(["0000:07:00.0"])
    assert isinstance(result, telemetry.RunTelemetry)
    assert result.error == (
        "GPU telemetry is off: pynvml is not installed; pip install 'pytest-cnnperf[gpu]' "
        "installs it (nvidia-ml-py)."
    )


def test_nvml_is_opened_once_per_process_even_when_it_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = make_fake_nvml([], init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    first = telemetry.open_sampler(["0000:07:00.0"])
    second = telemetry.open_sampler(["0000:07:00.0"])
    assert isinstance(first, telemetry.RunTelemetry) and isinstance(second, telemetry.RunTelemetry)
    assert first.error == second.error
    assert fake.state["inits"] == 1  # type: ignore[attr-defined]


def test_the_real_pynvml_on_a_machine_without_a_driver_says_so() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        assert telemetry.nvml_problem(exc).startswith("GPU telemetry is off: ")
        assert f"NVML error {exc.value}" in telemetry.nvml_problem(exc)
    else:  # pragma: no cover - a machine with a GPU driver
        pynvml.nvmlShutdown()
        pytest.skip("NVML works on this machine")


def test_open_sampler_matches_and_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        sys.modules,
        "pynvml",
        make_fake_nvml([FakeGpu(bus_id="00000000:07:00.0"), FakeGpu(bus_id="00000000:0f:00.0")]),
    )
    sampler = telemetry.open_sampler(["0000:0f:00.0"])
    assert isinstance(sampler, telemetry.Sampler)
    sampler.sample()
    assert [g.pci_bus_id for g in sampler.summary().gpus] == ["0000:0f:00.0"]


def test_errors_and_disturbances_of_several_runs_are_said_once() -> None:
    off = telemetry.RunTelemetry(error="GPU telemetry is off: x.")
    assert telemetry.telemetry_errors([off, None, off]) == ("GPU telemetry is off: x.",)
    hot = telemetry.RunTelemetry(
        gpus=(telemetry.GpuTelemetry("0000:07:00.0", "L4", 4, throttle_shares={"t": 0.5}),)
    )
    assert telemetry.disturbances_of([hot, hot]) == (
        "clocks throttled on the L4 at PCI 0000:07:00.0: t in 50% of samples",
    )


# -- plain data and metrics --------------------------------------------------------------


def _telemetry(utilization: float, memory: int) -> telemetry.RunTelemetry:
    return telemetry.RunTelemetry(
        gpus=(
            telemetry.GpuTelemetry(
                "0000:07:00.0",
                "NVIDIA A100-SXM4-40GB",
                10,
                utilization_mean_percent=utilization,
                memory_used_peak_bytes=memory,
                throttle_shares={"power cap (software)": 0.05},
                other_processes=(),
                unsupported=("power",),
            ),
        )
    )


def test_run_telemetry_round_trips_through_plain_data() -> None:
    original = _telemetry(88.0, 3 * 2**30)
    assert telemetry.RunTelemetry.from_dict(original.to_dict()) == original


def test_telemetry_reaches_the_outcome_and_its_metrics() -> None:
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult

    run = TrainResult(
        model="m",
        dataset="d",
        data_source="synthetic",
        params=1,
        batch_size=8,
        epochs=(),
        accuracy=None,
        test_images=0,
        device="/device:GPU:0",
        telemetry=_telemetry(88.0, 3 * 2**30),
    )
    outcome = TestOutcome("t.py::test").with_run(run)
    registry = MetricRegistry()
    again = TestOutcome.from_dict(outcome.to_dict(), registry)
    assert again.runs[0].telemetry == run.telemetry
    samples = again.samples(registry)
    assert samples[GPU_UTILIZATION.name] == (88.0,)
    assert samples[GPU_MEMORY_PEAK.name] == (3.0,)  # GiB
    assert not GPU_UTILIZATION.judged and GPU_UTILIZATION.column == "GPU util"


def test_summary_shows_gpu_columns_only_when_a_test_has_telemetry() -> None:
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.report import summary_table

    registry = MetricRegistry()
    headers = [c.header for c in summary_table([TestOutcome("t.py::cpu")], registry).columns]
    assert "GPU util" not in headers and "step time (kernel units)" in headers


# -- honest verdicts ------------------------------------------------------------------------


def _compared(metric: MetricTolerance, verdict: Verdict) -> MetricComparison:
    return MetricComparison(
        rule=metric,
        verdict=verdict,
        baseline=1.0,
        current=1.5,
        change=1.5,
        interval_low=1.3,
        interval_high=1.7,
        confidence=0.99,
        low_confidence=False,
        baseline_count=3,
        current_count=3,
        current_relative_spread=None,
    )


def test_a_timing_regression_on_a_disturbed_gpu_is_unstable_and_says_why() -> None:
    from pytest_cnnperf.metrics import MetricRegistry

    comparison = Comparison(
        "t.py::test",
        Verdict.REGRESSED,
        metrics=(_compared(MetricTolerance(STEP_TIME, 0.05), Verdict.REGRESSED),),
    )
    reasons = ("another process used the NVIDIA L4 at PCI 0000:07:00.0 (pid 4242)",)
    judged = discount_disturbed(comparison, reasons)
    assert judged.verdict is Verdict.UNSTABLE
    assert judged.metrics[0].reason == (
        "timing not judged: another process used the NVIDIA L4 at PCI 0000:07:00.0 (pid 4242)"
    )
    text = judged.message("baselines/gpu.json", "pytest --accept", MetricRegistry())
    assert text.splitlines()[:2] == [
        "Training performance of t.py::test could not be judged: the GPU was disturbed while "
        "it was measured, so a slower time is no evidence of a regression:",
        "  another process used the NVIDIA L4 at PCI 0000:07:00.0 (pid 4242).",
    ]
    assert text.splitlines()[-1].startswith("To get a verdict, keep other processes off the GPU")
    assert Comparison.from_dict(judged.to_dict(), MetricRegistry()).disturbances == reasons


def test_an_accuracy_regression_stands_on_a_disturbed_gpu() -> None:
    comparison = Comparison(
        "t.py::test",
        Verdict.REGRESSED,
        metrics=(
            _compared(MetricTolerance(STEP_TIME, 0.05), Verdict.PASS),
            _compared(MetricTolerance(ACCURACY, 0.02), Verdict.REGRESSED),
        ),
    )
    judged = discount_disturbed(comparison, ("clocks throttled",))
    assert judged.verdict is Verdict.REGRESSED
    assert judged.disturbances == ("clocks throttled",)


def test_without_disturbances_the_comparison_is_unchanged() -> None:
    comparison = Comparison("t.py::test", Verdict.REGRESSED)
    assert discount_disturbed(comparison, ()) is comparison


def test_nvml_error_raised_by_the_fake_carries_code_and_message() -> None:
    # The boundary the code relies on: .value is NVML's code, str() its text.
    error = NVMLError(NVML_ERROR_NO_PERMISSION)
    assert error.value == 4 and str(error) == "Insufficient Permissions"


# -- the run's wiring: TensorFlow's device -> bus id -> NVML, the fit bracketed ------------


def test_a_tensorflow_device_is_sampled_through_its_bus_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        sys.modules,
        "pynvml",
        make_fake_nvml([FakeGpu(bus_id="00000000:07:00.0"), FakeGpu(bus_id="00000000:0f:00.0")]),
    )
    # What device_lib describes after CUDA_VISIBLE_DEVICES=1: TensorFlow's GPU:0
    # is NVML's second GPU.
    monkeypatch.setitem(
        tf_backend._DESCRIPTIONS,
        "gpus",
        {"/device:GPU:0": "device: 0, name: NVIDIA A100, pci bus id: 0000:0f:00.0"},
    )
    names = ["/job:localhost/replica:0/task:0/device:GPU:0"]
    # The descriptions are already known: no TensorFlow module is needed.
    bus_ids = tf_backend.tensorflow_bus_ids(None, names)  # type: ignore[arg-type]
    sampler = telemetry.sampler_for_devices(bus_ids, names)
    assert isinstance(sampler, telemetry.Sampler)
    sampler.sample()
    assert sampler.summary().gpus[0].pci_bus_id == "0000:0f:00.0"


def test_a_tensorflow_device_without_a_bus_id_is_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(tf_backend._DESCRIPTIONS, "gpus", {})
    bus_ids = tf_backend.tensorflow_bus_ids(None, ["/device:GPU:1"])  # type: ignore[arg-type]
    result = telemetry.sampler_for_devices(bus_ids, ["/device:GPU:1"])
    assert isinstance(result, telemetry.RunTelemetry)
    assert result.error == (
        "GPU telemetry is off: TensorFlow gave no PCI bus id for GPU:1 (its GPUs: none)."
    )


def test_sampling_brackets_a_fit_and_hands_back_the_summary() -> None:
    from pytest_cnnperf import training

    sampler = _sampler([FakeGpu()])
    with training.sampling(sampler) as sampled:
        assert sampled.result is None  # nothing until the block ends
        sampler.resume()
        sampler.sample(only_if_active=True)
        sampler.pause()
    assert sampled.result is not None and sampled.result.gpus[0].samples == 1
    off = telemetry.RunTelemetry(error="GPU telemetry is off: x.")
    with training.sampling(off) as sampled:
        pass
    assert sampled.result is off
    with training.sampling(None) as sampled:
        pass
    assert sampled.result is None


def test_a_sample_taken_as_the_window_closed_is_dropped() -> None:
    sampler = _sampler([FakeGpu()])
    sampler.pause()
    assert sampler.sample(only_if_active=True)
    assert sampler.summary().gpus[0].samples == 0


def test_the_session_says_each_telemetry_problem_once() -> None:
    from pytest_cnnperf.environment import EnvironmentSnapshot
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult
    from pytest_cnnperf.session import CnnperfSession

    problem = telemetry.nvml_problem(NVMLError(NVML_ERROR_DRIVER_NOT_LOADED))
    run = TrainResult(
        model="m",
        dataset="d",
        data_source="synthetic",
        params=1,
        batch_size=8,
        epochs=(),
        accuracy=None,
        test_images=0,
        device="/device:GPU:0",
        telemetry=telemetry.RunTelemetry(error=problem),
    )
    outcomes = tuple(TestOutcome(f"t.py::test_{i}").with_run(run) for i in range(3))
    session = CnnperfSession(None, None)  # type: ignore[arg-type]  # no pytest needed here
    from pytest_cnnperf.baselines import HardwareKey

    session._snapshot = EnvironmentSnapshot(
        HardwareKey("gpu", "unknown GPU", 1, "float32"), {}, nvml_error=problem
    )
    assert session.telemetry_notes(outcomes) == [
        "GPU telemetry is off: the NVIDIA driver is not loaded (NVML error 9, Driver Not "
        "Loaded); check that nvidia-smi lists the GPUs."
    ]


def test_telemetry_metrics_take_no_tolerance() -> None:
    import argparse

    from pytest_cnnperf.baselines.tolerances import Tolerances, known_settings, parse_tolerances
    from pytest_cnnperf.metrics import MetricRegistry

    registry = MetricRegistry()
    assert set(Tolerances.defaults(registry).limits) == {"step_time", "accuracy", "layer_seconds"}
    assert "tolerance_gpu_utilization" not in known_settings(registry)
    assert set(parse_tolerances("20%", registry).limits) == {"step_time", "layer_seconds"}
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse_tolerances("gpu_utilization=5", registry)
    assert str(raised.value) == (
        "expected metric names among step_time, accuracy, layer_seconds, got "
        "'gpu_utilization', which is recorded but never judged (GPU telemetry), so it takes "
        "no tolerance"
    )


def test_a_tensorflow_that_cannot_describe_its_gpus_is_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails(tf: object) -> dict[str, str]:
        raise RuntimeError("device_lib failed")

    monkeypatch.setattr(tf_backend, "device_descriptions", fails)
    monkeypatch.delitem(tf_backend._DESCRIPTIONS, "gpus", raising=False)
    bus_ids = tf_backend.tensorflow_bus_ids(None, ["/device:GPU:0"])  # type: ignore[arg-type]
    result = telemetry.sampler_for_devices(bus_ids, ["/device:GPU:0"])
    assert isinstance(result, telemetry.RunTelemetry)
    assert result.error == (
        "GPU telemetry is off: TensorFlow did not describe its GPUs (device_lib failed)."
    )


def test_telemetry_is_stored_in_the_baseline_and_never_judged(tmp_path: object) -> None:
    from datetime import datetime, timezone
    from pathlib import Path

    from pytest_cnnperf.baselines import Figures, HardwareKey, compare, store
    from pytest_cnnperf.baselines.tolerances import Tolerances
    from pytest_cnnperf.metrics import MetricRegistry

    registry = MetricRegistry()
    key = HardwareKey("gpu", "NVIDIA H200", 1, "float32")
    path = Path(str(tmp_path)) / "gpu.json"

    def figures(utilization: float, memory: float) -> Figures:
        return Figures(
            node_id="t.py::a",
            model="m",
            dataset="d",
            batch_size=8,
            data_source="synthetic",
            samples={
                "accuracy": (0.9,),
                "gpu_utilization": (utilization, utilization + 1),
                "gpu_memory_peak": (memory, memory),
            },
            timing=None,
        )

    accepted = store.Accepted(figures(95.0, 3.0), Tolerances.defaults(registry))
    store.update_baselines(
        path, key, [accepted], registry, reason=None, who="test", now=datetime.now(timezone.utc)
    )
    entry = store.load_baselines(path, key, registry).entries["t.py::a"]
    assert entry.figures.samples["gpu_utilization"] == (95.0, 96.0)
    assert entry.figures.samples["gpu_memory_peak"] == (3.0, 3.0)
    # Half the utilization and four times the memory: recorded, no verdict on them.
    judged = compare(
        figures(40.0, 12.0), entry, Tolerances.defaults(registry), registry, software_now={}
    )
    assert [m.metric.name for m in judged.metrics] == ["accuracy"]
    assert judged.current is not None and judged.current["gpu_utilization"] == 40.5


def test_a_results_file_gives_the_telemetry_and_settings_back(tmp_path: object) -> None:
    from pathlib import Path

    from pytest_cnnperf import jsonreport
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult

    run = TrainResult(
        model="m",
        dataset="d",
        data_source="synthetic",
        params=1,
        batch_size=8,
        epochs=(),
        accuracy=None,
        test_images=0,
        device="/device:GPU:0",
        telemetry=_telemetry(88.0, 3 * 2**30),
        precision="tf32",
        tf32=True,
        jit_compile=False,
        strategy="mirrored",
        devices=("/device:GPU:0", "/device:GPU:1"),
    )
    registry = MetricRegistry()
    outcome = TestOutcome("t.py::test").with_run(run)
    document = jsonreport.document_for([outcome], registry, environment={}, interrupted=False)
    path = Path(str(tmp_path)) / "results.json"
    path.write_text(jsonreport.serialize(document))
    (again,) = jsonreport.load_results(path, registry).outcomes
    assert again.runs[0] == run


def test_a_results_file_with_a_bad_telemetry_block_names_the_field(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from pytest_cnnperf import jsonreport
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult

    run = TrainResult("m", "d", "synthetic", 1, 8, (), None, 0, "/device:GPU:0")
    registry = MetricRegistry()
    document = jsonreport.document_for(
        [TestOutcome("t.py::test").with_run(run)], registry, environment={}, interrupted=False
    )
    document["tests"][0]["runs"][0]["telemetry"] = {"gpus": [{"pci_bus_id": 7}], "error": None}
    path = Path(str(tmp_path)) / "results.json"
    path.write_text(json.dumps(document))
    with pytest.raises(jsonreport.ResultsError) as raised:
        jsonreport.load_results(path, registry)
    assert str(raised.value) == (
        f"Expected tests[0].runs[0].telemetry.gpus[0].pci_bus_id in the results file {path} "
        "to be a string. Received: tests[0].runs[0].telemetry.gpus[0].pci_bus_id=7."
    )


def test_the_session_makes_a_regression_on_a_throttled_gpu_unstable() -> None:
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult
    from pytest_cnnperf.session import CnnperfSession

    hot = telemetry.RunTelemetry(
        gpus=(
            telemetry.GpuTelemetry(
                "0000:07:00.0",
                "NVIDIA L4",
                20,
                utilization_mean_percent=99.0,
                throttle_shares={"thermal slowdown (hardware)": 0.4},
            ),
        )
    )
    run = TrainResult("m", "d", "synthetic", 1, 8, (), None, 0, "/device:GPU:0", telemetry=hot)
    outcome = TestOutcome("t.py::test").with_run(run)
    comparison = Comparison(
        "t.py::test",
        Verdict.REGRESSED,
        metrics=(_compared(MetricTolerance(STEP_TIME, 0.05), Verdict.REGRESSED),),
    )
    session = CnnperfSession(None, None)  # type: ignore[arg-type]  # no pytest needed here
    judged = session._discount_disturbed(outcome, comparison)
    assert judged.verdict is Verdict.UNSTABLE
    assert judged.disturbances == (
        "clocks throttled on the NVIDIA L4 at PCI 0000:07:00.0: thermal slowdown (hardware) "
        "in 40% of samples",
    )
