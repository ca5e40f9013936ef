"""The ``--cnnperf-json`` results file (schema documented in docs/results-json.md).

``JsonReport`` implements ``pytest_cnnperf_session_finish``, as any other
report would; ``pytest_cnnperf_update_json`` lets plugins add to the document.
A file that cannot be written fails the session without losing the results:
they are saved to a temporary file whose path is said.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
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


def serialize(document: Mapping[str, Any]) -> str:
    """The stored text: every non-finite figure as null, sorted keys, indented.

    Raises:
        TypeError, ValueError: a value JSON cannot hold (added by a plugin's hook).
    """
    return json.dumps(_nulled(document), indent=2, sort_keys=True, allow_nan=False) + "\n"


class JsonReport:
    """Writes the results file once, at the end, in the process that writes files."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig, path: Path) -> None:
        self.config = config
        self.cfg = cfg
        self.path = path

    def pytest_cnnperf_session_finish(self, report: SessionReport) -> None:
        from pytest_cnnperf.atomicfile import write_text_atomically

        if report.interrupted and not report.outcomes and self.path.exists():
            # An earlier complete file is worth more than a file that says nothing.
            report.notes.append(
                "The session was interrupted before any cnnperf test finished: the results "
                f"file {self.path} was left as it was."
            )
            return
        document = results_document(self.cfg, report)
        self.config.hook.pytest_cnnperf_update_json(document=document, config=self.config)
        try:
            text = serialize(document)
        except (TypeError, ValueError) as error:
            report.error(
                f"Could not write the results file {self.path}: the document holds a value "
                f"JSON cannot represent ({error}). A pytest_cnnperf_update_json hook added it; "
                f"{self.path} was left as it was."
            )
            return
        try:
            write_text_atomically(self.path, text)
        except OSError as error:
            report.error(_unwritten_message(self.path, error, text))
            return
        if report.outcomes:
            report.notes.append(f"cnnperf results written to {self.path}")


def _unwritten_message(path: Path, error: OSError, text: str) -> str:
    """Say why ``path`` was not written, and where its text was saved instead."""
    reason = error.strerror or str(error)
    culprit = error.filename
    if culprit is not None and os.fspath(culprit) != os.fspath(path):
        # mkdir's "File exists" names a file that stands where a directory must be.
        blocked = isinstance(error, (FileExistsError, NotADirectoryError))
        if blocked and not Path(culprit).is_dir():
            reason = f"{culprit} is not a directory"
        else:
            reason += f": {culprit}"
    message = f"Could not write the results file {path} ({reason})."
    try:
        fd, rescue = tempfile.mkstemp(prefix="cnnperf-unsaved-results-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as second:
        return (
            f"{message} Saving the results to a temporary file failed too "
            f"({second.strerror or second}); they are lost."
        )
    return f"{message} The results are saved in {rescue}."


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a figure is written as null."""
    return value if value is None or math.isfinite(value) else None


def _nulled(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Mapping):
        return {name: _nulled(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulled(item) for item in value]
    return value
