"""The settings of one ``cnnperf.train`` call, resolved and checked.

Each setting comes from the first of: the explicit ``train`` argument, the
test's marker settings, the session's options, the model's recipe. A value of
the wrong kind raises ``SettingsError`` with a message naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_cnnperf.markers import SettingsError

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.models.recipe import Recipe

#: Early-stopping patience for a recipe that documents none.
DEFAULT_PATIENCE = 5
#: Share of the training images held out for early stopping by default.
DEFAULT_VALIDATION_FRACTION = 0.1
#: Shortest timed window by profile: long enough that the clock reads and
#: device syncs at its ends are a small share of it.
WINDOW_SECONDS = {"cpu": 0.1, "gpu": 0.02}
#: Windows per test when neither the test nor ``--cnnperf-windows`` says.
DEFAULT_WINDOWS = 20


@dataclass(frozen=True)
class WindowPlan:
    """How the measured part of a run is cut into windows: ``count`` of ``steps``."""

    steps: int
    count: int


@dataclass(frozen=True)
class TrainPlan:
    """The resolved settings of one ``train`` call."""

    epochs: int
    warmup_epochs: int
    batch_size: int
    learning_rate: float
    steps_per_epoch: int | None
    repeats: int
    early_stopping_patience: int | None = None
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    windows: int = 0
    """Timed windows after the warm-up; 0 times each measured epoch instead."""
    window_seconds: float = WINDOW_SECONDS["cpu"]
    #: Per-layer timing in a profiled window after the timed windows (docs/layers.md).
    layers: bool = False
    #: Profiled steps of that window; None: as many as its time budget allows.
    layer_steps: int | None = None
    #: XLA compilation of the train step (``--cnnperf-jit``).
    jit: bool = False
    #: ``"mirrored"`` or None (one device).
    strategy: str | None = None
    #: Devices of the strategy; None: every visible device of the run's kind.
    devices: int | None = None
    #: The timed windows' shape, taken from another run (``--cnnperf-steps-from``);
    #: None: sized by time (``training.window_plan``).
    window_shape: WindowPlan | None = None


def resolve_plan(
    arguments: Mapping[str, Any], settings: Mapping[str, Any], cfg: CnnperfConfig, recipe: Recipe
) -> TrainPlan:
    """Explicit ``train`` arguments, then marker settings, then options, then the recipe.

    Raises:
        SettingsError: a setting has a value of the wrong kind or range.
    """

    def pick(key: str, fallback: Any) -> Any:
        if arguments.get(key) is not None:
            return arguments[key]
        if settings.get(key) is not None:
            return settings[key]
        return fallback

    learning_rate = positive_number("learning_rate", pick("learning_rate", recipe.learning_rate))
    steps = pick("steps_per_epoch", None)
    early_stopping = boolean("early_stopping", pick("early_stopping", False))
    patience = recipe.early_stopping_patience if early_stopping else None
    if early_stopping and patience is None:
        patience = DEFAULT_PATIENCE
    fraction = validation_fraction(pick("validation_fraction", DEFAULT_VALIDATION_FRACTION))
    windows = whole_number(
        "windows", pick("windows", getattr(cfg, "windows", DEFAULT_WINDOWS)), minimum=0
    )
    if early_stopping:
        # Early stopping decides after each data epoch: those stay the timed unit.
        windows = 0
    layer_steps = pick("layer_steps", None)
    chosen_strategy = strategy(pick("strategy", None))
    device_count = pick("devices", None)
    if device_count is not None:
        device_count = whole_number("devices", device_count)
        if chosen_strategy is None:
            raise SettingsError(
                "Expected strategy='mirrored' with devices: one device needs no count. "
                f"Received: devices={device_count!r}, strategy=None"
            )
    return TrainPlan(
        epochs=whole_number("epochs", pick("epochs", cfg.epochs)),
        warmup_epochs=whole_number("warmup_epochs", pick("warmup_epochs", 1), minimum=0),
        batch_size=whole_number("batch_size", pick("batch_size", recipe.batch_size)),
        learning_rate=learning_rate,
        steps_per_epoch=None if steps is None else whole_number("steps_per_epoch", steps),
        repeats=whole_number("repeats", pick("repeats", cfg.repeats)),
        early_stopping_patience=patience,
        validation_fraction=fraction,
        windows=windows,
        window_seconds=WINDOW_SECONDS.get(
            getattr(cfg, "device_kind", "cpu"), WINDOW_SECONDS["cpu"]
        ),
        layers=on_off("layers", pick("layers", cfg.layers)),
        layer_steps=None if layer_steps is None else whole_number("layer_steps", layer_steps),
        jit=bool(getattr(cfg, "jit", False)),
        strategy=chosen_strategy,
        devices=device_count,
    )


#: The distribution strategies a test may ask for.
STRATEGIES = ("mirrored",)


def strategy(value: Any) -> str | None:
    """``value`` if it is None or a known strategy name."""
    if value is None or value in STRATEGIES:
        return value  # type: ignore[no-any-return]
    raise SettingsError(
        f"Expected strategy to be None or one of {', '.join(map(repr, STRATEGIES))}. "
        f"Received: strategy={value!r}"
    )


def whole_number(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an ``int`` of at least ``minimum`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(
            f"Expected {name} to be a whole number of at least {minimum}. "
            f"Received: {name}={value!r}"
        )
    return value


def positive_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a number above 0 (not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0):
        raise SettingsError(f"Expected {name} to be a number above 0. Received: {name}={value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise SettingsError(f"Expected {name} to be True or False. Received: {name}={value!r}")
    return value


def on_off(name: str, value: Any) -> bool:
    """``value`` as a bool if it is ``True``, ``False``, ``"on"`` or ``"off"``."""
    if isinstance(value, bool):
        return value
    if value in ("on", "off"):
        return bool(value == "on")
    raise SettingsError(
        f"Expected {name} to be True, False, 'on' or 'off'. Received: {name}={value!r}"
    )


def validation_fraction(value: Any) -> float:
    """``value`` as a float if it is a number above 0 and at most 0.5."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 0.5):
        raise SettingsError(
            "Expected validation_fraction to be a number above 0 and at most 0.5. "
            f"Received: validation_fraction={value!r}"
        )
    return float(value)
