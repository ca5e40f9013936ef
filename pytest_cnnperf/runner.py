"""The ``cnnperf`` fixture's runner: timed training and accuracy checks.

``Runner`` is what a test gets as ``cnnperf``: ``train`` resolves the run's
settings (``plan``), checks that the model fits the data (``datachecks``) and
trains (``training``), reporting every run through ``on_result``;
``check_accuracy`` reports through ``on_check``. Imported only
when a test asks for the fixture, never at plugin load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import training
from pytest_cnnperf.building import ModelUnderTest, check_fits, wrap_plain_model
from pytest_cnnperf.datachecks import DataCheckError
from pytest_cnnperf.markers import ByProfile, SettingsError, resolve_profiled
from pytest_cnnperf.plan import TrainPlan, WindowPlan, resolve_plan
from pytest_cnnperf.results import AccuracyCheck, TrainResult

if TYPE_CHECKING:
    import keras

    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runtime import Runtime


class Runner:
    """The ``cnnperf`` fixture: ``train`` models with timed epochs, check accuracy."""

    def __init__(
        self,
        cfg: CnnperfConfig,
        runtime: Runtime,
        settings: Mapping[str, Any],
        on_result: Callable[[TrainResult], None],
        on_check: Callable[[AccuracyCheck], None],
        on_confirmable: Callable[[Callable[[], list[TrainResult]]], None] | None = None,
        window_shape: WindowPlan | None = None,
    ) -> None:
        self.config = cfg
        #: The timed windows' shape from ``--cnnperf-steps-from``, or None.
        self.window_shape = window_shape
        self._on_confirmable = on_confirmable
        self.runtime = runtime
        self.settings = resolve_profiled(dict(settings), cfg.device_kind)
        self._on_result = on_result
        self._on_check = on_check

    @property
    def profile(self) -> str:
        """``"cpu"`` (the default profile) or ``"gpu"`` (``--cnnperf-gpu``)."""
        return self.config.device_kind

    @property
    def device(self) -> str:
        """The TensorFlow device name this process trains on."""
        return self.runtime.placement.device_name

    def train(
        self,
        model: ModelUnderTest | keras.Model,
        dataset: Dataset,
        *,
        epochs: int | ByProfile[Any] | None = None,
        batch_size: int | ByProfile[Any] | None = None,
        warmup_epochs: int | ByProfile[Any] | None = None,
        learning_rate: float | ByProfile[Any] | None = None,
        steps_per_epoch: int | ByProfile[Any] | None = None,
        repeats: int | ByProfile[Any] | None = None,
        early_stopping: bool | ByProfile[Any] | None = None,
        windows: int | ByProfile[Any] | None = None,
        layers: bool | str | ByProfile[Any] | None = None,
        layer_steps: int | ByProfile[Any] | None = None,
        strategy: str | ByProfile[Any] | None = None,
        devices: int | ByProfile[Any] | None = None,
    ) -> TrainResult:
        """Train with timed epochs; return the last run's result.

        Args:
            model: the ``cnnperf_model`` fixture, or any compiled-or-not
                ``keras.Model`` (trained with the default recipe).
            dataset: the ``cnnperf_dataset`` fixture or a loaded ``Dataset``.
            epochs: measured epochs (default: the test's setting, then
                ``--cnnperf-epochs``).
            batch_size: default: the test's setting, then the model's recipe.
            warmup_epochs: epochs timed but kept out of the median (default 1).
            learning_rate: default: the test's setting, then the recipe.
            steps_per_epoch: cap on steps per epoch (default: the whole set).
            repeats: whole runs from fresh weights whose measured epochs are
                pooled for the comparison (default 1).
            early_stopping: hold out ``validation_fraction`` of the training
                images, evaluate them after each epoch outside the timed region,
                and stop after the recipe's patience without a lower validation
                loss, restoring the best weights; ``epochs`` is then the cap.
            windows: timed windows after the warm-up (default: the test's
                setting, then ``--cnnperf-windows``, 20); 0 times each
                measured epoch instead. Early stopping always times epochs.
            layers: per-layer timing in a profiled window after the timed
                windows (default: the test's setting, then ``--cnnperf-layers``).
            layer_steps: profiled steps of that window (default: as many as
                its time budget allows; see docs/layers.md).
            strategy: ``"mirrored"`` trains on several devices with
                ``tf.distribute.MirroredStrategy``, the model rebuilt in its
                scope, ``batch_size`` the global batch (default: one device).
            devices: how many of this process's devices of the run's kind the
                strategy uses (default: all it sees; docs/gpu.md).

        Returns:
            The ``TrainResult`` of the last run; every run is reported.
        """
        arguments = resolve_profiled(
            {
                "epochs": epochs,
                "batch_size": batch_size,
                "warmup_epochs": warmup_epochs,
                "learning_rate": learning_rate,
                "steps_per_epoch": steps_per_epoch,
                "repeats": repeats,
                "early_stopping": early_stopping,
                "windows": windows,
                "layers": layers,
                "layer_steps": layer_steps,
                "strategy": strategy,
                "devices": devices,
            },
            self.profile,
        )
        mut, plan = self._check(model, dataset, arguments)
        result: TrainResult | None = None
        for repeat in range(plan.repeats):
            # Under a strategy the model is always rebuilt, in its scope.
            keras_model = mut.model if repeat == 0 and plan.strategy is None else None
            result = self._train_once(mut, keras_model, dataset, plan, repeat)
            self._on_result(result)
        assert result is not None
        if self._on_confirmable is not None:

            def confirm() -> list[TrainResult]:
                # The same plan again from fresh weights, other seeds: what
                # --cnnperf-confirm measures before a regression fails the test.
                return [
                    self._train_once(mut, None, dataset, plan, plan.repeats + repeat)
                    for repeat in range(plan.repeats)
                ]

            self._on_confirmable(confirm)
        return result

    def _check(
        self, model: ModelUnderTest | keras.Model, dataset: Dataset, arguments: Mapping[str, Any]
    ) -> tuple[ModelUnderTest, TrainPlan]:
        """The model to train and the run's settings, once both and the data are checked."""
        try:
            mut = model if isinstance(model, ModelUnderTest) else wrap_plain_model(model)
            plan = resolve_plan(arguments, self.settings, self.config, mut.recipe)
            if self.window_shape is not None and plan.windows > 0:
                plan = dataclasses.replace(plan, window_shape=self.window_shape)
            check_fits(mut, dataset)
            return mut, plan
        except (SettingsError, DataCheckError) as exc:
            problem = str(exc)
        # Outside the except block, so that the message is not printed twice.
        pytest.fail(problem, pytrace=False)

    def _train_once(
        self,
        mut: ModelUnderTest,
        keras_model: keras.Model | None,
        dataset: Dataset,
        plan: TrainPlan,
        repeat: int,
    ) -> TrainResult:
        """One run; ``keras_model`` None: a fresh model (in the strategy's scope, if any)."""
        seed = self.config.seed + repeat
        try:
            strategy = self._strategy(plan)
            if keras_model is None:
                if strategy is None:
                    keras_model = mut.rebuild()
                else:
                    with strategy.scope():
                        keras_model = mut.rebuild()
            return training.train_once(
                mut, keras_model, dataset, plan, seed=seed, device=self.device, strategy=strategy
            )
        except (training.NonFiniteLoss, SettingsError) as exc:
            problem = str(exc)
        # Outside the except block, so that the message is not printed twice.
        pytest.fail(problem, pytrace=False)

    def _strategy(self, plan: TrainPlan) -> Any | None:
        """The run's multi-device strategy, or None for one device.

        Raises:
            SettingsError: more devices asked for than this process sees, or a
                strategy the backend does not have.
        """
        if plan.strategy is None:
            return None
        from pytest_cnnperf import backends

        kind = self.runtime.placement.kind.upper()
        return backends.current().devices.strategy(plan.strategy, kind, plan.devices)

    def check_accuracy(self, result: TrainResult, *, at_least: float | ByProfile[Any]) -> None:
        """Fail the test unless held-out accuracy is at least ``at_least`` (0..1)."""
        at_least = resolve_profiled(at_least, self.profile)
        if (
            isinstance(at_least, bool)
            or not isinstance(at_least, (int, float))
            or not (0.0 <= at_least <= 1.0)
        ):
            pytest.fail(
                f"Expected at_least to be a fraction from 0 to 1. Received: at_least={at_least!r}",
                pytrace=False,
            )
        measured = result.accuracy
        passed = measured is not None and measured >= at_least
        self._on_check(AccuracyCheck(float(at_least), measured, passed))
        if passed:
            return
        data = f"{result.dataset} ({result.data_source} data, {result.test_images} held-out images)"
        if result.fallback_reason:
            data += f"; synthetic data stood in because {result.fallback_reason}"
        measured_text = (
            "not measured (no held-out images)" if measured is None else f"{measured:.4f}"
        )
        pytest.fail(
            f"Accuracy of {result.model} on {data}: {measured_text}, below the required "
            f"{at_least:.4f}.",
            pytrace=False,
        )
