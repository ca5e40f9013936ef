"""Unit tests of ``plan``: where each training setting comes from, and its checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pytest_cnnperf.markers import SettingsError
from pytest_cnnperf.plan import TrainPlan, resolve_plan

CFG: Any = SimpleNamespace(epochs=3, repeats=1, layers=False)
RECIPE: Any = SimpleNamespace(learning_rate=0.01, batch_size=64, early_stopping_patience=None)


def test_arguments_then_settings_then_options_then_recipe() -> None:
    plan = resolve_plan({"epochs": 5, "batch_size": None}, {"epochs": 4, "repeats": 2}, CFG, RECIPE)
    assert plan == TrainPlan(
        epochs=5,
        warmup_epochs=1,
        batch_size=64,
        learning_rate=0.01,
        steps_per_epoch=None,
        repeats=2,
        early_stopping_patience=None,
        validation_fraction=0.1,
        windows=20,
    )


def test_windows_come_from_the_test_then_the_options_and_early_stopping_times_epochs() -> None:
    cfg: Any = SimpleNamespace(epochs=3, repeats=1, windows=12, device_kind="gpu", layers=False)
    assert resolve_plan({}, {}, cfg, RECIPE).windows == 12
    assert resolve_plan({}, {}, cfg, RECIPE).window_seconds == 0.02
    assert resolve_plan({"windows": 0}, {"windows": 30}, cfg, RECIPE).windows == 0
    assert resolve_plan({}, {"windows": 30}, cfg, RECIPE).windows == 30
    assert resolve_plan({"early_stopping": True}, {}, cfg, RECIPE).windows == 0


def test_early_stopping_takes_the_recipe_patience_or_five() -> None:
    assert resolve_plan({"early_stopping": True}, {}, CFG, RECIPE).early_stopping_patience == 5
    recipe: Any = SimpleNamespace(learning_rate=0.01, batch_size=64, early_stopping_patience=8)
    assert resolve_plan({}, {"early_stopping": True}, CFG, recipe).early_stopping_patience == 8


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0}, "Expected epochs to be a whole number of at least 1. Received: epochs=0"),
        (
            {"warmup_epochs": -1},
            "Expected warmup_epochs to be a whole number of at least 0. Received: warmup_epochs=-1",
        ),
        (
            {"batch_size": 2.5},
            "Expected batch_size to be a whole number of at least 1. Received: batch_size=2.5",
        ),
        (
            {"steps_per_epoch": True},
            "Expected steps_per_epoch to be a whole number of at least 1. "
            "Received: steps_per_epoch=True",
        ),
        (
            {"repeats": "2"},
            "Expected repeats to be a whole number of at least 1. Received: repeats='2'",
        ),
        (
            {"learning_rate": 0},
            "Expected learning_rate to be a number above 0. Received: learning_rate=0",
        ),
        (
            {"learning_rate": float("nan")},
            "Expected learning_rate to be a number above 0. Received: learning_rate=nan",
        ),
        (
            {"early_stopping": "yes"},
            "Expected early_stopping to be True or False. Received: early_stopping='yes'",
        ),
        (
            {"validation_fraction": 0.6},
            "Expected validation_fraction to be a number above 0 and at most 0.5. "
            "Received: validation_fraction=0.6",
        ),
    ],
)
def test_bad_values_are_named(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_plan(arguments, {}, CFG, RECIPE)
    assert str(caught.value) == message
