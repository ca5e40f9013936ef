"""The ``--cnnperf-json`` results file (schema documented in docs/results-json.md).

``JsonReport`` implements ``pytest_cnnperf_session_finish``, as any other
report would; ``pytest_cnnperf_update_json`` lets plugins add to the document.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.environment import EnvironmentSnapshot
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult
    from pytest_cnnperf.session import SessionReport

#: Bumped when a field changes meaning or disappears; added fields keep it.
#: 2: ``comparison`` is typed (metrics by registry name, no images_per_second
#: metric), ``tolerances``, ``metrics``, ``message``, ``failure`` and
#: ``interrupted`` added.
RESULTS_SCHEMA_VERSION = 2


def environment_block(
    cfg: CnnperfConfig, snapshot: EnvironmentSnapshot, outcomes: Sequence[TestOutcome]
) -> dict[str, Any]:
    block = snapshot.to_dict()
    block["device"]["tensorflow_devices"] = sorted(
        {run.device for outcome in outcomes for run in outcome.runs}
    )
    block["seed"] = cfg.seed
    block["deterministic"] = cfg.deterministic
    return block


def _epochs(run: TrainResult) -> list[dict[str, Any]]:
    return [
        {
            "index": e.index,
            "seconds": _finite(e.seconds),
            "steps": e.steps,
            "images": e.images,
            "images_per_second": _finite(e.images_per_second),
            "warmup": e.warmup,
            "loss": _finite(e.loss),
            "accuracy": e.accuracy,
        }
        for e in run.epochs
    ]


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
        "epochs": _epochs(run),
        "epoch_seconds_median": run.epoch_seconds_median,
        "accuracy": run.accuracy,
        "test_images": run.test_images,
        # The profiled window (docs/layers.md); null when per-layer timing is off.
        "layers": None if run.layers is None else _finite_tree(run.layers.to_dict()),
    }


def test_dict(outcome: TestOutcome, registry: MetricRegistry) -> dict[str, Any]:
    """One test: the outcome's plain data with its runs laid out and its figures summarized."""
    last = outcome.runs[-1] if outcome.runs else None
    samples = outcome.samples(registry)
    medians = outcome.medians(registry)
    return {
        **outcome.to_dict(),
        "data_source": last.data_source if last else None,
        "params": last.params if last else None,
        "batch_size": last.batch_size if last else None,
        "epochs": _epochs(last) if last else [],
        "runs": [_run_dict(run) for run in outcome.runs],
        "metrics": {
            name: {"samples": list(values), "median": medians.get(name)}
            for name, values in samples.items()
        },
        "epoch_seconds_median": medians.get("epoch_seconds"),
        "images_per_second_median": outcome.images_per_second_median,
        "accuracy": outcome.accuracy,
    }


def results_document(cfg: CnnperfConfig, report: SessionReport) -> dict[str, Any]:
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "interrupted": report.interrupted,
        "environment": environment_block(cfg, report.environment, report.outcomes),
        "tests": [test_dict(outcome, report.registry) for outcome in report.outcomes],
    }


class JsonReport:
    """Writes the results file once, at the end, in the process that writes files."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig, path: Path) -> None:
        self.config = config
        self.cfg = cfg
        self.path = path

    def pytest_cnnperf_session_finish(self, report: SessionReport) -> None:
        from pytest_cnnperf.atomicfile import write_text_atomically

        document = results_document(self.cfg, report)
        self.config.hook.pytest_cnnperf_update_json(document=document, config=self.config)
        text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
        write_text_atomically(self.path, text)
        if report.outcomes:
            report.notes.append(f"cnnperf results written to {self.path}")


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a figure is written as null."""
    return value if value is None or math.isfinite(value) else None


def _finite_tree(value: Any) -> Any:
    """``value`` with every non-finite float in it written as null."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {key: _finite_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_tree(item) for item in value]
    return value
