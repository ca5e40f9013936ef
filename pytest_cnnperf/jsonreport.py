"""The ``--cnnperf-json`` results file (schema documented in docs/results-json.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cnnperf import environment
from pytest_cnnperf.atomicfile import write_text_atomically
from pytest_cnnperf.results import TestRecord, TrainResult

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig

#: Bumped when a field changes meaning or disappears; added fields keep it.
RESULTS_SCHEMA_VERSION = 1


def environment_block(cfg: CnnperfConfig, records: Sequence[TestRecord]) -> dict[str, Any]:
    hardware = environment.describe_hardware(gpu=cfg.gpu, precision=cfg.precision)
    devices = sorted({run.device for record in records for run in record.runs})
    return {
        "software": environment.software_fingerprint(gpu=cfg.gpu),
        "device": {
            "kind": hardware.device_kind,
            "model": hardware.device_model,
            "count": hardware.device_count,
            "precision": hardware.precision,
            "tensorflow_devices": devices,
        },
        "seed": cfg.seed,
        "deterministic": cfg.deterministic,
    }


def _run_dict(run: TrainResult) -> dict[str, Any]:
    return {
        "model": run.model,
        "dataset": run.dataset,
        "data_source": run.data_source,
        "fallback_reason": run.fallback_reason,
        "preprocessing": list(run.preprocessing),
        "params": run.params,
        "batch_size": run.batch_size,
        "device": run.device,
        "epochs": [
            {
                "index": e.index,
                "seconds": _finite(e.seconds),
                "steps": e.steps,
                "images_per_second": _finite(e.images_per_second),
                "warmup": e.warmup,
                "loss": _finite(e.loss),
                "accuracy": e.accuracy,
            }
            for e in run.epochs
        ],
        "epoch_seconds_median": run.epoch_seconds_median,
        "accuracy": run.accuracy,
        "test_images": run.test_images,
    }


def test_dict(record: TestRecord) -> dict[str, Any]:
    last = record.runs[-1] if record.runs else None
    return {
        "node_id": record.node_id,
        "model": record.model or (last.model if last else None),
        "dataset": record.dataset or (last.dataset if last else None),
        "data_source": last.data_source if last else None,
        "params": last.params if last else None,
        "batch_size": last.batch_size if last else None,
        "epochs": _run_dict(last)["epochs"] if last else [],
        "runs": [_run_dict(run) for run in record.runs],
        "epoch_seconds_median": record.epoch_seconds_median,
        "images_per_second_median": record.images_per_second_median,
        "accuracy": record.accuracy,
        "accuracy_checks": [
            {"threshold": c.threshold, "measured": c.measured, "passed": c.passed}
            for c in record.accuracy_checks
        ],
        "verdict": record.verdict,
        "comparison": dict(record.comparison),
    }


def results_document(cfg: CnnperfConfig, records: Sequence[TestRecord]) -> dict[str, Any]:
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "environment": environment_block(cfg, records),
        "tests": [test_dict(r) for r in records],
    }


def write_results(path: Path, records: Sequence[TestRecord], cfg: CnnperfConfig) -> None:
    """Write atomically: a reader never sees half a file."""
    document = results_document(cfg, records)
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text_atomically(path, text)


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a figure is written as null."""
    return value if value is None or math.isfinite(value) else None
