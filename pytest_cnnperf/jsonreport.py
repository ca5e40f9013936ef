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
from typing import TYPE_CHECKING, Any

from pytest_cnnperf.fieldcheck import MISSING, FieldChecker, loads

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
    trained_on = sorted({run.device for outcome in outcomes for run in outcome.runs})
    block["device"]["devices"] = trained_on
    if snapshot.hardware.backend == "tensorflow":
        # The name of schema 2's first files, kept for their readers.
        block["device"]["tensorflow_devices"] = trained_on
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


class _Checker(FieldChecker):
    """Checks a decoded results document field by field, naming the file and the field."""

    def __init__(self, path: Path, registry: MetricRegistry) -> None:
        super().__init__(f"the results file {path}", ResultsError, shown_chars=80)
        self.path = path
        self.registry = registry

    def added(
        self, block: Mapping[str, Any], where: str, key: str, default: object
    ) -> tuple[str, object]:
        """Like ``get``, for a field added to version 2 after its first files.

        A missing key reads as ``default``, so that those files are still read.
        """
        at, value = self.get(block, where, key)
        return at, default if value is MISSING else value

    def verdict(self, where: str, value: object, *, optional: bool) -> str | None:
        from pytest_cnnperf.baselines import Verdict

        names = [verdict.value for verdict in Verdict]
        if value is None and optional:
            return None
        if value not in names:
            self.fail(where, f"one of {', '.join(names)}" + (" or null" if optional else ""), value)
        assert isinstance(value, str)
        return value

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
        windows_at, windows = self.added(raw, where, "windows", [])
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
            "windows": [
                self.window(f"{windows_at}[{i}]", w)
                for i, w in enumerate(self.items(windows_at, windows))
            ],
            "arrangement": self.arrangement(*self.added(raw, where, "arrangement", None)),
            "layers": self.profile(*self.added(raw, where, "layers", None)),
            **self.gpu_fields(where, raw),
        }

    def window(self, where: str, value: object) -> dict[str, Any]:
        raw = self.mapping(where, value)
        return {
            "index": self.integer(*self.get(raw, where, "index"), minimum=0),
            "seconds": self.figure(*self.get(raw, where, "seconds")),
            "steps": self.integer(*self.get(raw, where, "steps"), minimum=0),
            "images": self.integer(*self.get(raw, where, "images"), minimum=0),
            "loss": self.figure(*self.get(raw, where, "loss")),
            "calibration_seconds": self.optional_number(
                *self.get(raw, where, "calibration_seconds")
            ),
        }

    def arrangement(self, where: str, value: object) -> dict[str, Any] | None:
        """Cores, threads, workers and pinning: kept as written (see ``runtime.arrangement``)."""
        return None if value is None else self.mapping(where, value)

    def per_step(self, where: str, value: object, steps: int) -> tuple[float, ...]:
        """Seconds in each profiled step: as many as the profile has steps."""
        found = self.figure_list(where, value)
        if len(found) != steps:
            self.fail(where, f"a list of {steps} numbers or nulls, one per profiled step", value)
        return found

    def layer_timing(self, where: str, value: object, steps: int) -> dict[str, Any]:
        raw = self.mapping(where, value)
        return {
            "name": self.text(*self.get(raw, where, "name")),
            "kind": self.text(*self.get(raw, where, "kind")),
            "output_shape": self.text(*self.get(raw, where, "output_shape")),
            "params": self.integer(*self.get(raw, where, "params"), minimum=0),
            "forward_seconds": self.per_step(*self.get(raw, where, "forward_seconds"), steps),
            "backward_seconds": self.per_step(*self.get(raw, where, "backward_seconds"), steps),
            "optimizer_seconds": self.per_step(*self.get(raw, where, "optimizer_seconds"), steps),
            "forward_flops": self.optional_number(*self.get(raw, where, "forward_flops")),
            "members": self.texts(*self.get(raw, where, "members")),
        }

    def category(self, where: str, value: object, steps: int) -> dict[str, Any]:
        raw = self.mapping(where, value)
        return {
            "name": self.text(*self.get(raw, where, "name")),
            "seconds": self.per_step(*self.get(raw, where, "seconds"), steps),
            "covered": self.boolean(*self.get(raw, where, "covered")),
        }

    def profile(self, where: str, value: object) -> dict[str, Any] | None:
        """A run's profiled window, in the form ``LayerProfile.from_dict`` reads.

        Derived figures (coverage, overhead, FLOPs, a layer's median) are not read.
        """
        if value is None:
            return None
        raw = self.mapping(where, value)
        step_seconds = self.figure_list(*self.get(raw, where, "step_seconds"))
        steps = len(step_seconds)
        layers_at, layers = self.get(raw, where, "layers")
        categories_at, categories = self.get(raw, where, "categories")
        return {
            "step_seconds": step_seconds,
            "layers": [
                self.layer_timing(f"{layers_at}[{i}]", layer, steps)
                for i, layer in enumerate(self.items(layers_at, layers))
            ],
            "categories": [
                self.category(f"{categories_at}[{i}]", category, steps)
                for i, category in enumerate(self.items(categories_at, categories))
            ],
            "unprofiled_step_seconds": self.optional_number(
                *self.get(raw, where, "unprofiled_step_seconds")
            ),
            "window_seconds": self.figure(*self.get(raw, where, "window_seconds")),
            "warmup_steps": self.integer(*self.get(raw, where, "warmup_steps"), minimum=0),
            "reference_steps": self.integer(*self.get(raw, where, "reference_steps"), minimum=0),
            "source": self.text(*self.get(raw, where, "source")),
            "peak_flops_per_second": self.optional_number(
                *self.get(raw, where, "peak_flops_per_second")
            ),
            "peak_source": self.text(*self.get(raw, where, "peak_source")),
            "notes": self.texts(*self.get(raw, where, "notes")),
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

    def metric_comparison(
        self, where: str, name: str, value: object, *, part: bool = False
    ) -> dict[str, Any]:
        """One metric's comparison; with ``part``, that of one part of a per-part metric."""
        raw = self.mapping(where, value)
        at, metric_name = self.get(raw, where, "metric")
        metric = self.registry.get(metric_name) if isinstance(metric_name, str) else None
        if part and (metric is None or metric.name != metric_name or metric.part is None):
            names = ", ".join(f"{m.name}/<part>" for m in self.registry if m.parts is not None)
            self.fail(
                at,
                f"the name of a part of a metric of this session ({names or 'none'})",
                metric_name,
            )
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
            "noise": self.optional_number(*self.added(raw, where, "noise", None)),
            "noise_dof": self.optional_integer(
                *self.added(raw, where, "noise_dof", None), minimum=0
            ),
            "detail": self.optional_text(*self.added(raw, where, "detail", None)),
            "confirmation": self.optional_number(*self.added(raw, where, "confirmation", None)),
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
        parts_at, parts = self.added(raw, where, "parts", {})
        return {
            "node_id": self.text(*self.get(raw, where, "node_id")),
            "verdict": self.verdict(*self.get(raw, where, "verdict"), optional=False),
            "metrics": {
                name: self.metric_comparison(f"{at}.{name}", name, item)
                for name, item in self._in_registry_order(self.mapping(at, metrics))
            },
            "software_changes": self.texts(*self.get(raw, where, "software_changes")),
            "notes": self.texts(*self.get(raw, where, "notes")),
            "current": None if current is None else self.figures(current_at, current),
            "baseline": provenance,
            "parts": {
                name: self.metric_comparison(f"{parts_at}.{name}", name, item, part=True)
                for name, item in self._in_registry_order(self.mapping(parts_at, parts))
            },
            # Absent from files written before GPU telemetry (docs/gpu.md).
            "disturbances": self.texts(f"{where}.disturbances", raw.get("disturbances", [])),
        }

    def _in_registry_order(self, block: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The comparisons of ``block`` in the order ``compare`` makes them.

        Metrics in registry order, a metric's parts by name: the file's keys are sorted.
        """
        from pytest_cnnperf.metrics import PART_SEPARATOR

        order = {name: index for index, name in enumerate(self.registry.names())}

        def key(item: tuple[str, Any]) -> tuple[int, str]:
            family = item[0].split(PART_SEPARATOR, 1)[0]
            return order.get(family, len(order)), item[0]

        return sorted(block.items(), key=key)

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
        document = loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"The results file {file_path} is not valid JSON: {error.msg} at line "
            f"{error.lineno}, column {error.colno}."
        ) from None
    except (ValueError, RecursionError) as error:
        raise ResultsError(f"The results file {file_path} is not valid JSON: {error}.") from None
    checker = _Checker(file_path, registry)
    top = checker.mapping("the top level", document)
    if top.get("kind") == "backends":
        raise ResultsError(
            f"The results file {file_path} is the side-by-side document of "
            "--cnnperf-backends, not one session's results: each backend's results document "
            "is its backends.<name>.results (docs/results-json.md)."
        )
    version = top.get("schema_version", MISSING)
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
