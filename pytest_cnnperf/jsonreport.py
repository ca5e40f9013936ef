"""The ``--cnnperf-json`` results file (schema documented in docs/results-json.md).

``JsonReport`` implements ``pytest_cnnperf_session_finish``, as any other
report would; ``pytest_cnnperf_update_json`` lets plugins add to the document.
A file that cannot be written fails the session without losing the results:
they are saved to a temporary file whose path is said. ``load_results``
reads a results file back, checking every field it uses.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

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
        # What was in force (docs/gpu.md): precision as TensorFlow reported it,
        # XLA as Keras resolved it, and the devices the run trained on.
        "precision": run.precision,
        "tf32": run.tf32,
        "jit_compile": run.jit_compile,
        "strategy": run.strategy,
        "devices": list(run.devices),
        "device_count": run.device_count,
        "epochs": _epochs(run),
        "epoch_seconds_median": run.epoch_seconds_median,
        "windows": [dataclasses.asdict(w) for w in run.windows],
        "step_seconds_median": run.step_seconds_median,
        "calibration_seconds_median": run.calibration_seconds_median,
        "arrangement": None if run.arrangement is None else dict(run.arrangement),
        "accuracy": run.accuracy,
        "test_images": run.test_images,
        # The profiled window (docs/layers.md); null when per-layer timing is off.
        "layers": None if run.layers is None else _nulled(run.layers.to_dict()),
        # NVML's summary of the measured windows (docs/gpu.md); null on the CPU.
        "telemetry": None if run.telemetry is None else _nulled(run.telemetry.to_dict()),
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
        "step_time_median": medians.get("step_time"),
        # Measured epochs (per-epoch timing; empty with windows): shown, not judged.
        "epoch_seconds_median": _median(
            [e.seconds for run in outcome.runs for e in run.measured_epochs]
        ),
        "images_per_second_median": outcome.images_per_second_median,
        "accuracy": outcome.accuracy,
    }


def _median(values: Sequence[float]) -> float | None:
    from pytest_cnnperf.results import median_or_none

    return median_or_none(values)


def document_for(
    outcomes: Sequence[TestOutcome],
    registry: MetricRegistry,
    *,
    environment: Mapping[str, Any],
    interrupted: bool,
) -> dict[str, Any]:
    """The results document of these outcomes, with an environment block already made."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "interrupted": interrupted,
        "environment": dict(environment),
        "tests": [test_dict(outcome, registry) for outcome in outcomes],
    }


def results_document(cfg: CnnperfConfig, report: SessionReport) -> dict[str, Any]:
    return document_for(
        report.outcomes,
        report.registry,
        environment=environment_block(cfg, report.environment, report.outcomes),
        interrupted=report.interrupted,
    )


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


# --------------------------------------------------------------------------- reading


class ResultsError(Exception):
    """A results file cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ResultsFile:
    """A results file read back: its header and each test's outcome."""

    path: Path
    schema_version: int
    interrupted: bool
    environment: dict[str, Any]
    outcomes: tuple[TestOutcome, ...]


#: Shown instead of a value for a key that is missing.
_MISSING = object()


def _shown(value: object) -> str:
    text = "nothing (the key is missing)" if value is _MISSING else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    """Checks a decoded results document field by field, naming the file and the field."""

    def __init__(self, path: Path, registry: MetricRegistry) -> None:
        self.path = path
        self.registry = registry

    def fail(self, where: str, expected: str, value: object) -> NoReturn:
        raise ResultsError(
            f"Expected {where} in the results file {self.path} to be {expected}. "
            f"Received: {where}={_shown(value)}."
        )

    # -- values ------------------------------------------------------------------

    def mapping(self, where: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "a JSON object", value)
        return value

    def items(self, where: str, value: object) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, "a list", value)
        return value

    def text(self, where: str, value: object) -> str:
        if not isinstance(value, str):
            self.fail(where, "a string", value)
        return value

    def optional_text(self, where: str, value: object) -> str | None:
        return None if value is None else self.text(where, value)

    def texts(self, where: str, value: object) -> list[str]:
        return [self.text(f"{where}[{i}]", item) for i, item in enumerate(self.items(where, value))]

    def boolean(self, where: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(where, "true or false", value)
        return value

    def integer(self, where: str, value: object, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"a whole number of at least {minimum}", value)
        return value

    def number(self, where: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, "a number", value)
        return value

    def optional_number(self, where: str, value: object) -> float | None:
        return None if value is None else self.number(where, value)

    def figure(self, where: str, value: object) -> float:
        """A measured number; null stands for one that was not finite (written as null)."""
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, "a number or null", value)
        return value

    def verdict(self, where: str, value: object, *, optional: bool) -> str | None:
        from pytest_cnnperf.baselines import Verdict

        names = [verdict.value for verdict in Verdict]
        if value is None and optional:
            return None
        if value not in names:
            self.fail(where, f"one of {', '.join(names)}" + (" or null" if optional else ""), value)
        assert isinstance(value, str)
        return value

    def get(self, block: Mapping[str, Any], where: str, key: str) -> tuple[str, object]:
        """The place and value of ``block[key]``; a missing key reads as ``_MISSING``."""
        return f"{where}.{key}" if where else key, block.get(key, _MISSING)

    # -- blocks --------------------------------------------------------------------

    def epoch(self, where: str, value: object) -> dict[str, Any]:
        raw = self.mapping(where, value)
        accuracy = self.optional_number(*self.get(raw, where, "accuracy"))
        return {
            "index": self.integer(*self.get(raw, where, "index"), minimum=0),
            "seconds": self.figure(*self.get(raw, where, "seconds")),
            "steps": self.integer(*self.get(raw, where, "steps"), minimum=0),
            "images": self.integer(*self.get(raw, where, "images"), minimum=0),
            "loss": self.figure(*self.get(raw, where, "loss")),
            # The file keeps an epoch's accuracy, the only metric Keras is asked for.
            "metrics": {} if accuracy is None else {"accuracy": accuracy},
            "warmup": self.boolean(*self.get(raw, where, "warmup")),
        }

    def run(self, where: str, value: object) -> dict[str, Any]:
        raw = self.mapping(where, value)
        at, epochs = self.get(raw, where, "epochs")
        return {
            "model": self.text(*self.get(raw, where, "model")),
            "dataset": self.text(*self.get(raw, where, "dataset")),
            "data_source": self.text(*self.get(raw, where, "data_source")),
            "params": self.integer(*self.get(raw, where, "params"), minimum=0),
            "batch_size": self.integer(*self.get(raw, where, "batch_size"), minimum=1),
            "epochs": [self.epoch(f"{at}[{i}]", e) for i, e in enumerate(self.items(at, epochs))],
            "accuracy": self.optional_number(*self.get(raw, where, "accuracy")),
            "test_images": self.integer(*self.get(raw, where, "test_images"), minimum=0),
            "device": self.text(*self.get(raw, where, "device")),
            "preprocessing": self.texts(*self.get(raw, where, "preprocessing")),
            "fallback_reason": self.optional_text(*self.get(raw, where, "fallback_reason")),
            **self.gpu_fields(where, raw),
        }

    def gpu_fields(self, where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """What was in force and the GPU telemetry (docs/gpu.md); absent from older files."""
        found: dict[str, Any] = {}
        for key in ("precision", "strategy"):
            if key in raw:
                found[key] = self.optional_text(f"{where}.{key}", raw[key])
        for key in ("tf32", "jit_compile"):
            if key in raw and raw[key] is not None:
                found[key] = self.boolean(f"{where}.{key}", raw[key])
        if "devices" in raw:
            found["devices"] = self.texts(f"{where}.devices", raw["devices"])
        if raw.get("telemetry") is not None:
            at = f"{where}.telemetry"
            block = self.mapping(at, raw["telemetry"])
            gpus_at, gpus = self.get(block, at, "gpus")
            for i, gpu in enumerate(self.items(gpus_at, gpus)):
                item = self.mapping(f"{gpus_at}[{i}]", gpu)
                self.text(*self.get(item, f"{gpus_at}[{i}]", "pci_bus_id"))
                self.integer(*self.get(item, f"{gpus_at}[{i}]", "samples"), minimum=0)
            self.optional_text(*self.get(block, at, "error"))
            found["telemetry"] = block
        return found

    def accuracy_check(self, where: str, value: object) -> dict[str, Any]:
        raw = self.mapping(where, value)
        return {
            "threshold": self.number(*self.get(raw, where, "threshold")),
            "measured": self.optional_number(*self.get(raw, where, "measured")),
            "passed": self.boolean(*self.get(raw, where, "passed")),
        }

    def figures(self, where: str, value: object) -> dict[str, float]:
        """An object of measured figures by metric name."""
        block = self.mapping(where, value)
        return {name: self.figure(f"{where}.{name}", item) for name, item in block.items()}

    def tolerance(self, where: str, value: object, *, name: str) -> float:
        """A tolerance; one of a metric of the registry is checked as that metric checks it."""
        metric = self.registry.get(name)
        if metric is None:
            return self.number(where, value)
        try:
            return metric.check_tolerance(value, where=where)
        except ValueError:
            self.fail(where, f"a valid tolerance ({metric.tolerance_form()})", value)

    def tolerances(self, where: str, value: object) -> dict[str, float] | None:
        if value is None:
            return None
        block = self.mapping(where, value)
        return {
            name: self.tolerance(f"{where}.{name}", limit, name=name)
            for name, limit in block.items()
        }

    def metric_comparison(self, where: str, name: str, value: object) -> dict[str, Any]:
        raw = self.mapping(where, value)
        at, metric_name = self.get(raw, where, "metric")
        metric = self.registry.get(metric_name) if isinstance(metric_name, str) else None
        if metric is None or metric.name != metric_name or not metric.judged:
            # Only a judged metric is ever compared (telemetry is recorded, never judged).
            names = ", ".join(m.name for m in self.registry if m.judged)
            self.fail(at, f"the name of a metric of this session ({names})", metric_name)
        if metric_name != name:
            self.fail(at, f"{name!r}, the name it is listed under", metric_name)
        data: dict[str, Any] = {
            "metric": metric_name,
            "tolerance": self.tolerance(*self.get(raw, where, "tolerance"), name=metric_name),
            "verdict": self.verdict(*self.get(raw, where, "verdict"), optional=False),
            "confidence": self.optional_number(*self.get(raw, where, "confidence")),
            "low_confidence": self.boolean(*self.get(raw, where, "low_confidence")),
            "baseline_count": self.integer(*self.get(raw, where, "baseline_count"), minimum=0),
            "current_count": self.integer(*self.get(raw, where, "current_count"), minimum=0),
            "current_relative_spread": self.optional_number(
                *self.get(raw, where, "current_relative_spread")
            ),
            "reason": self.optional_text(*self.get(raw, where, "reason")),
        }
        for key in ("baseline", "current", "change", "interval_low", "interval_high"):
            data[key] = self.figure(*self.get(raw, where, key))
        return data

    def comparison(self, where: str, value: object) -> dict[str, Any] | None:
        if value is None:
            return None
        raw = self.mapping(where, value)
        at, metrics = self.get(raw, where, "metrics")
        baseline_at, baseline = self.get(raw, where, "baseline")
        provenance = None
        if baseline is not None:
            block = self.mapping(baseline_at, baseline)
            provenance = {
                "accepted_at": self.text(*self.get(block, baseline_at, "accepted_at")),
                "accepted_by": self.text(*self.get(block, baseline_at, "accepted_by")),
                "reason": self.optional_text(*self.get(block, baseline_at, "reason")),
            }
        current_at, current = self.get(raw, where, "current")
        return {
            "node_id": self.text(*self.get(raw, where, "node_id")),
            "verdict": self.verdict(*self.get(raw, where, "verdict"), optional=False),
            "metrics": {
                name: self.metric_comparison(f"{at}.{name}", name, item)
                for name, item in self.mapping(at, metrics).items()
            },
            "software_changes": self.texts(*self.get(raw, where, "software_changes")),
            "notes": self.texts(*self.get(raw, where, "notes")),
            "current": None if current is None else self.figures(current_at, current),
            "baseline": provenance,
            # Absent from files written before GPU telemetry (docs/gpu.md).
            "disturbances": self.texts(f"{where}.disturbances", raw.get("disturbances", [])),
        }

    def test(self, where: str, value: object) -> dict[str, Any]:
        """One test's outcome in the plain-data form ``TestOutcome.from_dict`` reads."""
        raw = self.mapping(where, value)
        runs_at, runs = self.get(raw, where, "runs")
        checks_at, checks = self.get(raw, where, "accuracy_checks")
        return {
            "node_id": self.text(*self.get(raw, where, "node_id")),
            "model": self.text(*self.get(raw, where, "model")),
            "dataset": self.text(*self.get(raw, where, "dataset")),
            "runs": [
                self.run(f"{runs_at}[{i}]", r) for i, r in enumerate(self.items(runs_at, runs))
            ],
            "accuracy_checks": [
                self.accuracy_check(f"{checks_at}[{i}]", c)
                for i, c in enumerate(self.items(checks_at, checks))
            ],
            "verdict": self.verdict(*self.get(raw, where, "verdict"), optional=True),
            "tolerances": self.tolerances(*self.get(raw, where, "tolerances")),
            "comparison": self.comparison(*self.get(raw, where, "comparison")),
            "message": self.optional_text(*self.get(raw, where, "message")),
            "failure": self.optional_text(*self.get(raw, where, "failure")),
        }


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON, but reads as infinity, which the writer never writes.
    value = float(text)
    if not math.isfinite(value):
        _reject_constant(text)
    return value


def load_results(path: str | os.PathLike[str], registry: MetricRegistry) -> ResultsFile:
    """Read a results file written by ``--cnnperf-json``.

    Args:
        path: the file.
        registry: the metrics of the session that wrote it (a comparison of a
            metric the registry does not know is refused).

    Returns:
        The file's header and each test as a ``TestOutcome``; fields this
        version does not read (derived figures, fields added by plugins) are
        ignored.

    Raises:
        ResultsError: the file cannot be read, is not JSON, has another
            schema version than this one reads, or a field is missing or of the
            wrong type; the message names the file and the field.
    """
    from pytest_cnnperf.outcome import TestOutcome

    file_path = Path(path)
    try:
        text = file_path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ResultsError(
            f"Could not read the results file {file_path}: {error.strerror or error}."
        ) from None
    except UnicodeDecodeError as error:
        raise ResultsError(
            f"The results file {file_path} is not UTF-8 text: {error.reason} at byte {error.start}."
        ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"The results file {file_path} is not valid JSON: {error.msg} at line "
            f"{error.lineno}, column {error.colno}."
        ) from None
    except (ValueError, RecursionError) as error:
        raise ResultsError(f"The results file {file_path} is not valid JSON: {error}.") from None
    checker = _Checker(file_path, registry)
    top = checker.mapping("the top level", document)
    version = top.get("schema_version", _MISSING)
    checker.integer("schema_version", version, minimum=1)
    if version != RESULTS_SCHEMA_VERSION:
        newer = isinstance(version, int) and version > RESULTS_SCHEMA_VERSION
        raise ResultsError(
            f"The results file {file_path} has schema_version {version}, but this "
            f"pytest-cnnperf reads schema version {RESULTS_SCHEMA_VERSION} only. "
            + (
                "Upgrade pytest-cnnperf to read it."
                if newer
                else "Run the tests again to write a file of the current version."
            )
        )
    interrupted = checker.boolean(*checker.get(top, "", "interrupted"))
    environment = checker.mapping(*checker.get(top, "", "environment"))
    tests_at, tests = checker.get(top, "", "tests")
    outcomes = []
    for index, raw in enumerate(checker.items(tests_at, tests)):
        where = f"tests[{index}]"
        data = checker.test(where, raw)
        try:
            outcomes.append(TestOutcome.from_dict(data, registry))
        except (KeyError, TypeError, ValueError) as error:
            # Checked above field by field; kept so that a change of the outcome's
            # plain-data form shows up as this error, never as a bare one.
            raise ResultsError(
                f"Could not read {where} of the results file {file_path}: {error}."
            ) from None
    return ResultsFile(
        path=file_path,
        schema_version=RESULTS_SCHEMA_VERSION,
        interrupted=interrupted,
        environment=environment,
        outcomes=tuple(outcomes),
    )
