"""Acceptance tests of windowed, calibrated timing and the three-way verdict (issue 9).

Real training of a tiny model through ``pytester`` subprocess runs: windows
and the reference kernel reach the baseline and the JSON, an identical rerun
is not regressed, real extra work in the model is regressed after a
confirmation, too much noise is ``unstable``, and the history file is
appended and read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_acceptance_baselines import BUSY, NODE, NODE_PATTERN, quiet_noise

if TYPE_CHECKING:
    from conftest import ResultsReader


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_perf=BUSY)
    return pytester


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, work: int, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("BUSY_WORK", str(work))
    monkeypatch.setenv("BUSY_EPOCHS", "1")
    return pytester.runpytest_subprocess("--color=no", *args)


def test_windows_and_kernel_reach_the_baseline_and_an_identical_rerun_is_not_regressed(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    baseline_file: Path,
    read_results: ResultsReader,
) -> None:
    # Three separate sessions: only they are evidence of the noise between sessions.
    accept = run(project, monkeypatch, 0, "--cnnperf-update-baselines", "--cnnperf-sessions=3")
    assert accept.ret == pytest.ExitCode.OK, accept.stdout.str()
    accept.stdout.fnmatch_lines(["*= 3 sessions passed in *"])
    stored = json.loads(baseline_file.read_text())
    assert stored["schema_version"] == 4
    entry = stored["entries"][NODE]
    # Besides the per-layer series (layer_seconds/<layer>, docs/layers.md).
    judged = {name for name in entry["metrics"] if not name.startswith("layer_seconds/")}
    assert judged == {"step_time", "accuracy"}
    assert entry["metrics"]["step_time"]["count"] == 3
    timing = entry["timing"]
    assert timing["arrangement"]["workers"] == 1
    assert len(timing["runs"]) == 3 and timing["sessions"] == 3
    for measured in timing["runs"]:
        assert len(measured["windows"]) >= 20
        for seconds, steps, kernel in measured["windows"]:
            assert seconds > 0 and steps >= 1 and kernel > 0

    again = run(project, monkeypatch, 0, "--cnnperf-json=again.json")
    again.assert_outcomes(passed=1)
    (test,) = read_results("again.json")["tests"]
    # The guarantee: an identical rerun is not `regressed` (confirmation
    # catches a first false one). It can be `improved`: sessions back to back
    # understate the noise between sessions further apart (docs/baselines.md,
    # "back-to-back sessions do not capture the between-session noise"), and a
    # CI run at 0.81x of a baseline of three runs of one process was judged so.
    assert test["verdict"] in ("pass", "unstable", "improved"), test["comparison"]
    step = test["comparison"]["metrics"]["step_time"]
    assert step["baseline_count"] == 3 and step["current_count"] == 1
    assert step["noise"] is not None and step["noise_dof"] == 2
    (run_data,) = test["runs"]
    assert len(run_data["windows"]) >= 20
    assert run_data["windows"][0]["calibration_seconds"] > 0
    assert run_data["arrangement"]["cores"] >= 1


def test_real_extra_work_is_regressed_after_a_confirmation_with_every_figure(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    # One run: quiet_noise gives the entry the noise of three sessions.
    run(project, monkeypatch, 0, "--cnnperf-update-baselines").assert_outcomes(passed=1)
    # 3% noise between runs, as a quiet machine shows: a slowdown of several
    # times cannot hide in it.
    quiet_noise(baseline_file)
    slow = run(project, monkeypatch, 40)
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines(
        [
            f"Training performance of {NODE_PATTERN} regressed:",
            "  step_time: measured * kernel units (1 run), baseline * kernel units (3 runs), "
            "*x the baseline (99% lower bound *x, 95% upper bound *x; between-session "
            "noise *% per session, from 3 sessions or more); tolerance: at most 1.1x the baseline, "
            "10% * (lower is better); slower with 99% confidence, and by more than half the "
            "tolerance (5%); measured again in this session (confirmation): "
            "*x the baseline",
            "    windows: this run * windows of * steps, * ms a step (raw), reference kernel "
            "* ms; baseline * windows of * steps, * ms a step (raw), reference kernel * ms",
        ],
        consecutive=True,
    )


def test_noise_larger_than_the_tolerance_is_unstable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    # One run: quiet_noise gives the entry the noise of three sessions.
    run(project, monkeypatch, 0, "--cnnperf-update-baselines").assert_outcomes(passed=1)
    quiet_noise(baseline_file, (0.7, 1.0, 1.4))
    noisy = run(project, monkeypatch, 0, "-W", "default")
    noisy.assert_outcomes(passed=1, warnings=1)
    noisy.stdout.fnmatch_lines(
        [
            f"*Training performance of {NODE_PATTERN} could not be judged*",
            "*step_time: *the between-session noise (*% per session) leaves a slowdown of up to *% "
            "possible, so neither a pass (under 10%) nor a regression can be claimed*",
        ]
    )


def test_the_history_file_is_appended_and_gives_the_noise(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    read_results: ResultsReader,
) -> None:
    # One accepted run shows no noise: too little evidence, whatever the figures.
    run(project, monkeypatch, 0, "--cnnperf-update-baselines").assert_outcomes(passed=1)
    history = Path(str(project.path)) / "ci-cache" / "history.jsonl"
    # This test is about the history, not the verdict's precision: tolerances no
    # busy spell of a shared machine reaches keep an identical rerun from regressing,
    # so that no confirmation run adds a second estimate to a session's line.
    wide = "--cnnperf-tolerance=step_time=900%,accuracy=99pt"
    first = run(project, monkeypatch, 0, f"--cnnperf-history={history}", wide, "-W", "default")
    first.assert_outcomes(passed=1, warnings=1)
    first.stdout.fnmatch_lines(["*too little evidence of the between-session noise*"])
    for _ in range(2):
        run(project, monkeypatch, 0, f"--cnnperf-history={history}", wide).assert_outcomes(passed=1)
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(lines) == 3
    assert {line["node_id"] for line in lines} == {NODE}
    assert all(len(line["estimates"]) == 1 and line["estimates"][0] > 0 for line in lines)
    assert lines[0]["arrangement"]["workers"] == 1 and lines[0]["software"]["tensorflow"]
    fourth = run(
        project, monkeypatch, 0, f"--cnnperf-history={history}", wide, "--cnnperf-json=fourth.json"
    )
    fourth.assert_outcomes(passed=1)
    (test,) = read_results("fourth.json")["tests"]
    step = test["comparison"]["metrics"]["step_time"]
    # The three earlier sessions are one group of independent runs: 2 degrees of freedom.
    assert step["noise_dof"] == 2 and step["noise"] > 0
    assert "too little evidence" not in (step["reason"] or "")
    assert len(history.read_text().splitlines()) == 4


def test_a_schema_3_baseline_is_new_until_accepted_again(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    run(project, monkeypatch, 0, "--cnnperf-update-baselines").assert_outcomes(passed=1)
    stored = json.loads(baseline_file.read_text())
    entry = stored["entries"][NODE]
    stored["schema_version"] = 3
    del entry["timing"]
    entry["metrics"]["epoch_seconds"] = {
        "center": 1.0,
        "spread": 0.0,
        "count": 1,
        "samples": [1.0],
    }
    del entry["metrics"]["step_time"]
    baseline_file.write_text(json.dumps(stored, indent=2, sort_keys=True))
    result = run(project, monkeypatch, 0, "-W", "default")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*busy_cnn*new*"])
    result.stdout.no_fnmatch_line("*regressed*")
