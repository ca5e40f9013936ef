"""Acceptance tests of bad settings, through pytester.

Runs that train happen in a subprocess (TensorFlow's set-up is once per
process); usage errors, found before any test runs, are checked in process.
Every message is matched whole, said once, and never with a traceback.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BUSY_EPOCHS", "2")


def said_once(result: pytest.RunResult, text: str) -> None:
    """``text`` is in the output exactly once, and nothing there is a traceback."""
    output = result.stdout.str() + result.stderr.str()
    assert output.count(text) == 1, output
    assert "Traceback" not in output
    assert "During handling of the above exception" not in output


# --------------------------------------------------------------------------- settings


@pytest.fixture
def plain(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    return pytester


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            [],
            "cnnperf_strict = maybe",
            "ini option cnnperf_strict = 'maybe': expected true or false, got 'maybe'",
        ),
    ],
    ids=[
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
