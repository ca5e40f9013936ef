"""``--cnnperf-backends``: each backend in its own pytest process, set side by side.

Unit tests of the comparison, the table and the combined document on
hand-made outcomes (no training), of the command line each backend's run
gets, and of every message; then ``pytester`` runs in subprocesses (a
backend cannot be switched inside one process): plain tests for what the
controlling process does with its runs, and one tiny model trained on
TensorFlow and JAX for the table and the combined results file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from test_acceptance import TINY

from pytest_cnnperf import sidebyside, subsessions
from pytest_cnnperf.baselines import Verdict
from pytest_cnnperf.jsonreport import ResultsError, document_for, load_results, serialize
from pytest_cnnperf.layerprofile import LayerProfile, LayerTiming
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import EpochResult, TrainResult, WindowResult
from pytest_cnnperf.sidebyside import (
    BackendRun,
    compare_backends,
    render_side_by_side,
)

if TYPE_CHECKING:
    from conftest import ResultsReader

NODE = "suites/test_seed000.py::test_mnist_benchmark_cnn[mnist_benchmark_cnn-mnist]"
OTHER = "suites/test_seed000.py::test_cifar10_benchmark_cnn[cifar10_benchmark_cnn-cifar10]"
NO_LAYERS = "Per-layer timing skipped: one training step (0.5 s) would add more than 8% to it."

# --------------------------------------------------------------------------- hand-made outcomes


def _profile(seconds: dict[str, float]) -> LayerProfile:
    """Three profiled steps; each layer's forward time is its whole time."""
    return LayerProfile(
        step_seconds=(0.01, 0.01, 0.01),
        layers=tuple(
            LayerTiming(name, "Conv2D", "(None, 8, 8, 4)", 40, (s, s, s), (0.0,) * 3, (0.0,) * 3)
            for name, s in seconds.items()
        ),
    )


#: The pytester runs that train on JAX; without JAX (pip install 'pytest-cnnperf[jax]')
#: they are skipped, as every test that needs a framework that is not installed.
NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed"
)


def _outcome(
    step_ms: Sequence[float],
    *,
    node_id: str = NODE,
    accuracy: float | None = 0.9,
    batch_size: int = 32,
    layers: LayerProfile | None = None,
    verdict: Verdict = Verdict.NEW,
) -> TestOutcome:
    """A test whose one run had windows of 10 steps at ``step_ms`` milliseconds a step."""
    windows = tuple(
        WindowResult(i, ms / 100, 10, 10 * batch_size, 0.5, 0.002)
        for i, ms in enumerate(step_ms, start=1)
    )
    run = TrainResult(
        model="tiny",
        dataset="synthetic",
        data_source="synthetic",
        params=330,
        batch_size=batch_size,
        epochs=(EpochResult(1, 1.0, 16, 512, 0.7, {"accuracy": 0.5}, warmup=True),),
        accuracy=accuracy,
        test_images=128,
        device="/device:CPU:0",
        windows=windows,
        layers=layers,
    )
    return TestOutcome(node_id, "tiny", "synthetic", runs=(run,), verdict=verdict)


TF_LAYERS = _profile({"conv": 0.004, "flatten": 0.0005, "head": 0.002})
TF = _outcome([10.0, 10.2, 9.8, 10.1, 9.9], accuracy=0.90, layers=TF_LAYERS)
JAX = _outcome(
    [5.0, 5.1, 4.9, 5.05, 4.95],
    accuracy=0.86,
    layers=LayerProfile.skipped(NO_LAYERS),
    verdict=Verdict.PASS,
)

# --------------------------------------------------------------------------- command lines


def test_without_option_removes_both_forms_and_counts_them() -> None:
    args = ["suites/", "--cnnperf-backends=tensorflow,jax", "-x", "--cnnperf-backends", "jax,torch"]
    assert subsessions.without_option(args, "--cnnperf-backends") == (["suites/", "-x"], 2)
    assert subsessions.without_option(["--cnnperf-backendsx"], "--cnnperf-backends") == (
        ["--cnnperf-backendsx"],
        0,
    )


def test_each_backend_run_gets_the_arguments_less_the_backends_and_its_own_results_file(
    tmp_path: Path,
) -> None:
    args = (
        "suites/",
        "-n",
        "2",
        "--cnnperf-backends=tensorflow,jax",
        "--cnnperf-json",
        "out.json",
        "--cnnperf-update-baselines",
    )
    command = sidebyside.backend_command(args, "jax", tmp_path / "jax.json", color=False)
    assert command == [
        sys.executable,
        "-m",
        "pytest",
        "suites/",
        "-n",
        "2",
        "--cnnperf-update-baselines",
        "--cnnperf-backend=jax",
        f"--cnnperf-json={tmp_path / 'jax.json'}",
    ]
    same = sidebyside.backend_command(
        args, "jax", tmp_path / "jax.json", color=False, steps_from=tmp_path / "tensorflow.json"
    )
    assert same == [*command, f"--cnnperf-steps-from={tmp_path / 'tensorflow.json'}"]
    coloured = sidebyside.backend_command(args, "jax", tmp_path / "jax.json", color=True)
    assert "--color=yes" in coloured
    chosen = sidebyside.backend_command(("--color=no",), "jax", tmp_path / "jax.json", color=True)
    assert "--color=yes" not in chosen


def test_each_backend_run_has_its_backend_in_the_environment_and_no_backends_in_addopts() -> None:
    environ = {"PYTEST_ADDOPTS": "-x --cnnperf-backends tensorflow,jax -q", "COLUMNS": "120"}
    env = sidebyside.backend_environment(environ, "torch", width=80)
    assert env["KERAS_BACKEND"] == "torch"
    assert env["PYTEST_ADDOPTS"] == "-x -q"
    assert env["COLUMNS"] == "120"
    assert sidebyside.backend_environment({}, "jax", width=99)["COLUMNS"] == "99"


def test_a_backend_whose_framework_is_not_installed_is_refused_before_any_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes importlib.util.find_spec report the package as absent.
    monkeypatch.setitem(sys.modules, "torch", None)
    assert sidebyside.missing_framework_problem(("tensorflow",)) is None
    assert sidebyside.missing_framework_problem(("tensorflow", "torch")) == (
        "argument --cnnperf-backends: expected backends whose framework is installed, got "
        f"tensorflow, torch, but {sys.executable} finds no package 'torch' (PyTorch). Install "
        "it with pip install 'pytest-cnnperf[torch]', or leave it out of --cnnperf-backends."
    )
    monkeypatch.setitem(sys.modules, "jax", None)
    assert sidebyside.missing_framework_problem(("jax", "torch")) == (
        "argument --cnnperf-backends: expected backends whose framework is installed, got "
        f"jax, torch, but {sys.executable} finds no package 'jax' (JAX), 'torch' (PyTorch). "
        "Install them with pip install 'pytest-cnnperf[jax]' and pip install "
        "'pytest-cnnperf[torch]', or leave them out of --cnnperf-backends."
    )


# --------------------------------------------------------------------------- the comparison


def test_each_backend_is_set_against_the_first_with_an_interval_over_the_windows() -> None:
    tf_row, jax_row = compare_backends({"tensorflow": [TF], "jax": [JAX]}, ("tensorflow", "jax"))
    assert tf_row.is_reference and tf_row.step_ratio is None and tf_row.accuracy_change is None
    assert tf_row.result is not None and tf_row.result.step_seconds_median == pytest.approx(0.010)
    ratio = jax_row.step_ratio
    assert ratio is not None and not ratio.low_confidence
    assert ratio.ratio == pytest.approx(0.5)
    assert ratio.low <= ratio.ratio <= ratio.high and ratio.confidence == 0.90
    assert ratio.low > 0.45 and ratio.high < 0.55
    assert jax_row.accuracy_change == pytest.approx(-0.04)
    assert jax_row.result is not None and jax_row.result.verdict == "pass"
    # JAX measured no per-layer times: no differences, and the backend's reason kept.
    assert jax_row.layers == ()
    assert jax_row.result.layer_seconds is None and jax_row.result.layers_note == NO_LAYERS
    assert tf_row.result.layer_seconds == pytest.approx(
        {"conv": 0.004, "flatten": 0.0005, "head": 0.002}
    )


def test_per_layer_differences_where_both_backends_measured_them() -> None:
    other = _outcome([5.0, 5.0], layers=_profile({"conv": 0.001, "head": 0.004, "extra": 0.001}))
    _, row = compare_backends({"tensorflow": [TF], "torch": [other]}, ("tensorflow", "torch"))
    by_name = {layer.layer: layer for layer in row.layers}
    assert list(by_name) == ["conv", "flatten", "head", "extra"]
    assert by_name["conv"].ratio == pytest.approx(0.25)
    assert by_name["head"].ratio == pytest.approx(2.0)
    assert by_name["flatten"].seconds is None and by_name["flatten"].ratio is None
    assert by_name["extra"].reference_seconds is None


def test_tests_are_matched_by_node_id_and_a_missing_one_says_on_which_backend() -> None:
    only_jax = _outcome([4.0, 4.0], node_id=OTHER)
    rows = compare_backends({"tensorflow": [TF], "jax": [JAX, only_jax]}, ("tensorflow", "jax"))
    assert [(row.node_id, row.backend) for row in rows] == [
        (OTHER, "tensorflow"),
        (OTHER, "jax"),
        (NODE, "tensorflow"),
        (NODE, "jax"),
    ]
    assert rows[0].result is None and rows[0].note == "no result on tensorflow"
    assert rows[1].step_ratio is None and rows[1].note == "no result on tensorflow"
    # A backend whose run gave no results at all has a row per test, each without a result.
    (_, torch_row) = compare_backends({"tensorflow": [TF]}, ("tensorflow", "torch"))
    assert torch_row.result is None and torch_row.note == "no result on torch"


def test_no_ratio_between_different_batch_sizes_or_without_timed_steps() -> None:
    bigger = _outcome([20.0, 20.0], batch_size=64)
    _, row = compare_backends({"tensorflow": [TF], "jax": [bigger]}, ("tensorflow", "jax"))
    assert row.step_ratio is None
    assert row.note == "batch 64 on jax, 32 on tensorflow: step times are not comparable"
    untimed = _outcome([])
    _, row = compare_backends({"tensorflow": [TF], "jax": [untimed]}, ("tensorflow", "jax"))
    assert row.step_ratio is None and row.note == "no timed step on jax"


def test_a_run_timed_per_epoch_is_compared_on_its_measured_epochs() -> None:
    run = TrainResult(
        model="tiny",
        dataset="synthetic",
        data_source="synthetic",
        params=330,
        batch_size=32,
        epochs=(
            EpochResult(1, 9.0, 10, 320, 0.7, {}, warmup=True),
            EpochResult(2, 0.2, 10, 320, 0.6, {}, warmup=False),
            EpochResult(3, 0.1, 10, 320, 0.5, {}, warmup=False),
        ),
        accuracy=None,
        test_images=0,
        device="cpu:0",
    )
    assert sidebyside.step_seconds_of(TestOutcome(NODE, runs=(run,))) == pytest.approx((0.02, 0.01))
    assert run.steps_trained == 30
    # The measured epochs as windows (what per-epoch timing records) are not counted twice.
    as_windows = dataclasses.replace(
        run,
        windows=(
            WindowResult(1, 0.2, 10, 320, 0.6, None),
            WindowResult(2, 0.1, 10, 320, 0.5, None),
        ),
    )
    assert as_windows.steps_trained == 30
    assert TF.runs[0].steps_trained == 16 + 5 * 10


# --------------------------------------------------------------------------- the table


def test_the_table_has_one_line_per_test_and_backend_and_says_what_was_not_measured() -> None:
    rows = compare_backends({"tensorflow": [TF], "jax": [JAX]}, ("tensorflow", "jax"))
    text = render_side_by_side(rows, ("tensorflow", "jax"), color=False, width=200)
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0].strip() == "cnnperf backends side by side"
    # The node id is a line of its own above its test's table, whole at any width.
    header = next(line for line in lines if "backend" in line and "ms/step" in line)
    assert lines.index(header) > lines.index(NODE)
    assert header.split() == [
        "backend",
        "ms/step",
        "images/s",
        "vs",
        "tensorflow",
        "accuracy",
        "steps",
        "verdict",
        "per-layer",
    ]
    tf_line = next(line for line in lines if line.split()[:1] == ["tensorflow"])
    assert tf_line.split() == [
        *("tensorflow", "10", "3,200", "reference", "0.9000", "66", "new", "3", "layers")
    ]
    jax_line = next(line for line in lines if line.split()[:1] == ["jax"])
    cells = jax_line.split()
    assert cells[:4] == ["jax", "5", "6,400", "0.50x"]
    # 16 warm-up steps and 5 windows of 10: windows are sized by time, so the
    # column says how far each backend trained before its accuracy.
    assert cells[5:] == ["0.8600", "(-4.0pt)", "66", "pass", "not", "measured"]
    assert (
        "vs tensorflow: median seconds per training step over tensorflow's, with a 90% "
        "bootstrap interval over the timed windows of both runs." in text
    )
    assert "the interval shows the noise between windows, not between processes" in text
    assert f"Per-layer times not measured on jax: {NO_LAYERS}" in lines
    # Only TensorFlow measured layers: no per-layer comparison table.
    assert "time per layer by backend" not in text


def test_at_80_columns_the_node_id_stays_whole_and_images_per_second_is_left_out() -> None:
    # A CI log is 80 columns wide: the node id must not fold into the table.
    rows = compare_backends({"tensorflow": [TF], "jax": [JAX]}, ("tensorflow", "jax"))
    text = render_side_by_side(rows, ("tensorflow", "jax"), color=False, width=80)
    lines = [line.rstrip() for line in text.splitlines()]
    assert NODE in lines
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["backend", "ms/step"])
    assert header > lines.index(NODE)
    assert "images/s" not in text and "…" not in text  # nothing cut off
    table = [line for line in lines if line.startswith("  ") or line.startswith(" ─")]
    assert table and max(len(line) for line in table) <= 80  # notes are soft-wrapped lines
    wide = render_side_by_side(rows, ("tensorflow", "jax"), color=False, width=100)
    assert "images/s" in wide


def test_a_per_layer_table_where_two_backends_measured_layers() -> None:
    other = _outcome([5.0, 5.0], layers=_profile({"conv": 0.001, "flatten": 0.0005, "head": 0.004}))
    rows = compare_backends({"tensorflow": [TF], "torch": [other]}, ("tensorflow", "torch"))
    text = render_side_by_side(rows, ("tensorflow", "torch"), color=False, width=200)
    lines = [line.split() for line in text.splitlines()]
    assert [f"{NODE}:", "time", "per", "layer", "by", "backend"] in lines
    assert ["layer", "tensorflow", "ms", "torch", "ms", "vs", "tensorflow"] in lines
    assert ["conv", "4", "1", "0.25x"] in lines
    assert ["head", "2", "4", "2.00x"] in lines


def test_notes_name_each_missing_ratio() -> None:
    bigger = _outcome([20.0, 20.0], batch_size=64)
    rows = compare_backends({"tensorflow": [TF], "jax": [bigger]}, ("tensorflow", "jax"))
    text = render_side_by_side(rows, ("tensorflow", "jax"), color=False, width=200)
    assert (
        f"{NODE} on jax: batch 64 on jax, 32 on tensorflow: step times are not comparable"
        in text.splitlines()
    )


# --------------------------------------------------------------------------- runs and the document


def _write_results(path: Path, outcomes: Sequence[TestOutcome]) -> None:
    registry = MetricRegistry()
    document = document_for(outcomes, registry, environment={"software": {}}, interrupted=False)
    path.write_text(serialize(document))


def test_a_run_is_read_from_its_results_file(tmp_path: Path) -> None:
    _write_results(tmp_path / "jax.json", [JAX])
    run = sidebyside.read_run(
        "jax", ["pytest"], 0, tmp_path / "jax.json", MetricRegistry(), summary="1 passed in 2s"
    )
    assert run.ok and run.problem is None
    assert run.outcomes[0].node_id == NODE and run.document is not None
    assert run.status_line() == "jax: 1 passed in 2s (exit status 0)"


def test_a_run_without_a_results_file_or_with_a_broken_one_says_so(tmp_path: Path) -> None:
    missing = sidebyside.read_run("jax", ["pytest"], 4, tmp_path / "jax.json", MetricRegistry())
    assert not missing.ok
    assert missing.problem == (
        f"The jax run wrote no results file ({tmp_path / 'jax.json'}), so the table has no jax "
        "figures; its output above says why."
    )
    assert missing.status_line() == "jax: (exit status 4: usage error)"
    (tmp_path / "torch.json").write_text("{")
    broken = sidebyside.read_run("torch", ["pytest"], 0, tmp_path / "torch.json", MetricRegistry())
    assert not broken.ok and broken.problem is not None
    assert broken.problem.startswith(
        f"The results file {tmp_path / 'torch.json'} is not valid JSON"
    )


def test_failed_tests_of_a_run_are_listed_with_each_reason_said_once() -> None:
    reason = "The jax backend was selected (KERAS_BACKEND=jax), but jax cannot be imported."
    failed = [
        TestOutcome(node, verdict=Verdict.FAILED, failure=f"{reason}\nsecond line")
        for node in (NODE, OTHER)
    ]
    run = BackendRun("jax", ("pytest",), 1, "2 errors in 1.0s", outcomes=tuple(failed))
    assert run.status_line() == "jax: 2 errors in 1.0s (exit status 1: tests failed)"
    assert run.failure_lines() == [f"  jax failed 2 tests ({NODE}, {OTHER}): {reason}"]
    one = BackendRun("jax", ("pytest",), 1, outcomes=(failed[0],))
    assert one.failure_lines() == [f"  jax failed {NODE}: {reason}"]


def test_the_combined_document_holds_every_run_and_the_comparison(tmp_path: Path) -> None:
    _write_results(tmp_path / "tensorflow.json", [TF])
    registry = MetricRegistry()
    runs = [
        sidebyside.read_run("tensorflow", ["pytest"], 0, tmp_path / "tensorflow.json", registry),
        sidebyside.read_run("jax", ["pytest"], 4, tmp_path / "jax.json", registry),
    ]
    order = ("tensorflow", "jax")
    rows = compare_backends({run.backend: run.outcomes for run in runs}, order)
    document = json.loads(
        serialize(sidebyside.combined_document(runs, rows, order, interrupted=False))
    )
    assert document["schema_version"] == 1 and document["kind"] == "backends"
    assert document["order"] == ["tensorflow", "jax"] and document["reference"] == "tensorflow"
    tf, jax = document["backends"]["tensorflow"], document["backends"]["jax"]
    assert tf["exit_status"] == 0 and tf["problem"] is None
    assert tf["results"]["tests"][0]["node_id"] == NODE
    assert (
        jax["exit_status"] == 4 and jax["results"] is None and "no results file" in jax["problem"]
    )
    assert [(row["backend"], row["note"]) for row in document["side_by_side"]] == [
        ("tensorflow", None),
        ("jax", "no result on jax"),
    ]
    assert document["side_by_side"][0]["result"]["layers_measured"] is True
    path = tmp_path / "both.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ResultsError) as raised:
        load_results(path, registry)
    assert str(raised.value) == (
        f"The results file {path} is the side-by-side document of --cnnperf-backends, not one "
        "session's results: each backend's results document is its backends.<name>.results "
        "(docs/results-json.md)."
    )


def test_a_combined_document_that_cannot_be_written_is_an_error_of_the_session(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "both.json"
    settings = SimpleNamespace(backends=("tensorflow", "jax"), json_path=path)
    controller = sidebyside.SideBySide(SimpleNamespace(), settings)  # type: ignore[arg-type]
    controller.runs = [BackendRun("tensorflow", ("pytest",), 0)]
    controller._write(interrupted=False)
    (error,) = controller.errors
    assert error.startswith(
        f"Could not write the results file {path} ({tmp_path / 'file'} is not a directory). "
        "The results are saved in "
    )
    rescued = Path(error.rsplit(" ", 1)[1].rstrip("."))
    assert json.loads(rescued.read_text())["kind"] == "backends"
    rescued.unlink()
    assert controller.notes == []


def test_last_line_is_pytests_counts_without_rules_or_colours() -> None:
    text = "x\n\x1b[32m==== \x1b[1m1 passed\x1b[0m in 3.21s ====\x1b[0m\n\n"
    assert subsessions.last_line(text) == "1 passed in 3.21s"
    assert subsessions.last_line("") == ""


# --------------------------------------------------------------------------- through pytester

PLAIN = """
import os


def test_backend(pytestconfig):
    # Each backend's run has its backend in the environment, and -n reached it.
    assert hasattr(pytestconfig, "workerinput")
    assert os.environ["KERAS_BACKEND"] != "jax", "fails on jax"
"""


@NEEDS_JAX
def test_each_backend_runs_in_its_own_process_and_a_failing_one_fails_the_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess(
        "--color=no", "-n", "2", "--cnnperf-backends=tensorflow,jax"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf backend tensorflow (1 of 2) =*",
            "* -m pytest --basetemp=* --color=no -n 2 --cnnperf-backend=tensorflow "
            "--cnnperf-json=*tensorflow.json",
            "*1 passed in *",
            "*= cnnperf backend jax (2 of 2) =*",
            "*AssertionError: fails on jax*",
            "*1 failed in *",
            "*= cnnperf backends =*",
            "No backend's run gave a cnnperf result to compare.",
            "tensorflow: 1 passed in * (exit status 0)",
            "jax: 1 failed in * (exit status 1: tests failed)",
            "The jax run failed, so this session fails.",
            "*= 1 backend run failed, 1 backend run passed in *",
        ]
    )
    # Workers start in each backend's run only, never in the controlling process.
    assert result.stdout.str().count("created: 2/2 workers") == 2
    # The last backend's last-failed state stands: the controller writes none back.
    lastfailed = json.loads((pytester.path / ".pytest_cache/v/cache/lastfailed").read_text())
    assert list(lastfailed) == ["test_plain.py::test_backend"]


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        pytest.param(
            "",
            ["--cnnperf-backends=tensorflow,jax", "--cnnperf-backend=jax"],
            "ERROR: argument --cnnperf-backends: expected it without --cnnperf-backend, got "
            "--cnnperf-backend=jax as well. --cnnperf-backends runs each backend it names in a "
            "pytest process of its own; --cnnperf-backend picks the one backend of a single "
            "run. Give one of them.",
            id="with-cnnperf-backend",
        ),
        pytest.param(
            "addopts = --cnnperf-backends=tensorflow,jax\n",
            [],
            "ERROR: argument --cnnperf-backends: expected it on the command line or in "
            "PYTEST_ADDOPTS, got it from the addopts ini option or an @file. Each backend's run "
            "is started with the same ini file and arguments less this option, which it cannot "
            "take out of those; give --cnnperf-backends on the command line.",
            id="in-addopts",
        ),
    ],
)
def test_misuse_is_a_usage_error_said_once(
    pytester: pytest.Pytester, ini: str, args: list[str], message: str
) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines.count(message) == 1, result.stderr.str()
    assert "cnnperf backend tensorflow" not in result.stdout.str()


@NEEDS_JAX
def test_a_backend_run_that_wrote_no_results_is_named_and_fails_the_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import os
        import pytest


        def pytest_configure(config):
            if os.environ.get("KERAS_BACKEND") == "jax":
                raise pytest.UsageError("this project does not run on jax")
        """
    )
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-backends=tensorflow,jax", "--cnnperf-json=both.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "tensorflow: 1 passed in * (exit status 0)",
            # A run's last line of output (here its usage error) stands for its counts.
            "jax: ERROR: this project does not run on jax (exit status 4: usage error)",
            "  The jax run wrote no results file (*jax.json), so the table has no jax figures; "
            "its output above says why.",
            f"cnnperf results of every backend's run written to {pytester.path / 'both.json'}",
            "The jax run failed, so this session fails.",
        ]
    )
    document = json.loads((pytester.path / "both.json").read_text())
    assert document["backends"]["tensorflow"]["results"]["tests"] == []
    assert document["backends"]["jax"]["results"] is None
    assert document["backends"]["jax"]["exit_status"] == 4


def test_a_backend_whose_framework_cannot_be_imported_is_surfaced_from_its_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(tinymodels=TINY)
    # Installed, but not importable: a package of the framework's name that
    # fails on import, found first (the project directory leads sys.path).
    for name in ("jax", "torch"):
        package = pytester.mkpydir(name)
        (package / "__init__.py").write_text('raise ImportError("a broken build")\n')
    pytester.makepyfile(
        test_perf="""
        from tinymodels import *


        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
        """
    )
    result = pytester.runpytest_subprocess("--color=no", "--cnnperf-backends=jax,torch")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    node = "test_perf.py::test_tiny[[]tiny_cnn-synthetic[]]"
    lines = []
    for name in ("jax", "torch"):
        lines += [
            f"{name}: 1 error in * (exit status 1: tests failed)",
            f"  {name} failed {node}: The {name} backend was selected (KERAS_BACKEND={name}), "
            f"but {name} cannot be imported (a broken build). "
            f"Install it with pip install 'pytest-cnnperf[[]{name}[]]', or select another "
            "backend with --cnnperf-backend.",
        ]
    result.stdout.fnmatch_lines([*lines, "The jax and torch runs failed, so this session fails."])
    result.stdout.fnmatch_lines(
        [node, "*jax*failed*", "*torch*failed*", "*= 2 backend runs failed in *"]
    )


#: The controlling process with Python's own Ctrl-C handler, whatever it inherited
#: (a process started with SIGINT ignored keeps it ignored).
WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
)


@NEEDS_JAX
def test_ctrl_c_stops_after_the_run_it_interrupted_and_keeps_that_runs_results(
    pytester: pytest.Pytester, read_results: ResultsReader
) -> None:
    pytester.makepyfile(
        test_plain="""
        import os
        import signal


        def test_interrupted():
            if os.environ["KERAS_BACKEND"] == "tensorflow":
                # Ctrl-C reaches the controlling process and this run alike.
                os.kill(os.getppid(), signal.SIGINT)
                raise KeyboardInterrupt
        """
    )
    result = pytester.run(
        sys.executable,
        "-c",
        WITH_CTRL_C,
        "--color=no",
        "--cnnperf-backends=tensorflow,jax",
        "--cnnperf-json=both.json",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "tensorflow: * (exit status 2: interrupted)",
            "Interrupted during the tensorflow run; jax did not run.",
        ]
    )
    assert "cnnperf backend jax" not in result.stdout.str()
    document = read_results("both.json")
    assert document["interrupted"] is True
    assert list(document["backends"]) == ["tensorflow"]
    assert document["backends"]["tensorflow"]["interrupted"] is True


SIDE_BY_SIDE = """
from tinymodels import *


@pytest.mark.cnnperf(windows=4)
@pytest_cnnperf.model(tiny_cnn)
@pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
    cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
"""


@NEEDS_JAX
def test_tensorflow_and_jax_side_by_side_table_and_combined_results(
    pytester: pytest.Pytester, read_results: ResultsReader
) -> None:
    pytester.makepyfile(tinymodels=TINY, test_perf=SIDE_BY_SIDE)
    pytester.makeini("[pytest]\ncnnperf_epochs = 1\n")
    result = pytester.runpytest_subprocess(
        "--color=no",
        "--cnnperf-backends=tensorflow,jax",
        "--cnnperf-json=both.json",
        "--cnnperf-update-baselines",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    node = "test_perf.py::test_tiny[[]tiny_cnn-synthetic[]]"
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf backends =*",
            "*cnnperf backends side by side*",
            node,
            "*backend*ms/step*images/s*vs tensorflow*accuracy*steps*verdict*per-layer*",
            "*tensorflow*reference*new*3 layers*",
            # Both measured the layers: their times side by side follow the table.
            "*jax*x (*-*)*(*pt)*new*3 layers*",
            "vs tensorflow: median seconds per training step over tensorflow's, with a 90% "
            "bootstrap interval over the timed windows of both runs.*",
            f"{node}: time per layer by backend*",
            "*layer*tensorflow ms*jax ms*vs tensorflow*",
            "*conv*x*",
            "tensorflow: 1 passed in * (exit status 0)",
            "jax: 1 passed in * (exit status 0)",
            f"cnnperf results of every backend's run written to {pytester.path / 'both.json'}",
            "*= 2 backend runs passed in *",
        ]
    )
    document = read_results("both.json")
    assert document["kind"] == "backends" and document["order"] == ["tensorflow", "jax"]
    for name in ("tensorflow", "jax"):
        results = document["backends"][name]["results"]
        assert results["environment"]["software"]["keras_backend"] == name
        (test,) = results["tests"]
        assert test["node_id"] == "test_perf.py::test_tiny[tiny_cnn-synthetic]"
        assert len(test["runs"][0]["windows"]) == 4
    # JAX trained the windows TensorFlow trained (--cnnperf-steps-from), whatever its speed.
    tf_windows, jax_windows = (
        document["backends"][name]["results"]["tests"][0]["runs"][0]["windows"]
        for name in ("tensorflow", "jax")
    )
    assert [w["steps"] for w in jax_windows] == [w["steps"] for w in tf_windows]
    assert "--cnnperf-steps-from=" in " ".join(document["backends"]["jax"]["command"])
    tf_row, jax_row = document["side_by_side"]
    assert (tf_row["backend"], jax_row["backend"]) == ("tensorflow", "jax")
    ratio = jax_row["step_ratio"]
    assert 0 < ratio["interval_low"] <= ratio["ratio"] <= ratio["interval_high"]
    assert ratio["ratio"] == pytest.approx(
        jax_row["result"]["step_seconds_median"] / tf_row["result"]["step_seconds_median"]
    )
    assert tf_row["result"]["layers_measured"] and jax_row["result"]["layers_measured"]
    # Layers matched by name, each with its time on both backends.
    assert [d["layer"] for d in jax_row["layers"]] == ["conv", "flatten", "head"]
    conv = jax_row["layers"][0]
    assert conv["reference_seconds"] > 0 and conv["seconds"] > 0
    # --cnnperf-update-baselines passed through: each backend accepted into its own file.
    stored = sorted(path.name for path in (pytester.path / "baselines").glob("*.json"))
    assert len(stored) == 2 and stored[0].endswith("-jax.json") is not stored[1].endswith(
        "-jax.json"
    )
