"""Unit tests for HardwareKey and Measurement (no TensorFlow, no pytest plugin)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_cnnperf.baselines import HardwareKey, Measurement


def _measurement(**changes: Any) -> Measurement:
    values: dict[str, Any] = {
        "node_id": "tests/test_x.py::test_a",
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "epoch_seconds": (1.0, 1.1),
        "images_per_second": (100.0, 90.0),
        "accuracy": 0.9,
        "data_source": "real",
    }
    values.update(changes)
    return Measurement(**values)


def test_slug_of_a_cpu_key_drops_marks_and_clock() -> None:
    key = HardwareKey("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 2, "float32")
    assert key.slug() == "cpu-intel-xeon-platinum-8375c-2c-float32"


def test_slug_of_a_gpu_key() -> None:
    key = HardwareKey("gpu", "NVIDIA A100-SXM4-40GB", 1, "mixed_float16")
    assert key.slug() == "gpu-nvidia-a100-sxm4-40gb-1gpu-mixed-float16"


def test_slug_is_file_name_safe_for_odd_names() -> None:
    key = HardwareKey("cpu", "  ../AMD/EPYC 7B13 64-Core Processor ", 4, "float32")
    slug = key.slug()
    assert re.fullmatch(r"[a-z0-9-]+", slug)
    assert slug == "cpu-amd-epyc-7b13-64-core-4c-float32"


def test_slug_of_an_empty_model_name() -> None:
    assert HardwareKey("cpu", "", 1, "float32").slug() == "cpu-unknown-1c-float32"


def test_slug_differs_by_count_and_precision() -> None:
    slugs = {
        HardwareKey("cpu", "Xeon", 2, "float32").slug(),
        HardwareKey("cpu", "Xeon", 4, "float32").slug(),
        HardwareKey("cpu", "Xeon", 2, "bfloat16").slug(),
        HardwareKey("gpu", "Xeon", 2, "float32").slug(),
    }
    assert len(slugs) == 4


def test_hardware_key_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError) as info:
        HardwareKey("tpu", "v4", 1, "float32")  # type: ignore[arg-type]
    assert str(info.value) == (
        "Expected device_kind to be 'cpu' or 'gpu'. Received: device_kind='tpu'"
    )


def test_hardware_key_rejects_zero_count() -> None:
    with pytest.raises(ValueError) as info:
        HardwareKey("gpu", "A100", 0, "float32")
    assert str(info.value) == (
        "Expected device_count to be at least 1 (cores for a CPU, GPUs for a GPU). "
        "Received: device_count=0"
    )


def test_hardware_key_rejects_non_integer_count() -> None:
    with pytest.raises(ValueError) as info:
        HardwareKey("cpu", "Xeon", 2.0, "float32")  # type: ignore[arg-type]
    assert str(info.value) == (
        "Expected device_count to be a whole number of cores or GPUs. Received: device_count=2.0"
    )


def test_hardware_key_describe() -> None:
    assert HardwareKey("cpu", "Xeon", 2, "float32").describe() == "cpu 'Xeon' x2, float32"


def test_measurement_accepts_valid_figures() -> None:
    measurement = _measurement(accuracy=None, data_source="synthetic")
    assert measurement.epoch_seconds == (1.0, 1.1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"batch_size": 0},
            "Expected batch_size to be at least 1. Received: batch_size=0",
        ),
        (
            {"batch_size": "64"},
            "Expected batch_size to be a whole number. Received: batch_size='64'",
        ),
        (
            {"epoch_seconds": ()},
            "Expected epoch_seconds to hold at least one measured epoch. Received: "
            "epoch_seconds=()",
        ),
        (
            {"epoch_seconds": (1.0, -1.0)},
            "Expected every value in epoch_seconds to be a finite number above 0. "
            "Received: epoch_seconds=(1.0, -1.0)",
        ),
        (
            {"images_per_second": (1.0, float("nan"))},
            "Expected every value in images_per_second to be a finite number above 0. "
            "Received: images_per_second=(1.0, nan)",
        ),
        (
            {"epoch_seconds": (1.0, "2")},
            "Expected every value in epoch_seconds to be a number. "
            "Received: epoch_seconds=(1.0, '2')",
        ),
        (
            {"images_per_second": (100.0,)},
            "Expected one images_per_second value per measured epoch (2 epoch_seconds "
            "values). Received: images_per_second=(100.0,)",
        ),
        (
            {"accuracy": 98.0},
            "Expected accuracy to be a fraction between 0 and 1, or None if the test did "
            "not evaluate the model. Received: accuracy=98.0",
        ),
        (
            {"data_source": "fake"},
            "Expected data_source to be 'real' or 'synthetic'. Received: data_source='fake'",
        ),
    ],
)
def test_measurement_rejects_bad_figures(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _measurement(**changes)
    assert str(info.value) == message
