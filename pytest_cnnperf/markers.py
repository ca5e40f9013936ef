"""The ``@model`` and ``@dataset`` decorators and per-test settings.

``model(...)`` and ``dataset(...)`` parametrize the ``cnnperf_model`` and
``cnnperf_dataset`` fixtures indirectly, with readable ids, and may carry
settings; settings also come from ``@pytest.mark.cnnperf(...)``. The closest
marker wins for each key. Unknown keys are reported when the test is set up.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

PROFILES = ("cpu", "gpu")


@dataclass(frozen=True)
class ByProfile(Generic[T]):
    """A value that differs between the CPU default profile and ``--cnnperf-gpu``."""

    cpu: T
    gpu: T

    def resolve(self, profile: str) -> T:
        if profile not in PROFILES:
            raise ValueError(f"Expected a profile in {PROFILES}. Received: profile={profile!r}")
        return self.cpu if profile == "cpu" else self.gpu


def by_profile(*, cpu: T, gpu: T) -> ByProfile[T]:
    """Use ``cpu`` in the CPU default profile and ``gpu`` under ``--cnnperf-gpu``.

    Accepted by decorator settings, data set options, ``cnnperf.train`` arguments
    and ``cnnperf.check_accuracy(at_least=...)``.
    """
    return ByProfile(cpu=cpu, gpu=gpu)


def resolve_profiled(value: Any, profile: str) -> Any:
    """Resolve a ``ByProfile`` (also inside mappings) for ``profile``."""
    if isinstance(value, ByProfile):
        return value.resolve(profile)
    if isinstance(value, Mapping):
        return {k: resolve_profiled(v, profile) for k, v in value.items()}
    return value


#: Every training key a test may set, with what it means; the error for an
#: unknown key lists these and the ``tolerance_<metric>`` keys of the
#: session's metrics (see ``baselines.tolerances.known_settings``).
SETTINGS: Mapping[str, str] = {
    "epochs": "measured epochs (whole number >= 1)",
    "warmup_epochs": "epochs timed but excluded from the median (whole number >= 0)",
    "batch_size": "training batch size (whole number >= 1)",
    "learning_rate": "learning rate overriding the model's recipe (number > 0)",
    "steps_per_epoch": "cap on training steps per epoch (whole number >= 1)",
    "repeats": "whole training runs whose measured epochs are pooled (whole number >= 1)",
    "early_stopping": "stop on validation loss with the recipe's patience (true/false)",
    "validation_fraction": "share of training images held out for early stopping (0..0.5)",
    "windows": "timed windows after the warm-up (whole number >= 0; 0: time each epoch)",
    "layers": "per-layer timing after the timed windows (true/false or 'on'/'off')",
    "layer_steps": "profiled steps of the per-layer window, whatever they cost (whole number >= 1)",
    "strategy": "'mirrored' trains on several devices with tf.distribute.MirroredStrategy "
    "(default: None, one device)",
    "devices": "devices the mirrored strategy trains on (whole number >= 1; default: every "
    "device of the run's kind this process sees)",
}

#: Per-test tolerance settings start with this, followed by a metric's name.
TOLERANCE_PREFIX = "tolerance_"


def is_setting(key: str) -> bool:
    """True for a training setting or a tolerance setting (checked when the test runs)."""
    return key in SETTINGS or key.startswith(TOLERANCE_PREFIX)


class SettingsError(ValueError):
    """A test's cnnperf settings are wrong; the message says which and why."""


@dataclass(frozen=True)
class ModelSpec:
    """What ``@model`` names: a zoo model by name, or a user's builder."""

    name: str
    builder: Callable[..., Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DatasetSpec:
    """What ``@dataset`` names: a data set, its subset sizes and loader options."""

    name: str
    train_size: int | ByProfile[Any] | None = None
    test_size: int | ByProfile[Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    loader: Callable[..., Any] | None = None

    def __str__(self) -> str:
        return self.name


ModelArg = str | Callable[..., Any]


def _model_spec(item: ModelArg, options: Mapping[str, Any]) -> ModelSpec:
    if isinstance(item, str):
        return ModelSpec(name=item, options=dict(options))
    if callable(item):
        name = getattr(item, "__name__", type(item).__name__)
        return ModelSpec(name=name, builder=item, options=dict(options))
    raise TypeError(
        f"Expected a model name or a callable that returns a keras.Model. Received: model={item!r}"
    )


def model(
    spec: ModelArg | Iterable[ModelArg],
    *,
    model_options: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Callable[[F], F]:
    """Parametrize ``cnnperf_model`` with one or several models.

    Args:
        spec: a zoo name (``"lenet5"``), a callable returning a ``keras.Model``
            (called with ``input_shape`` and ``num_classes`` when it accepts
            them), or a list of these: one test each, with the names as ids.
        model_options: keyword options passed to the builder (for example
            ``{"batch_norm": True}`` for ``alexnet``).
        **settings: per-test settings (see ``SETTINGS``).
    """
    items = [spec] if isinstance(spec, str) or callable(spec) else list(spec)
    specs = [_model_spec(item, model_options or {}) for item in items]
    return _decorate("cnnperf_model", specs, settings)


def dataset(
    spec: str | Callable[..., Any] | Iterable[str],
    *,
    train_size: int | ByProfile[Any] | None = None,
    test_size: int | ByProfile[Any] | None = None,
    **options: Any,
) -> Callable[[F], F]:
    """Parametrize ``cnnperf_dataset`` with one or several data sets.

    Args:
        spec: a data set name (``"mnist"``), a list of names, or a callable
            returning a ``pytest_cnnperf.datasets.Dataset`` or a tuple
            ``(x_train, y_train, x_test, y_test)``.
        train_size: stratified training subset size (default: all).
        test_size: stratified held-out subset size (default: all).
        **options: loader options (``split="test"``, ``image_size=227``,
            ``label_mode="coarse"``...); keys that are per-test settings
            (``epochs``, ``batch_size``...) are taken as settings instead.
    """
    settings = {key: options.pop(key) for key in list(options) if is_setting(key)}
    if callable(spec) and not isinstance(spec, str):
        name = getattr(spec, "__name__", type(spec).__name__)
        specs = [DatasetSpec(name, train_size, test_size, dict(options), loader=spec)]
    else:
        names = [spec] if isinstance(spec, str) else list(spec)
        specs = [DatasetSpec(str(n), train_size, test_size, dict(options)) for n in names]
    return _decorate("cnnperf_dataset", specs, settings)


def _decorate(argname: str, specs: list[Any], settings: Mapping[str, Any]) -> Callable[[F], F]:
    ids = [str(s) for s in specs]
    parametrize = pytest.mark.parametrize(argname, specs, ids=ids, indirect=True)
    marker = pytest.mark.cnnperf(**settings) if settings else None

    def apply(function: F) -> F:
        decorated = parametrize(function)
        if argname == "cnnperf_model":
            # Ids read model-then-data-set ("lenet5-mnist") whatever the
            # decorator order: the model's parametrization goes first.
            marks = list(getattr(decorated, "pytestmark", []))
            mine = marks.pop()
            decorated.pytestmark = [mine, *marks]
        if marker is not None:
            decorated = marker(decorated)
        return decorated  # type: ignore[no-any-return]

    return apply


def collect_settings(
    markers: Iterable[pytest.Mark], known: Mapping[str, str] = SETTINGS
) -> dict[str, Any]:
    """Merge the settings of a test's ``cnnperf`` markers, closest first.

    Raises ``SettingsError`` naming unknown keys (not in ``known``) and
    listing the known ones.
    """
    merged: dict[str, Any] = {}
    for mark in markers:
        if mark.args:
            raise SettingsError(
                "The cnnperf marker takes keyword settings only, such as "
                f"@pytest.mark.cnnperf(epochs=2). Received: args={mark.args!r}"
            )
        for key, value in mark.kwargs.items():
            merged.setdefault(key, value)
    unknown = sorted(set(merged) - set(known))
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SettingsError(
            f"Unknown cnnperf setting{'s' if len(unknown) > 1 else ''}: {', '.join(hints)}. "
            f"Known settings: {', '.join(sorted(known))}."
        )
    return merged
