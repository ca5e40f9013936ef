"""The terminal summary: rich tables rendered to text for pytest's terminal reporter.

``TerminalSummary`` is an implementation of ``pytest_cnnperf_session_finish``
like any other report; it prints in ``pytest_terminal_summary``. rich is
imported only when a summary is printed. The text goes through the terminal
reporter, so ``-q``, ``--color`` and ``-p no:terminal`` apply.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from rich.console import Console
    from rich.table import Table

    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult
    from pytest_cnnperf.session import SessionReport

VERDICT_STYLES = {
    "pass": "green",
    "improved": "bold green",
    "new": "cyan",
    "unstable": "yellow",
    "regressed": "bold red",
    "failed": "red",
}


def format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    from pytest_cnnperf.metrics import format_seconds as seconds

    return seconds(value)


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_params(value: int) -> str:
    return f"{value:,}"


def baseline_change(outcome: TestOutcome) -> str:
    """``1.07x of 52.1 ms, -0.4pt accuracy`` from the comparison, or ``-`` without one."""
    comparison = outcome.comparison
    if comparison is None:
        return "-"
    parts = []
    for compared in comparison.metrics:
        metric = compared.metric
        if metric.relative:
            parts.append(f"{compared.change:.2f}x of {metric.format_cell(compared.baseline)}")
        elif metric.fraction:
            parts.append(f"{compared.change * 100:+.1f}pt {metric.name}")
        else:
            parts.append(f"{metric.format_change_short(compared.change)} {metric.name}")
    return ", ".join(parts) or "-"


def epoch_table(outcome: TestOutcome, run: TrainResult, run_number: int) -> Table:
    """Per-epoch table of one run; warm-up epochs marked and kept out of the median."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{outcome.node_id}"
    if len(outcome.runs) > 1:
        title += f" (run {run_number} of {len(outcome.runs)})"
    caption = (
        f"{run.model} on {run.dataset} ({run.data_source} data), {format_params(run.params)} "
        f"params, batch {run.batch_size}, {run.device}; "
    )
    if run.windows:
        step = run.step_seconds_median
        kernel = run.calibration_seconds_median
        caption += (
            f"{len(run.windows)} timed windows of {run.windows[0].steps} steps, median "
            f"{format_seconds(step) if step is not None else '-'} a step, reference kernel "
            f"{format_seconds(kernel) if kernel is not None else '-'}"
        )
    elif run.epoch_seconds_median is not None:
        caption += f"median of measured epochs {format_seconds(run.epoch_seconds_median)}"
    # Node ids hold brackets, which rich would read as markup: pass Text, not str.
    table = Table(
        title=Text(title, style="bold"),
        caption=Text(caption),
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("epoch", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("images/s", justify="right")
    table.add_column("loss", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("", justify="left")
    for epoch in run.epochs:
        table.add_row(
            str(epoch.index),
            f"{epoch.seconds:.3f}",
            str(epoch.steps),
            format_rate(epoch.images_per_second),
            f"{epoch.loss:.4f}",
            format_accuracy(epoch.accuracy),
            "warm-up" if epoch.warmup else "",
            style="dim" if epoch.warmup else None,
        )
    return table


def _ms_cell(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def compact_shape(shape: str) -> str:
    """``(None, 32, 32, 16)`` -> ``32x32x16``: a shape without its batch dimension."""
    inner = shape.strip("()").split(",")
    dims = [d.strip() for d in inner[1:] if d.strip()]
    return "x".join(dims) if dims else shape


#: Below this width the per-layer table leaves out the type and GFLOP/s columns.
LAYER_TABLE_WIDTH = 104


def layer_table(
    outcome: TestOutcome, run: TrainResult, run_number: int, *, compact: bool = False
) -> Table | None:
    """The per-layer table of one run's profiled window, or None without a profiled one."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from pytest_cnnperf.layerprofile import coverage_line

    profile = run.layers
    if profile is None or not profile.profiled:
        return None
    title = f"{outcome.node_id}: time per layer"
    if len(outcome.runs) > 1:
        title += f" (run {run_number} of {len(outcome.runs)})"
    table = Table(
        title=Text(title, style="bold"),
        caption=Text(coverage_line(profile)),
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    # Layer names are what a reader looks for: never folded (others give way).
    table.add_column("layer", no_wrap=True)
    if not compact:
        table.add_column("type", overflow="fold")
    table.add_column("output", overflow="fold")
    table.add_column("params", justify="right")
    table.add_column("fwd ms", justify="right")
    table.add_column("bwd ms", justify="right")
    table.add_column("opt ms", justify="right")
    table.add_column("share", justify="right")
    if not compact:
        table.add_column("GFLOP/s", justify="right")
    for row in profile.rows():
        cells: list[Text | str] = [
            Text(row.name),
            *([] if compact else [Text(row.kind)]),
            Text(compact_shape(row.output_shape)),
            "-" if row.params is None else format_params(row.params),
            _ms_cell(row.forward_seconds),
            _ms_cell(row.backward_seconds),
            _ms_cell(row.optimizer_seconds),
            f"{row.share:.1%}",
        ]
        if not compact:
            rate = row.flops_per_second
            cells.append("-" if rate is None else f"{rate / 1e9:.3g}")
        table.add_row(*cells, style="dim" if row.folded else None)
    step = profile.step_median
    blank = [""] * (len(table.columns) - 3)
    shown = [c for c in profile.categories if not c.covered or any(c.seconds)]
    for index, category in enumerate(shown):
        seconds = statistics.median(category.seconds) if category.seconds else 0.0
        share = f"{seconds / step:.1%}" if step > 0 else "-"
        note = "" if category.covered else "not covered"
        if compact:
            # The second column is the narrow output shape: the note goes beside the name.
            name = category.name + (f" ({note})" if note else "")
            cells = [Text(name), "", *blank]
        else:
            cells = [Text(category.name), note, *blank]
        cells.insert(len(cells) - (0 if compact else 1), share)
        table.add_row(*cells, style="italic", end_section=index == len(shown) - 1)
    step_cells: list[Text | str] = [Text("step"), "", *blank]
    step_cells.insert(len(step_cells) - (0 if compact else 1), f"{step * 1000:.2f} ms")
    table.add_row(*step_cells)
    return table


#: Below this width the summary numbers its rows and lists the node ids under
#: the table, one a line: a long id folded into a narrow column is unreadable.
COMPACT_WIDTH = 140


def summary_table(
    outcomes: Sequence[TestOutcome], registry: MetricRegistry, *, compact: bool = False
) -> Table:
    """One line per test: model, data set, params, each metric's median, images/s, verdict."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # A figure that is only recorded (GPU telemetry) gets a column only when
    # some test has it: a CPU run's table is not padded with empty GPU columns.
    present = {name for outcome in outcomes for name in outcome.samples(registry)}
    shown = [
        metric for metric in registry if metric.column and (metric.judged or metric.name in present)
    ]
    table = Table(title="cnnperf summary", title_justify="left", box=box.SIMPLE_HEAD)
    if compact:
        table.add_column("#", justify="right")
    else:
        table.add_column("test", overflow="fold")
        table.add_column("model")
        table.add_column("data set")
    table.add_column("params", justify="right")
    for metric in shown:
        table.add_column(metric.column or metric.name, justify="right")
        if metric.name == "step_time":
            # Derived from the windows: shown beside the judged figure, never judged.
            table.add_column("images/s", justify="right")
    table.add_column("vs baseline", justify="right")
    table.add_column("verdict")
    for number, outcome in enumerate(outcomes, start=1):
        run = outcome.runs[-1] if outcome.runs else None
        dataset = outcome.dataset or (run.dataset if run else "")
        if run is not None and run.data_source == "synthetic":
            dataset += " (synthetic)"
        names = (
            [Text(str(number))]
            if compact
            else [
                Text(outcome.node_id),
                Text(outcome.model or (run.model if run else "")),
                Text(dataset),
            ]
        )
        medians = outcome.medians(registry)
        figures: list[str] = []
        for metric in shown:
            figures.append(metric.format_cell(medians.get(metric.name)))
            if metric.name == "step_time":
                figures.append(format_rate(outcome.images_per_second_median))
        verdict = outcome.verdict.value if outcome.verdict is not None else "-"
        table.add_row(
            *names,
            format_params(run.params) if run else "-",
            *figures,
            baseline_change(outcome),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        )
    return table


def compact_legend(outcomes: Sequence[TestOutcome]) -> list[str]:
    """The node ids of a compact summary, numbered as its rows."""
    return [
        f"{number:>4}  {outcome.node_id}" + (" (synthetic data)" if outcome.synthetic else "")
        for number, outcome in enumerate(outcomes, start=1)
    ]


def text_console(*, width: int, color: bool) -> tuple[io.StringIO, Console]:
    """A rich console that renders into a string buffer, for pytest's terminal."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=max(width, 60),
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    return buffer, console


def render_summary(
    outcomes: Sequence[TestOutcome],
    registry: MetricRegistry,
    *,
    color: bool,
    width: int,
    epoch_tables: bool,
) -> str:
    """Render the per-epoch tables (unless quiet) and the summary table to text."""
    from rich.text import Text

    buffer, console = text_console(width=width, color=color)
    if epoch_tables:
        for outcome in outcomes:
            for number, run in enumerate(outcome.runs, start=1):
                console.print(epoch_table(outcome, run, number))
                if run.fallback_reason:
                    console.print(
                        Text(f"  synthetic data stood in for {run.dataset}: {run.fallback_reason}")
                    )
                layers = layer_table(outcome, run, number, compact=width < LAYER_TABLE_WIDTH)
                if layers is not None:
                    console.print(layers)
                elif run.layers is not None and run.layers.notes:
                    console.print(Text("  " + " ".join(run.layers.notes)), soft_wrap=True)
    compact = width < COMPACT_WIDTH
    console.print(summary_table(outcomes, registry, compact=compact))
    if compact:
        for line in compact_legend(outcomes):
            console.print(Text(line), soft_wrap=True)
    return buffer.getvalue()


class TerminalSummary:
    """Prints the session's outcomes, then the notes and errors of the writers."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.report: SessionReport | None = None

    def pytest_cnnperf_session_finish(self, report: SessionReport) -> None:
        self.report = report

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = self.report
        if report is None:
            return
        if report.outcomes:
            text = render_summary(
                report.outcomes,
                report.registry,
                color=terminalreporter.hasmarkup,
                width=self.config.get_terminal_writer().fullwidth,
                epoch_tables=self.config.get_verbosity() >= 0,
            )
            terminalreporter.write_sep("=", "cnnperf")
            terminalreporter.write(text)
        for line in (*report.notes, *report.errors):
            terminalreporter.write_line(line)
        if report.errors:
            # pytest prints the keys of its stats it does not know in its last line: a
            # session that failed only for a file that was not written must not end
            # with "1 passed".
            count = len(report.errors)
            key = "cnnperf error" if count == 1 else "cnnperf errors"
            entries = terminalreporter.stats.setdefault(key, [])
            entries.extend(SummaryError(message) for message in report.errors)


class SummaryError:
    """One cnnperf error among pytest's terminal stats, where reports are kept.

    Other plugins read every entry there as a report (Hypothesis's reads its
    ``__dict__``), so this is an object with attributes, not a string.
    """

    nodeid = ""
    count_towards_summary = True

    def __init__(self, message: str) -> None:
        self.message = message
