"""Rich tables rendered to text for pytest's terminal reporter.

rich is imported here only, when a summary is printed. The text goes through
the terminal reporter, so ``-q``, ``--color`` and ``-p no:terminal`` apply.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_cnnperf.results import TestRecord, TrainResult

if TYPE_CHECKING:
    from rich.table import Table

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
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_params(value: int) -> str:
    return f"{value:,}"


def baseline_change(record: TestRecord) -> str:
    """``1.07x of 52.1 ms, -0.4pt`` from the comparison, or ``-`` without a baseline."""
    metrics = record.comparison.get("metrics") or {}
    parts = []
    epoch = metrics.get("epoch_seconds")
    if epoch and epoch.get("baseline") is not None and epoch.get("change") is not None:
        parts.append(f"{epoch['change']:.2f}x of {format_seconds(epoch['baseline'])}")
    accuracy = metrics.get("accuracy")
    if accuracy and accuracy.get("change") is not None:
        parts.append(f"{accuracy['change'] * 100:+.1f}pt acc")
    return ", ".join(parts) or "-"


def epoch_table(record: TestRecord, run: TrainResult, run_number: int) -> Table:
    """Per-epoch table of one run; warm-up epochs marked and kept out of the median."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{record.node_id}"
    if len(record.runs) > 1:
        title += f" (run {run_number} of {len(record.runs)})"
    caption = (
        f"{run.model} on {run.dataset} ({run.data_source} data), {format_params(run.params)} "
        f"params, batch {run.batch_size}, {run.device}; median of measured epochs "
        f"{format_seconds(run.epoch_seconds_median)}"
    )
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


#: Below this width the summary numbers its rows and lists the node ids under
#: the table, one a line: a long id folded into a narrow column is unreadable.
COMPACT_WIDTH = 140


def summary_table(records: Sequence[TestRecord], *, compact: bool = False) -> Table:
    """One line per test: model, data set, params, median epoch, images/s, accuracy, verdict."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="cnnperf summary", title_justify="left", box=box.SIMPLE_HEAD)
    if compact:
        table.add_column("#", justify="right")
    else:
        table.add_column("test", overflow="fold")
        table.add_column("model")
        table.add_column("data set")
    table.add_column("params", justify="right")
    table.add_column("median epoch", justify="right")
    table.add_column("images/s", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("vs baseline", justify="right")
    table.add_column("verdict")
    for number, record in enumerate(records, start=1):
        run = record.runs[-1] if record.runs else None
        dataset = record.dataset or (run.dataset if run else "")
        if run is not None and run.data_source == "synthetic":
            dataset += " (synthetic)"
        names = (
            [Text(str(number))]
            if compact
            else [
                Text(record.node_id),
                Text(record.model or (run.model if run else "")),
                Text(dataset),
            ]
        )
        verdict = record.verdict
        table.add_row(
            *names,
            format_params(run.params) if run else "-",
            format_seconds(record.epoch_seconds_median),
            format_rate(record.images_per_second_median),
            format_accuracy(record.accuracy),
            baseline_change(record),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        )
    return table


def compact_legend(records: Sequence[TestRecord]) -> list[str]:
    """The node ids of a compact summary, numbered as its rows."""
    lines = []
    for number, record in enumerate(records, start=1):
        synthetic = any(run.data_source == "synthetic" for run in record.runs)
        lines.append(f"{number:>4}  {record.node_id}" + (" (synthetic data)" if synthetic else ""))
    return lines


def render_summary(
    records: Sequence[TestRecord], *, color: bool, width: int, epoch_tables: bool
) -> str:
    """Render the per-epoch tables (unless quiet) and the summary table to text."""
    from rich.console import Console
    from rich.text import Text

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
    if epoch_tables:
        for record in records:
            for number, run in enumerate(record.runs, start=1):
                console.print(epoch_table(record, run, number))
                if run.fallback_reason:
                    console.print(
                        Text(f"  synthetic data stood in for {run.dataset}: {run.fallback_reason}")
                    )
    compact = width < COMPACT_WIDTH
    console.print(summary_table(records, compact=compact))
    if compact:
        for line in compact_legend(records):
            console.print(Text(line), soft_wrap=True)
    return buffer.getvalue()
