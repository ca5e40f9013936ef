"""Unit tests of the core modules: no TensorFlow, no pytester."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from legacy_metrics import legacy_registry

from pytest_cnnperf import devices, options
from pytest_cnnperf.baselines import Verdict
from pytest_cnnperf.markers import SettingsError, collect_settings, dataset, model
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.report import render_summary
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult
from pytest_cnnperf.timing import EpochRecorder


def _run(seconds: list[float], warmup: int = 1, model_name: str = "lenet5") -> TrainResult:
    epochs = tuple(
        EpochResult(
            index=i + 1,
            seconds=s,
            steps=10,
            images=1000,
            loss=1.0 / (i + 1),
            metrics={"accuracy": 0.5 + i / 100},
            warmup=i < warmup,
        )
        for i, s in enumerate(seconds)
    )
    return TrainResult(
        model=model_name,
        dataset="mnist",
        data_source="real",
        params=61706,
        batch_size=100,
        epochs=epochs,
        accuracy=0.97,
        test_images=2000,
        device="/device:CPU:0",
    )


# -- option parsers ---------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_positive_int_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number of at least 1"):
        options.parse_positive_int(text)


def test_positive_int_accepts() -> None:
    assert options.parse_positive_int("4") == 4


@pytest.mark.parametrize("text", ["-1", "x", str(2**32)])
def test_seed_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="from 0 to 4294967295"):
        options.parse_seed(text)


def test_device_parser() -> None:
    assert options.parse_device("auto") is None
    assert options.parse_device("2") == 2
    with pytest.raises(argparse.ArgumentTypeError, match="expected 'auto' or a device index"):
        options.parse_device("gpu0")


def test_choice_parser_names_choices() -> None:
    with pytest.raises(
        argparse.ArgumentTypeError, match="one of float32, tf32, mixed_float16, mixed_bfloat16"
    ):
        options.parse_precision("fp16")
    assert options.parse_data_mode("real") == "real"


def test_every_option_has_metavar_or_is_a_flag_and_help_names_default() -> None:
    for option in options.OPTIONS:
        assert option.flag.startswith("--cnnperf-")
        assert option.is_flag or option.metavar
        assert "default" in option.help


# -- settings ------------------------------------------------------------------


def test_unknown_settings_listed_with_hint() -> None:
    mark = pytest.mark.cnnperf(epoch=2, colour="red").mark
    with pytest.raises(SettingsError) as info:
        collect_settings([mark])
    message = str(info.value)
    assert "Unknown cnnperf settings: 'colour', 'epoch' (did you mean 'epochs'?)" in message
    assert "Known settings: batch_size, devices, early_stopping, epochs," in message


def test_closest_marker_wins() -> None:
    near = pytest.mark.cnnperf(epochs=2).mark
    far = pytest.mark.cnnperf(epochs=5, batch_size=8).mark
    assert collect_settings([near, far]) == {"epochs": 2, "batch_size": 8}


def test_positional_marker_args_rejected() -> None:
    with pytest.raises(SettingsError, match="keyword settings only"):
        collect_settings([pytest.mark.cnnperf(3).mark])


def test_model_decorator_ids_and_settings() -> None:
    def my_cnn() -> None:
        return None

    @model(["lenet5", my_cnn], epochs=2)
    @dataset("mnist", train_size=100, split="test")
    def test_x() -> None:
        pass

    marks = {m.name: m for m in getattr(test_x, "pytestmark", [])}
    params = [m for m in test_x.pytestmark if m.name == "parametrize"]  # type: ignore[attr-defined]
    ids = [tuple(m.kwargs["ids"]) for m in params]
    assert ("lenet5", "my_cnn") in ids and ("mnist",) in ids
    assert marks["cnnperf"].kwargs == {"epochs": 2}
    ds_spec = next(m for m in params if m.args[0] == "cnnperf_dataset").args[1][0]
    assert ds_spec.train_size == 100 and dict(ds_spec.options) == {"split": "test"}


def test_model_decorator_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="Expected a model name or a callable"):
        model([3])  # type: ignore[list-item]


# -- results -------------------------------------------------------------------


def test_median_excludes_warmup() -> None:
    run = _run([10.0, 1.0, 2.0, 3.0])
    assert run.epoch_seconds_median == 2.0
    assert run.images_per_second_median == 500.0


def test_outcome_round_trip_through_plain_data() -> None:
    outcome = TestOutcome(
        node_id="t.py::test[a]",
        runs=(_run([5.0, 1.0]),),
        accuracy_checks=(AccuracyCheck(0.9, 0.97, True),),
        verdict=Verdict.PASS,
        model="lenet5",
        dataset="mnist",
    )
    data = json.loads(json.dumps(outcome.to_dict()))
    assert TestOutcome.from_dict(data, legacy_registry()) == outcome


def test_outcomes_pool_runs() -> None:
    outcome = TestOutcome(node_id="x", runs=(_run([9.0, 1.0, 3.0]), _run([9.0, 2.0])))
    registry = legacy_registry()
    assert outcome.samples(registry)["epoch_seconds"] == (1.0, 3.0, 2.0)
    assert outcome.medians(registry)["epoch_seconds"] == 2.0


# -- timing ------------------------------------------------------------------------


def test_recorder_syncs_before_each_clock_read_and_finds_nan_step() -> None:
    events: list[str] = []
    ticks = iter([1.0, 3.5, 4.0, 4.5])

    def sync() -> None:
        events.append("sync")

    def clock() -> float:
        events.append("clock")
        return next(ticks)

    recorder = EpochRecorder(sync, clock)
    recorder.begin_epoch(0)
    recorder.end_step(0, {"loss": 1.0})
    recorder.end_step(1, {"loss": 0.5})
    assert recorder.end_epoch(0, {"loss": 0.5, "accuracy": 0.9}) is False
    assert events == ["sync", "clock", "sync", "clock"]
    assert recorder.epochs[0].seconds == 2.5 and recorder.epochs[0].steps == 2
    recorder.begin_epoch(1)
    recorder.end_step(0, {"loss": 0.4})
    recorder.end_step(1, {"loss": math.nan})
    recorder.end_step(2, {"loss": math.inf})
    assert recorder.end_epoch(1, {"loss": math.nan}) is True
    assert recorder.non_finite is not None
    assert (recorder.non_finite.epoch, recorder.non_finite.step) == (1, 1)


# -- devices ----------------------------------------------------------------------


def test_worker_gets_its_own_device() -> None:
    # Worker gwI takes GPU I; one beyond the GPUs is refused (tests/test_gpu_paths.py).
    assert devices.choose_index(None, "gw1", 2, "gpu") == 1
    assert devices.choose_index(None, None, 2, "gpu") == 0
    assert devices.choose_index(1, "gw0", 2, "gpu") == 1


def test_device_index_out_of_range_message() -> None:
    with pytest.raises(devices.DeviceError) as info:
        devices.choose_index(4, None, 2, "gpu")
    assert str(info.value) == (
        "--cnnperf-device 4 asks for GPU:4, but TensorFlow sees 2 GPU devices "
        "(indices 0 to 1). Expected an index below 2. Received: --cnnperf-device=4"
    )


# -- report -----------------------------------------------------------------------


def test_summary_plain_text_has_tables_and_warmup_mark() -> None:
    outcome = TestOutcome(
        node_id="suite.py::test_lenet",
        runs=(_run([5.0, 1.0, 1.2]),),
        model="lenet5",
        dataset="mnist",
        verdict=Verdict.PASS,
    )
    registry = legacy_registry()
    text = render_summary([outcome], registry, color=False, width=120, epoch_tables=True)
    assert "\x1b[" not in text
    assert "warm-up" in text
    assert "cnnperf summary" in text
    assert "61,706" in text and "1.10 s" in text and "pass" in text
    quiet = render_summary([outcome], registry, color=False, width=120, epoch_tables=False)
    assert "warm-up" not in quiet and "cnnperf summary" in quiet


def test_summary_color_uses_ansi() -> None:
    outcome = TestOutcome(node_id="a", runs=(_run([2.0, 1.0]),), verdict=Verdict.REGRESSED)
    text = render_summary([outcome], legacy_registry(), color=True, width=100, epoch_tables=False)
    assert "\x1b[" in text


# -- plugin load cost ---------------------------------------------------------------


def test_plugin_import_is_free_of_heavy_modules() -> None:
    code = (
        "import sys, pytest_cnnperf.plugin\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'numpy', 'pynvml', 'rich')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    assert out.stdout.strip() == ""


def test_narrow_summary_drops_name_columns_but_keeps_the_id_whole() -> None:
    node = "suites/test_seed001_architectures.py::test_architecture[resnet20_v2-fashion_mnist]"
    outcome = TestOutcome(node_id=node, runs=(_run([2.0, 1.0]),), model="resnet20_v2")
    text = render_summary([outcome], legacy_registry(), color=False, width=80, epoch_tables=False)
    assert "data set" not in text
    assert f"   1  {node}" in text.splitlines()
    table = text[: text.index(f"   1  {node}")]
    assert max(len(line) for line in table.splitlines()) <= 80


def test_per_test_tolerances_follow_the_profile() -> None:
    from pytest_cnnperf.baselines import overrides_from_settings, resolve_tolerances
    from pytest_cnnperf.markers import by_profile, resolve_profiled

    registry = legacy_registry()
    settings = {"tolerance_epoch_time": by_profile(cpu="50%", gpu=None)}
    for kind, expected in (("cpu", 0.5), ("gpu", 0.25)):
        marker = overrides_from_settings(
            resolve_profiled(settings, kind), registry, source="the settings of t"
        )
        assert resolve_tolerances(registry, None, None, marker).limits["epoch_seconds"] == expected


# -- cores ---------------------------------------------------------------------------


def test_usable_cores_follow_the_affinity_mask_or_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from pytest_cnnperf import cores

    if hasattr(os, "sched_getaffinity"):
        assert cores.usable() == len(os.sched_getaffinity(0))
        monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert cores.usable() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cores.usable() == 1
