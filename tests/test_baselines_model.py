"""Unit tests for HardwareKey, Figures, Provenance and Verdict (no TensorFlow, no plugin)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pytest_cnnperf.baselines import Figures, HardwareKey, Provenance, Verdict
from pytest_cnnperf.baselines.model import SETUP_FIELDS


def _figures(**changes: Any) -> Figures:
    values: dict[str, Any] = {
        "node_id": "tests/test_x.py::test_a",
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "data_source": "real",
        "samples": {"epoch_seconds": (1.0, 1.1), "accuracy": (0.9,)},
    }
    values.update(changes)
    return Figures(**values)


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


def test_figures_accept_valid_figures() -> None:
    figures = _figures(data_source="synthetic")
    assert figures.samples["epoch_seconds"] == (1.0, 1.1)
    # A metric the test did not measure is simply absent.
    assert _figures(samples={"epoch_seconds": (1.0,)}).samples == {"epoch_seconds": (1.0,)}
    assert _figures(samples={}).samples == {}


def test_figures_setup_is_what_makes_them_comparable() -> None:
    assert SETUP_FIELDS == ("model", "dataset", "batch_size", "data_source")
    assert _figures().setup() == {
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "data_source": "real",
    }
    # Samples and node id are not part of the set-up.
    assert _figures(node_id="other", samples={}).setup() == _figures().setup()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 0}, "Expected batch_size to be at least 1. Received: batch_size=0"),
        (
            {"batch_size": "64"},
            "Expected batch_size to be a whole number. Received: batch_size='64'",
        ),
        (
            {"batch_size": True},
            "Expected batch_size to be a whole number. Received: batch_size=True",
        ),
        (
            {"batch_size": 64.0},
            "Expected batch_size to be a whole number. Received: batch_size=64.0",
        ),
        (
            {"samples": {"epoch_seconds": ()}},
            "Expected at least one sample of epoch_seconds. Received: samples['epoch_seconds']=()",
        ),
        (
            {"samples": {"epoch_seconds": (1.0,), "accuracy": ()}},
            "Expected at least one sample of accuracy. Received: samples['accuracy']=()",
        ),
        (
            {"data_source": "fake"},
            "Expected data_source to be 'real' or 'synthetic'. Received: data_source='fake'",
        ),
    ],
)
def test_figures_reject_bad_figures(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _figures(**changes)
    assert str(info.value) == message


def test_provenance_holds_who_when_and_why() -> None:
    provenance = Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", None)
    assert (provenance.accepted_at, provenance.accepted_by, provenance.reason) == (
        "2026-01-05T10:30:15+00:00",
        "ana@build-3",
        None,
    )
    assert provenance == Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", None)


def test_verdict_values_serialize_as_strings() -> None:
    assert [v.value for v in Verdict] == [
        "pass",
        "regressed",
        "improved",
        "unstable",
        "new",
        "failed",
    ]
    assert Verdict("regressed") is Verdict.REGRESSED
    assert Verdict.PASS.value == "pass"
    assert json.dumps([Verdict.PASS]) == '["pass"]'
