"""Acceptance tests of bad paths, failed writes and interrupted sessions, through pytester.

Runs that train happen in a subprocess (TensorFlow's set-up is once per
process); usage errors, found before any test runs, are checked in process.
Every message is matched whole, said once, and never with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_acceptance_baselines import BUSY, NODE, NODE_PATTERN, run

from pytest_cnnperf.jsonreport import load_results
from pytest_cnnperf.metrics import MetricRegistry

INTERRUPTING = BUSY + "\n\ndef test_stop():\n    raise KeyboardInterrupt\n"


@pytest.fixture(autouse=True)
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSY_EPOCHS", "2")


def said_once(result: pytest.RunResult, text: str) -> None:
    """``text`` is in the output exactly once, and nothing there is a traceback."""
    output = result.stdout.str() + result.stderr.str()
    assert output.count(text) == 1, output
    assert "Traceback" not in output
    assert "During handling of the above exception" not in output


def final_line(result: pytest.RunResult) -> str:
    return [line for line in result.stdout.lines if line.strip()][-1]


# --------------------------------------------------------------------------- paths at start


@pytest.fixture
def plain(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    (pytester.path / "afile").write_text("a regular file\n")
    (pytester.path / "adir").mkdir()
    return pytester


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--cnnperf-json=afile/out.json"],
            "",
            "argument --cnnperf-json: expected a file, got {root}/afile/out.json, below "
            "{root}/afile, which is a file",
        ),
        (
            ["--cnnperf-json=adir"],
            "",
            "argument --cnnperf-json: expected a regular file, got {root}/adir, which is a "
            "directory",
        ),
        (
            [],
            "cnnperf_json = afile/out.json",
            "ini option cnnperf_json = 'afile/out.json': expected a file, got "
            "{root}/afile/out.json, below {root}/afile, which is a file",
        ),
        (
            ["--cnnperf-baseline-dir=afile"],
            "",
            "argument --cnnperf-baseline-dir: expected a directory, got {root}/afile, which is "
            "a file",
        ),
        (
            ["--cnnperf-baseline-dir=afile/deeper", "--cnnperf-update-baselines"],
            "",
            "argument --cnnperf-baseline-dir: expected a directory, got {root}/afile/deeper, "
            "below {root}/afile, which is a file",
        ),
        (
            [],
            "cnnperf_baseline_dir = afile",
            "ini option cnnperf_baseline_dir = 'afile': expected a directory, got "
            "{root}/afile, which is a file",
        ),
        (
            ["--cnnperf-update-interrupted"],
            "",
            "argument --cnnperf-update-interrupted: expected --cnnperf-update-baselines as "
            "well, got --cnnperf-update-interrupted alone",
        ),
        (
            [],
            "cnnperf_strict = maybe",
            "ini option cnnperf_strict = 'maybe': expected true or false, got 'maybe'",
        ),
    ],
    ids=[
        "json-below-a-file",
        "json-is-a-directory",
        "json-ini",
        "baseline-dir-is-a-file",
        "baseline-dir-below-a-file",
        "baseline-dir-ini",
        "update-interrupted-alone",
        "ini-bool",
    ],
)
def test_unusable_settings_stop_the_session_at_start(
    plain: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    plain.makeini(f"[pytest]\n{ini}\n")
    result = plain.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = message.format(root=plain.path)
    result.stderr.fnmatch_lines([f"ERROR: {text}"])
    said_once(result, text)
    result.stdout.no_fnmatch_line("*passed*")


def test_the_default_baseline_dir_when_a_file_stands_there(plain: pytest.Pytester) -> None:
    (plain.path / "baselines").write_text("a file named like the default directory\n")
    plain.makeini("[pytest]\n")
    result = plain.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = (
        "the default --cnnperf-baseline-dir (baselines at the project root): expected a "
        f"directory, got {plain.path}/baselines, which is a file"
    )
    said_once(result, text)


@pytest.mark.parametrize(
    ("toml_value", "expected"), [("true", True), ("false", False), ('"yes"', True), ('""', False)]
)
def test_ini_booleans_are_read_from_strings(
    plain: pytest.Pytester, toml_value: str, expected: bool
) -> None:
    # [tool.pytest.ini_options] hands every value over as a string: true as well as "yes".
    plain.makepyprojecttoml(f"[tool.pytest.ini_options]\ncnnperf_strict = {toml_value}\n")
    plain.makeconftest(
        """
        from pytest_cnnperf.config import CONFIG_KEY

        def pytest_report_header(config):
            return f"strict={config.stash[CONFIG_KEY].strict}"
        """
    )
    result = plain.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"strict={expected}"])


# --------------------------------------------------------------------------- failed writes

# Stands a regular file where the results directory should be, after the checks at start
# passed: a file that can no longer be written when the session ends.
BLOCK_AT_THE_END = """
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    Path("{name}").write_text("a file where a directory should be")
"""


def test_a_results_file_unwritable_at_the_end_fails_the_session_and_keeps_everything(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    pytester.makepyfile(test_perf=BUSY)
    pytester.makeconftest(BLOCK_AT_THE_END.format(name="out"))
    result = run(
        pytester, monkeypatch, 0, "--cnnperf-update-baselines", "--cnnperf-json=out/results.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    path = baseline_file
    out = pytester.path / "out"
    result.stdout.fnmatch_lines(
        [
            "*cnnperf summary*",
            f"*{NODE_PATTERN}*busy_cnn*new*",
            f"Accepted the figures of 1 test as baselines in {path}.",
            f"Could not write the results file {out}/results.json ({out} is not a directory). "
            "The results are saved in */cnnperf-unsaved-results-*.json.",
        ]
    )
    said_once(result, f"Could not write the results file {out}/results.json")
    # The last line does not read like success.
    assert "1 passed, 1 cnnperf error in " in final_line(result)
    assert NODE in json.loads(path.read_text())["entries"]
    rescue = next(
        line.split("saved in ")[1].rstrip(".") for line in result.stdout.lines if "saved in" in line
    )
    saved = load_results(rescue, MetricRegistry())
    assert [outcome.node_id for outcome in saved.outcomes] == [NODE]
    Path(rescue).unlink()


def test_nothing_accepted_when_the_tests_that_trained_failed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    pytester.makepyfile(test_perf=BUSY)
    path = baseline_file
    path.parent.mkdir()
    path.write_text("{ not json")
    result = run(pytester, monkeypatch, 0, "--cnnperf-update-baselines")
    result.assert_outcomes(failed=1)
    text = (
        "--cnnperf-update-baselines: nothing was accepted: the 1 test that trained failed "
        f"(see above); {path} was left as it was."
    )
    result.stdout.fnmatch_lines([text])
    said_once(result, text)
    result.stdout.no_fnmatch_line("*no test completed with figures*")
    assert path.read_text() == "{ not json"


# --------------------------------------------------------------------------- interrupted sessions


def test_an_interrupted_session_updates_no_baseline_unless_asked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    pytester.makepyfile(test_perf=INTERRUPTING)
    path = baseline_file
    stopped = run(pytester, monkeypatch, 0, "--cnnperf-update-baselines", "--cnnperf-json=r.json")
    assert stopped.ret == pytest.ExitCode.INTERRUPTED
    lines = [
        "The session was interrupted: no baseline was updated. 1 test had finished with "
        "figures; to accept it, run it again with:",
        f"  pytest '{NODE}' --cnnperf-update-baselines "
        '--cnnperf-update-reason "<why the figures changed>"',
        "(--cnnperf-update-interrupted accepts the tests that finished when a session is "
        "interrupted.)",
    ]
    stopped.stdout.fnmatch_lines(
        ["*cnnperf summary*", *(line.replace("[", "[[]") for line in lines)]
    )
    said_once(stopped, "\n".join(lines))
    assert not path.parent.exists()
    results = load_results(pytester.path / "r.json", MetricRegistry())
    assert results.interrupted is True
    assert [outcome.node_id for outcome in results.outcomes] == [NODE]

    accepted = run(
        pytester, monkeypatch, 0, "--cnnperf-update-baselines", "--cnnperf-update-interrupted"
    )
    assert accepted.ret == pytest.ExitCode.INTERRUPTED
    text = f"Accepted the figures of 1 test as baselines in {path}."
    accepted.stdout.fnmatch_lines([text])
    said_once(accepted, text)
    assert list(json.loads(path.read_text())["entries"]) == [NODE]


def test_an_interrupted_session_without_outcomes_keeps_the_results_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_stop="def test_stop():\n    raise KeyboardInterrupt\n")
    earlier = pytester.path / "r.json"
    earlier.write_text('{"schema_version": 2, "tests": ["the figures of last night"]}\n')
    result = pytester.runpytest_subprocess("--cnnperf-json=r.json", "--cnnperf-update-baselines")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    text = (
        "The session was interrupted before any cnnperf test finished: the results file "
        f"{earlier} was left as it was."
    )
    result.stdout.fnmatch_lines([text])
    said_once(result, text)
    said_once(
        result,
        "The session was interrupted: no baseline was updated, and no test had finished "
        "with figures.",
    )
    assert "the figures of last night" in earlier.read_text()


# --------------------------------------------------------------------------- relative paths


def test_a_relative_baseline_dir_starts_where_pytest_was_started(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_file: Path
) -> None:
    pytester.makepyfile(test_perf=BUSY)
    pytester.makeini("[pytest]\ncnnperf_baseline_dir = from-ini\n")
    below = pytester.mkdir("below")
    monkeypatch.chdir(below)
    key_file = baseline_file.name
    test_file = str(pytester.path / "test_perf.py")

    given = run(
        pytester,
        monkeypatch,
        0,
        test_file,
        "--cnnperf-update-baselines",
        "--cnnperf-baseline-dir=rel",
    )
    given.assert_outcomes(passed=1)
    given.stdout.fnmatch_lines(
        [f"Accepted the figures of 1 test as baselines in {below}/rel/{key_file}."]
    )
    assert NODE in json.loads((below / "rel" / key_file).read_text())["entries"]
    assert not (pytester.path / "rel").exists()

    # The ini file's path starts at the project root, wherever pytest was started.
    from_ini = run(pytester, monkeypatch, 0, test_file, "--cnnperf-update-baselines")
    from_ini.assert_outcomes(passed=1)
    assert (pytester.path / "from-ini" / key_file).exists()
    assert not (below / "from-ini").exists()
