"""Helpers shared by the pytester acceptance tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_cnnperf import environment


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed terminal width, so that summary lines are matched whole rather than folded."""
    monkeypatch.setenv("COLUMNS", "200")


ResultsReader = Callable[[str], dict[str, Any]]


@pytest.fixture
def read_results(pytester: pytest.Pytester) -> ResultsReader:
    """``read_results("out.json")``: a results file a pytester run wrote, decoded."""

    def read(name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((pytester.path / name).read_text())
        return document

    return read


@pytest.fixture
def baseline_file(pytester: pytest.Pytester) -> Path:
    """Where a CPU float32 run on this machine keeps its baselines in the pytester project."""
    key = environment.describe_hardware(gpu=False, precision="float32")
    return pytester.path / "baselines" / f"{key.slug()}.json"
