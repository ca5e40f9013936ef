"""``--cnnperf-backends``: every test once per Keras backend, each in a fresh process, side by side.

A process has one Keras backend, chosen before Keras is imported
(``backends``), so the process that was started runs no test itself.
``SideBySide`` skips its collection and, in ``pytest_runtestloop``, runs
``python -m pytest`` once per backend, in the order given: the original
arguments less ``--cnnperf-backends`` and ``--cnnperf-json``, plus
``--cnnperf-backend=NAME --cnnperf-json=<temporary>/NAME.json``, with
``KERAS_BACKEND=NAME`` in its environment. Each run's output is passed
through as it comes. Everything else passes through unchanged: ``-n``,
``-k``, ``--cnnperf-update-baselines`` (each backend accepts into its own
baseline file: the backend is part of the baseline key), the history file.

Then each results file is read with ``jsonreport.load_results``, the tests
are matched by node id, and each backend is set against the reference, the
first one listed (``compare_backends``): the ratio of median seconds per
training step with a bootstrap interval over the timed windows of both runs,
images per second, held-out accuracy and its difference, each backend's own
verdict, and per-layer times where both measured them. The terminal summary
prints the table (``render_side_by_side``); ``--cnnperf-json`` gets one
document with every backend's whole results document and the comparison
(``combined_document``, docs/results-json.md). The session fails when any
backend's run failed, and says which.

The comparison and the rendering are pure functions of ``TestOutcome``s,
unit-tested without training. Starting, running and reading each backend's
process is ``subsessions``' (shared with ``--cnnperf-sessions``). Imported
only when ``--cnnperf-backends`` is given.

PYTEST_DONT_REWRITE: part of the plugin, whose modules pytest must not
rewrite.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import subsessions
from pytest_cnnperf.subsessions import ChildRun

if TYPE_CHECKING:
    from rich.table import Table

    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome

FLAG = "--cnnperf-backends"
#: Given to every backend after the first, with the first one's results.
STEPS_FLAG = "--cnnperf-steps-from"
#: Replaced in each backend's run by a file of its own.
JSON_FLAG = subsessions.JSON_FLAG
#: Bumped when a field of the combined document changes meaning or disappears.
SIDE_BY_SIDE_SCHEMA_VERSION = 1
#: The combined document's ``kind``, which tells it from a results document.
KIND = "backends"
#: Two-sided coverage of a step-time ratio's interval.
CONFIDENCE = 0.90


# --------------------------------------------------------------------------- command lines


def backend_command(
    args: Sequence[str],
    backend: str,
    results: Path,
    *,
    color: bool,
    steps_from: Path | None = None,
) -> list[str]:
    """The command line of one backend's run: ``args`` for that backend alone.

    ``--cnnperf-backends`` and ``--cnnperf-json`` are replaced by
    ``--cnnperf-backend=NAME`` and the run's own results file. With
    ``steps_from`` (the first backend's results), each test trains the
    windows the first backend trained (``--cnnperf-steps-from``), so that
    accuracies are compared after the same training. The run's output goes
    to a pipe, so ``--color=yes`` keeps a colour terminal's colours unless
    the arguments say otherwise.
    """
    same_steps = () if steps_from is None else (f"{STEPS_FLAG}={steps_from}",)
    return subsessions.pytest_command(
        args,
        remove=(FLAG, JSON_FLAG),
        add=(f"--cnnperf-backend={backend}", f"{JSON_FLAG}={results}", *same_steps),
        color=color,
    )


def backend_environment(environ: Mapping[str, str], backend: str, *, width: int) -> dict[str, str]:
    """The environment of one backend's run.

    ``KERAS_BACKEND`` names the backend (for code that reads it before the
    plugin decides), ``PYTEST_ADDOPTS`` loses any ``--cnnperf-backends``, and
    ``COLUMNS`` keeps this terminal's width unless it is set already.
    """
    return subsessions.run_environment(
        environ, remove=(FLAG,), width=width, extra={"KERAS_BACKEND": backend}
    )


def usage_problem(config: pytest.Config) -> str | None:
    """Why ``--cnnperf-backends`` cannot run as given, or None.

    Refused: ``--cnnperf-backend`` on the same command line, an option that
    only each backend's run can leave out when it is not among the
    command-line arguments, and a backend whose framework is not installed.
    """
    single = config.getoption("cnnperf_backend")
    if single is not None:
        return (
            f"argument {FLAG}: expected it without --cnnperf-backend, got "
            f"--cnnperf-backend={single} as well. {FLAG} runs each backend it names in a "
            "pytest process of its own; --cnnperf-backend picks the one backend of a single "
            "run. Give one of them."
        )
    unremovable = subsessions.unremovable_problem(config, FLAG, runs="Each backend's run is")
    if unremovable is not None:
        return unremovable
    return missing_framework_problem(config.getoption("cnnperf_backends") or ())


def missing_framework_problem(names: Sequence[str]) -> str | None:
    """The backends whose framework cannot be found, said before any run, or None.

    Found is not imported: a framework that is installed but fails to import
    fails its own run, whose tests then say why.
    """
    from pytest_cnnperf.backends import FRAMEWORKS, PACKAGES

    missing = [name for name in names if importlib.util.find_spec(PACKAGES[name]) is None]
    if not missing:
        return None
    described = ", ".join(f"{PACKAGES[name]!r} ({FRAMEWORKS[name]})" for name in missing)
    installs = " and ".join(f"pip install 'pytest-cnnperf[{name}]'" for name in missing)
    it = "it" if len(missing) == 1 else "them"
    return (
        f"argument {FLAG}: expected backends whose framework is installed, got "
        f"{', '.join(names)}, but {sys.executable} finds no package {described}. Install {it} "
        f"with {installs}, or leave {it} out of {FLAG}."
    )


# ------------------------------------------------------------------- one test on one backend


def step_seconds_of(outcome: TestOutcome) -> tuple[float, ...]:
    """Seconds per training step of every timed window of every run (raw, wall clock).

    A run timed per epoch (``windows=0``) gives one figure per measured epoch.
    """
    found: list[float] = []
    for run in outcome.runs:
        if run.windows:
            found.extend(w.seconds / w.steps for w in run.windows if w.steps)
        else:
            found.extend(e.seconds / e.steps for e in run.measured_epochs if e.steps)
    return tuple(x for x in found if math.isfinite(x) and x > 0)


@dataclass(frozen=True)
class BackendResult:
    """One test's figures on one backend, as the side-by-side table uses them.

    Args:
        backend: the backend's name.
        node_id: the test.
        verdict: its verdict against that backend's own baseline, or None.
        step_seconds: seconds per step of each timed window (``step_seconds_of``).
        batch_size: the last run's batch size (None without a run).
        images_per_second: median images per second of the windows.
        accuracy: held-out accuracy of the last run that measured one.
        steps_trained: training steps of the last run (windows are sized by
            time, so a slower backend trains fewer steps and its accuracy is
            not at the same point of training); None without a run.
        layer_seconds: per layer, the median seconds per profiled step (forward,
            backward and optimizer), repeats pooled; None when not measured.
        layers_note: why ``layer_seconds`` is None: the backend's reason, or
            that per-layer timing was off; None when measured or nothing ran.
        failure: why the test failed, or None.
    """

    backend: str
    node_id: str
    verdict: str | None
    step_seconds: tuple[float, ...]
    batch_size: int | None
    images_per_second: float | None
    accuracy: float | None
    steps_trained: int | None
    layer_seconds: Mapping[str, float] | None
    layers_note: str | None
    failure: str | None

    @classmethod
    def of(cls, backend: str, outcome: TestOutcome) -> BackendResult:
        import statistics

        pooled: dict[str, list[float]] = {}
        notes: list[str] = []
        for run in outcome.runs:
            if run.layers is None:
                notes.append("per-layer timing was off")
            elif run.layers.profiled:
                for name, values in run.layers.layer_samples().items():
                    pooled.setdefault(name, []).extend(values)
            else:
                notes.append(" ".join(run.layers.notes) or "no step was profiled")
        layers = (
            {name: float(statistics.median(values)) for name, values in pooled.items()}
            if pooled
            else None
        )
        last = outcome.runs[-1] if outcome.runs else None
        return cls(
            backend=backend,
            node_id=outcome.node_id,
            verdict=None if outcome.verdict is None else outcome.verdict.value,
            step_seconds=step_seconds_of(outcome),
            batch_size=None if last is None else last.batch_size,
            images_per_second=outcome.images_per_second_median,
            accuracy=outcome.accuracy,
            steps_trained=None if last is None else last.steps_trained,
            layer_seconds=layers,
            layers_note=None if layers is not None or not notes else notes[-1],
            failure=outcome.failure,
        )

    @property
    def step_seconds_median(self) -> float | None:
        from pytest_cnnperf.results import median_or_none

        return median_or_none(self.step_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "step_seconds_median": self.step_seconds_median,
            "step_samples": len(self.step_seconds),
            "batch_size": self.batch_size,
            "images_per_second_median": self.images_per_second,
            "accuracy": self.accuracy,
            "steps_trained": self.steps_trained,
            "layers_measured": self.layer_seconds is not None,
            "layers_note": self.layers_note,
            "failure": self.failure,
        }


# --------------------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class StepRatio:
    """Median seconds per step on a backend over the reference's, with its interval.

    ``low`` and ``high`` bound the central ``confidence`` share of a
    percentile bootstrap that resamples the windows of both runs;
    ``low_confidence`` is True when a side had one window (no interval).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    low_confidence: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "interval_low": self.low,
            "interval_high": self.high,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
        }


@dataclass(frozen=True)
class LayerDifference:
    """One layer's median seconds per profiled step on the reference and on a backend."""

    layer: str
    reference_seconds: float | None
    seconds: float | None

    @property
    def ratio(self) -> float | None:
        if self.reference_seconds is None or self.seconds is None or self.reference_seconds <= 0:
            return None
        return self.seconds / self.reference_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "reference_seconds": self.reference_seconds,
            "seconds": self.seconds,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class SideBySideRow:
    """One test on one backend, set against the reference backend.

    ``result`` is None when the backend's run has no outcome for the test
    (it failed to run, was skipped there, or the run wrote no results).
    ``step_ratio``, ``accuracy_change`` (this backend's accuracy less the
    reference's) and ``layers`` are empty on the reference's own row and
    wherever a side lacks the figure; ``note`` says why a ratio is missing.
    """

    node_id: str
    backend: str
    reference: str
    result: BackendResult | None
    step_ratio: StepRatio | None = None
    accuracy_change: float | None = None
    layers: tuple[LayerDifference, ...] = ()
    note: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.backend == self.reference

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "backend": self.backend,
            "reference": self.reference,
            "result": None if self.result is None else self.result.to_dict(),
            "step_ratio": None if self.step_ratio is None else self.step_ratio.to_dict(),
            "accuracy_change": self.accuracy_change,
            "layers": [layer.to_dict() for layer in self.layers],
            "note": self.note,
        }


def step_ratio(result: BackendResult, reference: BackendResult) -> StepRatio:
    """``result``'s median step time over ``reference``'s, with a bootstrap interval."""
    from pytest_cnnperf.baselines.stats import bootstrap_interval

    interval = bootstrap_interval(
        result.step_seconds, reference.step_seconds, relative=True, confidence=CONFIDENCE
    )
    return StepRatio(
        ratio=interval.change,
        low=interval.low,
        high=interval.high,
        confidence=interval.confidence,
        low_confidence=interval.low_confidence,
    )


def layer_differences(
    result: BackendResult, reference: BackendResult
) -> tuple[LayerDifference, ...]:
    """Every layer either side measured: the reference's order first, then the others."""
    if result.layer_seconds is None or reference.layer_seconds is None:
        return ()
    names = list(reference.layer_seconds)
    names += [name for name in result.layer_seconds if name not in reference.layer_seconds]
    return tuple(
        LayerDifference(name, reference.layer_seconds.get(name), result.layer_seconds.get(name))
        for name in names
    )


def _against(result: BackendResult, reference: BackendResult) -> SideBySideRow:
    accuracy_change = (
        None
        if result.accuracy is None or reference.accuracy is None
        else result.accuracy - reference.accuracy
    )
    row = SideBySideRow(
        node_id=result.node_id,
        backend=result.backend,
        reference=reference.backend,
        result=result,
        accuracy_change=accuracy_change,
        layers=layer_differences(result, reference),
    )
    note: str | None
    if not result.step_seconds or not reference.step_seconds:
        lacking = result if not result.step_seconds else reference
        # A test that failed says why under the table, with its backend's run.
        note = None if lacking.failure else f"no timed step on {lacking.backend}"
    elif result.batch_size != reference.batch_size:
        note = (
            f"batch {result.batch_size} on {result.backend}, {reference.batch_size} on "
            f"{reference.backend}: step times are not comparable"
        )
    else:
        return dataclasses.replace(row, step_ratio=step_ratio(result, reference))
    return dataclasses.replace(row, note=note)


def compare_backends(
    outcomes: Mapping[str, Sequence[TestOutcome]], order: Sequence[str]
) -> list[SideBySideRow]:
    """Each test (by node id) on each backend of ``order``, set against ``order[0]``.

    Args:
        outcomes: each backend's outcomes; a backend whose run gave none maps
            to an empty sequence (or is absent).
        order: the backends, reference first.

    Returns:
        One row per test and backend, sorted by node id, backends in ``order``.
    """
    reference = order[0]
    by_backend = {
        name: {o.node_id: BackendResult.of(name, o) for o in outcomes.get(name, ())}
        for name in order
    }
    node_ids = sorted({node for results in by_backend.values() for node in results})
    rows: list[SideBySideRow] = []
    for node in node_ids:
        base = by_backend[reference].get(node)
        for name in order:
            result = by_backend[name].get(node)
            if result is None:
                rows.append(SideBySideRow(node, name, reference, None, note=f"no result on {name}"))
            elif name == reference:
                rows.append(SideBySideRow(node, name, reference, result))
            elif base is None:
                rows.append(
                    SideBySideRow(node, name, reference, result, note=f"no result on {reference}")
                )
            else:
                rows.append(_against(result, base))
    return rows


# --------------------------------------------------------------------------- the table


def _ratio_cell(row: SideBySideRow) -> str:
    if row.is_reference and row.result is not None:
        return "reference"
    ratio = row.step_ratio
    if ratio is None:
        return "-"
    if ratio.low_confidence:
        return f"{ratio.ratio:.2f}x (one window)"
    return f"{ratio.ratio:.2f}x ({ratio.low:.2f}-{ratio.high:.2f})"


def _accuracy_cell(row: SideBySideRow) -> str:
    from pytest_cnnperf.report import format_accuracy

    accuracy = None if row.result is None else row.result.accuracy
    text = format_accuracy(accuracy)
    if row.accuracy_change is not None:
        text += f" ({row.accuracy_change * 100:+.1f}pt)"
    return text


def _layers_cell(result: BackendResult | None) -> str:
    if result is None or (result.layer_seconds is None and result.layers_note is None):
        return "-"
    if result.layer_seconds is None:
        return "off" if result.layers_note == "per-layer timing was off" else "not measured"
    return f"{len(result.layer_seconds)} layers"


#: Below this many columns the side-by-side table leaves out images/s (it is in the JSON).
NARROW_COLUMNS = 100


def side_by_side_table(
    rows: Sequence[SideBySideRow], order: Sequence[str], *, width: int = 200
) -> Table:
    """One test's lines, one per backend: step time, its ratio to the reference, accuracy.

    The test's node id is printed above the table (``render_side_by_side``),
    not in a column, so that it stays whole at any width.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from pytest_cnnperf.report import VERDICT_STYLES, format_rate

    reference = order[0]
    wide = width >= NARROW_COLUMNS
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("backend")
    table.add_column("ms/step", justify="right")
    if wide:
        table.add_column("images/s", justify="right")
    # Narrow, an interval wraps inside its cell rather than losing its end.
    table.add_column(f"vs {reference}", justify="right", overflow="fold", min_width=11)
    table.add_column("accuracy", justify="right", overflow="fold")
    table.add_column("steps", justify="right")
    table.add_column("verdict")
    table.add_column("per-layer")
    for row in rows:
        result = row.result
        step = None if result is None else result.step_seconds_median
        verdict = "no result" if result is None else (result.verdict or "-")
        rate = [format_rate(None if result is None else result.images_per_second)] if wide else []
        table.add_row(
            row.backend,
            "-" if step is None else f"{step * 1000:.3g}",
            *rate,
            _ratio_cell(row),
            _accuracy_cell(row),
            "-" if result is None or result.steps_trained is None else str(result.steps_trained),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            _layers_cell(result),
        )
    return table


def layer_comparison_table(rows: Sequence[SideBySideRow], reference: str) -> Table | None:
    """One test's per-layer times on every backend that measured them, or None (fewer than two).

    Milliseconds per profiled step (forward, backward and optimizer), and
    each backend's ratio to the reference.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    compared = [row for row in rows if row.layers]
    if not compared:
        return None
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("layer", no_wrap=True)
    table.add_column(f"{reference} ms", justify="right")
    for row in compared:
        table.add_column(f"{row.backend} ms", justify="right")
        table.add_column(f"vs {reference}", justify="right")
    names = list(dict.fromkeys(layer.layer for row in compared for layer in row.layers))
    for name in names:
        cells: list[str | Text] = [Text(name)]
        base: float | None = None
        others: list[str] = []
        for row in compared:
            layer = next((item for item in row.layers if item.layer == name), None)
            if layer is None:
                others += ["-", "-"]
                continue
            base = layer.reference_seconds if base is None else base
            ratio = layer.ratio
            others += [
                "-" if layer.seconds is None else f"{layer.seconds * 1000:.3g}",
                "-" if ratio is None else f"{ratio:.2f}x",
            ]
        cells.append("-" if base is None else f"{base * 1000:.3g}")
        table.add_row(*cells, *others)
    return table


def table_notes(rows: Sequence[SideBySideRow], order: Sequence[str]) -> list[str]:
    """What the table needs said: the interval's meaning, per-layer gaps, missing ratios."""
    lines = [
        f"vs {order[0]}: median seconds per training step over {order[0]}'s, "
        f"with a {CONFIDENCE:.0%} bootstrap interval over the timed windows of both runs. "
        "The backends ran one after the other, each in one process: the interval shows the "
        "noise between windows, not between processes or over time, and is narrower than "
        "a rerun's spread."
    ]
    unmeasured: dict[str, dict[str, None]] = {}
    for row in rows:
        result = row.result
        if result is not None and result.layer_seconds is None and result.layers_note:
            unmeasured.setdefault(result.backend, {})[result.layers_note] = None
    for backend, reasons in unmeasured.items():
        lines.append(f"Per-layer times not measured on {backend}: {' '.join(reasons)}")
    for row in rows:
        if row.note and row.result is not None:
            lines.append(f"{row.node_id} on {row.backend}: {row.note}")
    return lines


def render_side_by_side(
    rows: Sequence[SideBySideRow], order: Sequence[str], *, color: bool, width: int
) -> str:
    """The side-by-side table, its notes and any per-layer comparison, as text."""
    from rich.text import Text

    from pytest_cnnperf.report import text_console

    buffer, console = text_console(width=width, color=color)
    console.print(Text("cnnperf backends side by side", style="bold"))
    tests = {
        node_id: [row for row in rows if row.node_id == node_id]
        for node_id in dict.fromkeys(row.node_id for row in rows)
    }
    for node_id, lines in tests.items():
        # Node ids hold brackets, which rich would read as markup: Text, not str;
        # a line of its own, so that it stays whole at any width.
        console.print()
        console.print(Text(node_id), soft_wrap=True)
        console.print(side_by_side_table(lines, order, width=width))
    for line in table_notes(rows, order):
        console.print(Text(line), soft_wrap=True)
    for node_id, lines in tests.items():
        layers = layer_comparison_table(lines, order[0])
        if layers is not None:
            # A title would be wrapped to the table's width; a node id must stay whole.
            console.print(
                Text(f"{node_id}: time per layer by backend", style="bold"), soft_wrap=True
            )
            console.print(layers)
    return buffer.getvalue()


# --------------------------------------------------------------------------- one backend's run


class BackendRun(ChildRun):
    """What one backend's pytest process did (``subsessions.ChildRun``, named by its backend)."""

    @property
    def backend(self) -> str:
        return self.name


def read_run(
    backend: str,
    command: Sequence[str],
    exit_status: int,
    results: Path,
    registry: MetricRegistry,
    *,
    summary: str = "",
    interrupted: bool = False,
) -> BackendRun:
    """One backend's finished run, from its exit status and its results file.

    Args:
        registry: the session's metrics (each run has the same conftest files
            and plugins, so the same metrics).
    """
    run = BackendRun(backend, tuple(command), exit_status, summary, interrupted=interrupted)
    return subsessions.read_run(
        run,
        results,
        registry,
        missing=(
            f"The {backend} run wrote no results file ({results}), so the table has no "
            f"{backend} figures; its output above says why."
        ),
    )


# --------------------------------------------------------------------------- the combined document


def combined_document(
    runs: Sequence[BackendRun],
    rows: Sequence[SideBySideRow],
    order: Sequence[str],
    *,
    interrupted: bool,
) -> dict[str, Any]:
    """``--cnnperf-json`` of a side-by-side session: every run and the comparison."""
    return {
        "schema_version": SIDE_BY_SIDE_SCHEMA_VERSION,
        "kind": KIND,
        "interrupted": interrupted,
        "order": list(order),
        "reference": order[0],
        "backends": {run.backend: run.to_dict() for run in runs},
        "side_by_side": [row.to_dict() for row in rows],
    }


# --------------------------------------------------------------------------- the plugin


def take_over(config: pytest.Config, cfg: CnnperfConfig) -> SideBySide:
    """Make this process the controller of the backends' runs (``pytest_configure``).

    Raises:
        pytest.UsageError: ``usage_problem`` found one.
    """
    subsessions.take_over(config, usage_problem(config))
    return SideBySide(config, cfg)


class SideBySide:
    """The controlling process of ``--cnnperf-backends``; see the module docstring."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig) -> None:
        assert cfg.backends is not None
        self.config = config
        self.cfg = cfg
        self.order: tuple[str, ...] = cfg.backends
        self.runs: list[BackendRun] = []
        self.rows: list[SideBySideRow] = []
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.interrupted = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        """Collect nothing here: each backend's run collects (as xdist's controller does)."""
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        workdir = Path(tempfile.mkdtemp(prefix="cnnperf-backends-"))
        try:
            for number, name in enumerate(self.order, start=1):
                self._run(name, number, workdir)
        finally:
            outcomes = {run.backend: run.outcomes for run in self.runs}
            self.rows = compare_backends(outcomes, self.order)
            shutil.rmtree(workdir, ignore_errors=True)
        return True

    def _run(self, backend: str, number: int, workdir: Path) -> None:
        writer = self.config.get_terminal_writer()
        results = workdir / f"{backend}.json"
        args = self.config.invocation_params.args
        reference = workdir / f"{self.order[0]}.json"
        given = any(arg == STEPS_FLAG or arg.startswith(f"{STEPS_FLAG}=") for arg in args)
        command = backend_command(
            args,
            backend,
            results,
            color=writer.hasmarkup,
            # The first backend's windows for the others, unless the user named a file.
            steps_from=reference if number > 1 and reference.exists() and not given else None,
        )
        finished = subsessions.run_pytest(
            self.config,
            command,
            backend_environment(os.environ, backend, width=writer.fullwidth),
            title=f"cnnperf backend {backend} ({number} of {len(self.order)})",
        )
        from pytest_cnnperf.config import registry_for

        self.runs.append(
            read_run(
                backend,
                command,
                finished.exit_status,
                results,
                registry_for(self.config),
                summary=finished.summary,
                interrupted=finished.interrupted,
            )
        )
        if finished.interrupted:
            # The run got the same Ctrl-C and finished its interrupted session: stop here.
            raise KeyboardInterrupt

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or any(
            run.interrupted for run in self.runs
        )
        self.interrupted = interrupted
        failed = [run for run in self.runs if not run.ok]
        if self.cfg.json_path is not None and self.runs:
            self._write(interrupted)
        if interrupted:
            return
        missing = [name for name in self.order if name not in {run.backend for run in self.runs}]
        if failed or missing or self.errors:
            first = next((run.exit_status for run in failed if run.exit_status), 1)
            session.exitstatus = first
        else:
            session.exitstatus = pytest.ExitCode.OK

    def _write(self, interrupted: bool) -> None:
        from pytest_cnnperf.atomicfile import write_text_atomically
        from pytest_cnnperf.jsonreport import _unwritten_message, serialize

        path = self.cfg.json_path
        assert path is not None
        text = serialize(
            combined_document(self.runs, self.rows, self.order, interrupted=interrupted)
        )
        try:
            write_text_atomically(path, text)
        except OSError as error:
            # Said as for a results file: why, and the temporary file that holds the text.
            self.errors.append(_unwritten_message(path, error, text))
            return
        self.notes.append(f"cnnperf results of every backend's run written to {path}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.runs:
            return
        terminalreporter.write_sep("=", "cnnperf backends")
        if self.rows:
            terminalreporter.write(
                render_side_by_side(
                    self.rows,
                    self.order,
                    color=terminalreporter.hasmarkup,
                    width=self.config.get_terminal_writer().fullwidth,
                )
            )
        else:
            terminalreporter.write_line("No backend's run gave a cnnperf result to compare.")
        for run in self.runs:
            terminalreporter.write_line(run.status_line(), red=not run.ok)
            if run.problem:
                terminalreporter.write_line(f"  {run.problem}")
            for line in run.failure_lines():
                terminalreporter.write_line(line)
        for line in (*self.notes, *self.errors):
            terminalreporter.write_line(line)
        failed = [run.backend for run in self.runs if not run.ok]
        if self.interrupted:
            left = [name for name in self.order if name not in {run.backend for run in self.runs}]
            terminalreporter.write_line(
                f"Interrupted during the {self.runs[-1].backend} run"
                + (f"; {' and '.join(left)} did not run." if left else "."),
                red=True,
            )
        elif failed:
            terminalreporter.write_line(
                f"The {' and '.join(failed)} run{'s' if len(failed) > 1 else ''} failed, so "
                "this session fails.",
                red=True,
            )
        subsessions.count_runs(terminalreporter, self.runs, "backend run")
