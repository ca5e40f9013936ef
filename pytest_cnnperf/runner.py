"""The ``cnnperf`` fixture's runner: timed training and accuracy checks.

Imported only when a test asks for a cnnperf fixture, never at plugin load.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from pytest_cnnperf import devices, timing
from pytest_cnnperf.backend import import_keras, import_tensorflow
from pytest_cnnperf.building import ModelUnderTest, wrap_plain_model
from pytest_cnnperf.markers import ByProfile, SettingsError, resolve_profiled
from pytest_cnnperf.plan import TrainPlan, resolve_plan
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult
from pytest_cnnperf.runtime import seed_everything

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
    ) -> None:
        self.config = cfg
        self.runtime = runtime
        self.settings = resolve_profiled(dict(settings), cfg.device_kind)
        self._on_result = on_result
        self._on_check = on_check
        self.results: list[TrainResult] = []

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

        Returns:
            The ``TrainResult`` of the last run; every run is reported.
        """
        mut = model if isinstance(model, ModelUnderTest) else wrap_plain_model(model)
        arguments = resolve_profiled(
            {
                "epochs": epochs,
                "batch_size": batch_size,
                "warmup_epochs": warmup_epochs,
                "learning_rate": learning_rate,
                "steps_per_epoch": steps_per_epoch,
                "repeats": repeats,
                "early_stopping": early_stopping,
            },
            self.profile,
        )
        try:
            plan = resolve_plan(arguments, self.settings, self.config, mut.recipe)
        except SettingsError as exc:
            pytest.fail(str(exc), pytrace=False)
        result: TrainResult | None = None
        for repeat in range(plan.repeats):
            keras_model = mut.model if repeat == 0 else mut.rebuild()
            result = self._train_once(mut, keras_model, dataset, plan, repeat)
            self.results.append(result)
            self._on_result(result)
        assert result is not None
        return result

    def _train_once(
        self,
        mut: ModelUnderTest,
        keras_model: keras.Model,
        ds: Dataset,
        plan: TrainPlan,
        repeat: int,
    ) -> TrainResult:
        from pytest_cnnperf import datasets
        from pytest_cnnperf.datasets import pipeline

        tf = import_tensorflow()
        keras = import_keras()
        recipe = mut.recipe
        if ds.x_train.dtype == np.uint8 and ds.x_test.dtype == np.uint8:
            prepared = datasets.prepare(
                ds, input_shape=mut.input_shape, input_scale=recipe.input_scale
            )
        else:
            # A user's loader that returns floats has done its own preprocessing.
            prepared = dataclasses.replace(
                ds,
                x_train=ds.x_train.astype("float32"),
                x_test=ds.x_test.astype("float32"),
                preprocessing=(*ds.preprocessing, "float images used as the loader returned them"),
            )
        seed = self.config.seed + repeat
        seed_everything(seed)
        x_train, y_train = prepared.x_train, prepared.y_train
        validation = None
        if plan.early_stopping_patience is not None:
            x_train, y_train, validation = _hold_out(
                x_train, y_train, plan.validation_fraction, seed
            )
        augmentation = recipe.augmentation.layers(seed) if recipe.augmentation else None
        # The input pipeline is built outside the device scope: tf.data runs on
        # the host, and its source tensors stay in host memory rather than
        # filling a GPU with the whole data set; batches are prefetched.
        train_data = pipeline.training_pipeline(
            x_train,
            y_train,
            batch_size=plan.batch_size,
            seed=seed,
            augmentation_layers=augmentation or None,
        )
        if plan.steps_per_epoch is not None:
            train_data = train_data.take(plan.steps_per_epoch)
        validation_data = (
            None
            if validation is None
            else pipeline.evaluation_pipeline(
                validation[0], validation[1], batch_size=max(plan.batch_size, 256)
            )
        )
        with tf.device(self.device):
            keras_model.compile(
                optimizer=recipe.make_optimizer(plan.learning_rate),
                loss=recipe.make_loss(),
                metrics=["accuracy"],
            )
            recorder = timing.EpochRecorder(lambda: devices.synchronize(tf))
            callbacks = [timing.keras_callback(recorder)]
            if recipe.lr_steps:
                callbacks.append(
                    keras.callbacks.LearningRateScheduler(
                        # Warm-up epochs are training epochs too: the documented
                        # schedule counts them.
                        lambda epoch, _lr: recipe.learning_rate_at(epoch, plan.learning_rate)
                    )
                )
            if validation_data is not None:
                # After the timer in the list: its evaluation is never timed.
                callbacks.append(_ValidationLoss(keras, validation_data))
                callbacks.append(
                    keras.callbacks.EarlyStopping(
                        monitor="val_loss",
                        patience=plan.early_stopping_patience,
                        restore_best_weights=True,
                    )
                )
            keras_model.fit(
                train_data,
                epochs=plan.warmup_epochs + plan.epochs,
                verbose=0,
                callbacks=callbacks,
                shuffle=False,  # the pipeline shuffles, seeded
            )
        if recorder.non_finite is not None:
            bad = recorder.non_finite
            pytest.fail(
                f"The training loss of {mut.name} on {ds.name} became {bad.value} at epoch "
                f"{bad.epoch + 1}, step {bad.step + 1} (batch size {plan.batch_size}, "
                f"learning rate {plan.learning_rate:g}). Lower the learning rate or check "
                "the model and its inputs.",
                pytrace=False,
            )
        train_images = int(x_train.shape[0])
        epochs: list[EpochResult] = []
        for timed in recorder.epochs:
            images = min(timed.steps * plan.batch_size, train_images)
            metrics = {k: v for k, v in timed.logs.items() if k not in ("loss", "learning_rate")}
            epochs.append(
                EpochResult(
                    index=timed.index + 1,
                    seconds=timed.seconds,
                    steps=timed.steps,
                    images=images,
                    loss=timed.logs.get("loss", math.nan),
                    metrics=metrics,
                    warmup=timed.index < plan.warmup_epochs,
                )
            )
        accuracy = None
        test_images = int(prepared.x_test.shape[0])
        if test_images:
            evaluation = pipeline.evaluation_pipeline(
                prepared.x_test, prepared.y_test, batch_size=max(plan.batch_size, 256)
            )
            with tf.device(self.device):
                scores = keras_model.evaluate(evaluation, verbose=0, return_dict=True)
            accuracy = float(scores["accuracy"])
        return TrainResult(
            model=mut.name,
            dataset=ds.name,
            data_source=ds.source,
            params=int(keras_model.count_params()),
            batch_size=plan.batch_size,
            epochs=tuple(epochs),
            accuracy=accuracy,
            test_images=test_images,
            device=self.device,
            preprocessing=tuple(prepared.preprocessing),
            fallback_reason=ds.fallback_reason,
        )

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


def _hold_out(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Split off a stratified validation share of the training images."""
    from pytest_cnnperf.datasets.subsets import stratified_split

    size = max(1, round(len(y) * fraction))
    train_idx, val_idx = stratified_split(
        y, (len(y) - size, size), np.random.default_rng([seed, 7])
    )
    return x[train_idx], y[train_idx], (x[val_idx], y[val_idx])


def _ValidationLoss(keras: Any, data: Any) -> Any:
    """A callback that adds ``val_loss`` to the epoch logs, for early stopping."""

    class ValidationLoss(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            scores = self.model.evaluate(data, verbose=0, return_dict=True)
            if logs is not None:
                logs["val_loss"] = float(scores["loss"])
                logs["val_accuracy"] = float(scores.get("accuracy", math.nan))

    return ValidationLoss()
