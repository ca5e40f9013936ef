"""One timed training run, step by step: prepare, pipelines, callbacks, fit, collect.

The timed region of an epoch is the timer callback's (see ``timing``): it is
first in the callback list, so that it starts the clock before the other
callbacks' ``on_epoch_begin`` and stops it before their ``on_epoch_end``,
where validation for early stopping runs. ``fit`` itself gets no validation
data, and the held-out test images are evaluated after ``fit`` returns: no
evaluation is ever timed. Per-layer timing (``layers``) profiles a few more
steps after that evaluation, never inside a timed epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_cnnperf import backends, telemetry, timing
from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.plan import WindowPlan
from pytest_cnnperf.results import EpochResult, TrainResult, WindowResult
from pytest_cnnperf.runtime import seed_everything

if TYPE_CHECKING:
    import keras

    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.datasets.core import Array
    from pytest_cnnperf.layerprofile import LayerProfile
    from pytest_cnnperf.models.recipe import Recipe
    from pytest_cnnperf.plan import TrainPlan

#: Smallest batch for evaluation passes, which need no gradients.
EVALUATION_BATCH = 256
#: A step longer than this (seconds, CPU) makes 20 windows too long for a
#: suite: such a network gets fewer, and its verdict says how many.
SLOW_STEP_SECONDS = 1.0
#: Fewest windows of a slow network.
MIN_WINDOWS = 5


def window_plan(
    plan: TrainPlan, steps_per_data_epoch: int, step_seconds: float | None
) -> WindowPlan:
    """``N`` steps per window (at least ``plan.window_seconds`` long) and ``K`` windows.

    ``K`` is ``plan.windows`` (fewer for a step over ``SLOW_STEP_SECONDS``, at
    least ``MIN_WINDOWS``), raised so that ``K * N`` steps cover
    ``plan.epochs`` passes over the data.
    """
    if step_seconds is None or step_seconds <= 0:
        steps = max(1, steps_per_data_epoch // max(plan.windows, 1))
    else:
        steps = max(1, math.ceil(plan.window_seconds / step_seconds))
    wanted = plan.windows
    if step_seconds is not None and step_seconds * steps > SLOW_STEP_SECONDS:
        wanted = min(wanted, max(MIN_WINDOWS, math.ceil(wanted * SLOW_STEP_SECONDS / step_seconds)))
    cover = math.ceil(plan.epochs * steps_per_data_epoch / steps)
    return WindowPlan(steps=steps, count=max(wanted, cover, 1))


@dataclass
class Recorded:
    """What ``fit`` timed: warm-up (or every) epoch, the windows, the kernel figures."""

    epochs: timing.EpochRecorder
    kernel: timing.ReferenceKernel
    windows: timing.EpochRecorder | None = None
    window_plan: WindowPlan | None = None
    #: GPU telemetry of the measured windows (None on the CPU).
    telemetry: telemetry.RunTelemetry | None = None

    @property
    def non_finite(self) -> timing.NonFinite | None:
        if self.epochs.non_finite is not None:
            return self.epochs.non_finite
        return None if self.windows is None else self.windows.non_finite


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; the message says where."""


@dataclass(frozen=True)
class RunData:
    """The arrays of one run: prepared for the model, validation held out."""

    prepared: Dataset
    x_train: Array
    y_train: Array
    validation: tuple[Array, Array] | None


@dataclass(frozen=True)
class Pipelines:
    """The input pipelines ``fit`` and the validation callback read (the backend's)."""

    train: Any
    validation: Any | None


def train_once(
    mut: ModelUnderTest,
    keras_model: keras.Model,
    ds: Dataset,
    plan: TrainPlan,
    *,
    seed: int,
    device: str,
    strategy: Any | None = None,
) -> TrainResult:
    """Train ``keras_model`` on ``ds`` as ``plan`` says; time each epoch.

    With a ``strategy`` (a ``tf.distribute.MirroredStrategy``), the model
    must have been built in its scope; it is compiled and trained there, on
    the strategy's devices, and per-layer timing is skipped.

    Raises:
        NonFiniteLoss: the training loss stopped being a finite number.
    """
    started = time.perf_counter()
    seed_everything(seed)
    data = prepare(ds, mut, plan, seed)
    streams = pipelines(data, mut.recipe, plan, seed)
    recorder = fit(keras_model, mut.recipe, plan, streams, device, strategy)
    if recorder.non_finite is not None:
        bad = recorder.non_finite
        where = "epoch" if recorder.epochs.non_finite is not None else "timed window"
        raise NonFiniteLoss(
            f"The training loss of {mut.name} on {ds.name} became {bad.value} at {where} "
            f"{bad.epoch + 1}, step {bad.step + 1} (batch size {plan.batch_size}, "
            f"learning rate {plan.learning_rate:g}). Lower the learning rate or check "
            "the model and its inputs."
        )
    result = collect(mut, keras_model, ds, data, plan, recorder, device, strategy)
    if plan.layers and strategy is not None:
        from pytest_cnnperf.layerprofile import LayerProfile

        result = dataclasses.replace(
            result,
            layers=LayerProfile.skipped(
                f"Per-layer timing is not measured under strategy={plan.strategy!r}: the "
                "profiler's attribution reads one device's ops. Train the test without a "
                "strategy for its per-layer times."
            ),
        )
    elif plan.layers:
        profile = profile_layers(
            keras_model, streams, plan, result, device, time.perf_counter() - started
        )
        result = dataclasses.replace(result, layers=profile)
    return result


def prepare(ds: Dataset, mut: ModelUnderTest, plan: TrainPlan, seed: int) -> RunData:
    """Images shaped and scaled for the model; the validation share held out."""
    from pytest_cnnperf import datasets

    if ds.x_train.dtype == np.uint8 and ds.x_test.dtype == np.uint8:
        prepared = datasets.prepare(
            ds, input_shape=mut.input_shape, input_scale=mut.recipe.input_scale
        )
    else:
        # A user's loader that returns floats has done its own preprocessing.
        prepared = dataclasses.replace(
            ds,
            x_train=ds.x_train.astype("float32"),
            x_test=ds.x_test.astype("float32"),
            preprocessing=(*ds.preprocessing, "float images used as the loader returned them"),
        )
    x_train, y_train = prepared.x_train, prepared.y_train
    validation = None
    if plan.early_stopping_patience is not None:
        x_train, y_train, validation = hold_out(x_train, y_train, plan.validation_fraction, seed)
    return RunData(prepared, x_train, y_train, validation)


def hold_out(
    x: Array, y: Array, fraction: float, seed: int
) -> tuple[Array, Array, tuple[Array, Array]]:
    """Split off a stratified validation share of the training images."""
    from pytest_cnnperf.datasets.subsets import stratified_split

    size = max(1, round(len(y) * fraction))
    train_idx, val_idx = stratified_split(
        y, (len(y) - size, size), np.random.default_rng([seed, 7])
    )
    return x[train_idx], y[train_idx], (x[val_idx], y[val_idx])


def pipelines(data: RunData, recipe: Recipe, plan: TrainPlan, seed: int) -> Pipelines:
    """The shuffled, augmented training pipeline and the validation pipeline.

    They are built outside any device scope: the pipelines run on the host
    (``tf.data`` on TensorFlow, host arrays elsewhere), and their source
    arrays stay in host memory rather than filling a GPU with the whole data
    set; batches are prefetched.
    """
    inputs = backends.current().inputs
    augmentation = recipe.augmentation.layers(seed) if recipe.augmentation else None
    train = inputs.training(
        data.x_train,
        data.y_train,
        batch_size=plan.batch_size,
        seed=seed,
        augmentation_layers=augmentation or None,
        steps=plan.steps_per_epoch,
    )
    validation = None
    if data.validation is not None:
        validation = inputs.evaluation(
            *data.validation, batch_size=max(plan.batch_size, EVALUATION_BATCH)
        )
    return Pipelines(train, validation)


def callbacks(
    recorder: timing.EpochRecorder,
    recipe: Recipe,
    plan: TrainPlan,
    validation: Any | None,
    kernel: timing.ReferenceKernel | None = None,
) -> list[Any]:
    """The timer first, the reference kernel, the learning-rate schedule, early stopping."""
    keras = import_keras()
    chosen = [timing.keras_callback(recorder)]
    if kernel is not None:
        # After the timer: the kernel runs outside the timed region.
        chosen.append(timing.calibration_callback(kernel))
    if recipe.lr_steps:
        chosen.append(
            keras.callbacks.LearningRateScheduler(
                # Warm-up epochs are training epochs too: the documented
                # schedule counts them.
                lambda epoch, _lr: recipe.learning_rate_at(epoch, plan.learning_rate)
            )
        )
    if validation is not None:
        # After the timer in the list: its evaluation is never timed.
        chosen.append(_validation_loss(keras, validation))
        chosen.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=plan.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return chosen


def strategy_devices(strategy: Any | None, device: str) -> tuple[str, ...]:
    """The devices a run trains on: the strategy's, or ``device`` alone."""
    if strategy is None:
        return (device,)
    return tuple(str(name) for name in strategy.extended.worker_devices)


def fit(
    keras_model: keras.Model,
    recipe: Recipe,
    plan: TrainPlan,
    streams: Pipelines,
    device: str,
    strategy: Any | None = None,
) -> Recorded:
    """Compile with the recipe and train on ``device`` (or ``strategy``'s devices);
    return the epoch and window timings."""
    backend = backends.current()
    keras = import_keras()
    kernel = timing.ReferenceKernel()
    sync = backend.devices.synchronize
    with strategy.scope() if strategy is not None else backend.devices.scope(device):
        keras_model.compile(
            optimizer=recipe.make_optimizer(plan.learning_rate),
            loss=recipe.make_loss(),
            metrics=["accuracy"],
            # Explicit, never Keras' "auto" (XLA on any machine with a GPU):
            # the results say which was in force.
            jit_compile=backend.numerics.jit(plan.jit),
        )
        if plan.layers and strategy is None and backend.profiler.layers_unavailable() is None:
            # Before the train function is traced: scopes name the optimizer
            # update of each layer's variables (op names only).
            backend.profiler.instrument(keras_model)
        windowed = plan.windows > 0
        sampler = gpu_sampler(backend, strategy_devices(strategy, device))
        watcher = sampler if isinstance(sampler, telemetry.Sampler) else None
        recorder = timing.EpochRecorder(
            sync,
            # Per-epoch timing: the measured epochs are the windows, watched.
            watcher=None if windowed else watcher,
            watch_from=plan.warmup_epochs,
        )
        first_epochs = plan.warmup_epochs if windowed else plan.warmup_epochs + plan.epochs
        recorded = Recorded(recorder, kernel)
        if first_epochs:
            with sampling(None if windowed else sampler) as sampled:
                keras_model.fit(
                    streams.train,
                    epochs=first_epochs,
                    verbose=0,
                    callbacks=callbacks(recorder, recipe, plan, streams.validation, kernel),
                    shuffle=False,  # the pipeline shuffles, seeded
                )
            if not windowed:
                recorded.telemetry = sampled.result
        if not windowed or recorder.non_finite is not None:
            return recorded
        steps_per_data_epoch = (
            recorder.epochs[-1].steps if recorder.epochs else backend.inputs.batches(streams.train)
        )
        shape = plan.window_shape or window_plan(
            plan, steps_per_data_epoch, recorder.last_steady_step_seconds
        )
        windows = timing.EpochRecorder(sync, watcher=watcher)
        chosen = [timing.keras_callback(windows), timing.calibration_callback(kernel)]
        if recipe.lr_steps:
            warmup = plan.warmup_epochs

            def data_epoch(window: int) -> int:
                return warmup + (window * shape.steps) // max(steps_per_data_epoch, 1)

            chosen.append(
                keras.callbacks.LearningRateScheduler(
                    lambda window, _lr: recipe.learning_rate_at(
                        data_epoch(window), plan.learning_rate
                    )
                )
            )
        with sampling(sampler) as sampled:
            keras_model.fit(
                backend.inputs.repeat(streams.train),
                epochs=shape.count,
                steps_per_epoch=shape.steps,
                verbose=0,
                callbacks=chosen,
                shuffle=False,
            )
    recorded.telemetry = sampled.result
    recorded.windows = windows
    recorded.window_plan = shape
    return recorded


def gpu_sampler(
    backend: backends.Backend, devices_used: Sequence[str]
) -> telemetry.Sampler | telemetry.RunTelemetry | None:
    """The telemetry sampler of a run on GPUs (or why there is none); None on the CPU."""
    gpus = [name for name in devices_used if is_gpu(name)]
    if not gpus:
        return None
    return telemetry.sampler_for_devices(backend.devices.pci_bus_ids(gpus), gpus)


def is_gpu(device_name: str) -> bool:
    """``/device:GPU:0`` (TensorFlow), ``gpu:0`` (JAX) and ``cuda:0`` (PyTorch) are GPUs."""
    return "GPU" in device_name.upper() or device_name.lower().startswith("cuda")


@dataclass
class Sampled:
    """What ``sampling`` hands back once its block has ended."""

    result: telemetry.RunTelemetry | None = None


@contextlib.contextmanager
def sampling(
    sampler: telemetry.Sampler | telemetry.RunTelemetry | None,
) -> Iterator[Sampled]:
    """Run the sampler's thread for the block (a ``fit`` call), outside every window."""
    sampled = Sampled(sampler if isinstance(sampler, telemetry.RunTelemetry) else None)
    if not isinstance(sampler, telemetry.Sampler):
        yield sampled
        return
    sampler.start()
    try:
        yield sampled
    finally:
        sampled.result = sampler.stop()


def collect(
    mut: ModelUnderTest,
    keras_model: keras.Model,
    ds: Dataset,
    data: RunData,
    plan: TrainPlan,
    recorded: Recorded,
    device: str,
    strategy: Any | None = None,
) -> TrainResult:
    """The timed epochs and windows and the held-out accuracy as a ``TrainResult``."""
    train_images = int(data.x_train.shape[0])
    epochs: list[EpochResult] = []
    kernel = recorded.kernel.seconds
    windows: list[WindowResult] = []
    for timed in recorded.epochs.epochs:
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
        if recorded.windows is None and timed.index >= plan.warmup_epochs:
            # Per-epoch timing (early stopping, or windows=0): each measured
            # epoch is a window.
            windows.append(_window(len(windows), timed, plan, _at(kernel, timed.index)))
    if recorded.windows is not None:
        offset = len(recorded.epochs.epochs)
        for timed in recorded.windows.epochs:
            windows.append(_window(timed.index, timed, plan, _at(kernel, offset + timed.index)))
    prepared = data.prepared
    test_images = int(prepared.x_test.shape[0])
    return TrainResult(
        model=mut.name,
        dataset=ds.name,
        data_source=ds.source,
        params=int(keras_model.count_params()),
        batch_size=plan.batch_size,
        epochs=tuple(epochs),
        accuracy=_test_accuracy(keras_model, prepared, plan, device) if test_images else None,
        test_images=test_images,
        device=device,
        preprocessing=tuple(prepared.preprocessing),
        fallback_reason=ds.fallback_reason,
        windows=tuple(windows),
        arrangement={**runtime_arrangement(), **run_arrangement(keras_model, strategy, device)},
        telemetry=recorded.telemetry,
        precision=precision_in_force(),
        tf32=tf32_in_force(),
        jit_compile=bool(getattr(keras_model, "jit_compile", False)),
        strategy=plan.strategy if strategy is not None else None,
        devices=strategy_devices(strategy, device),
    )


def run_arrangement(keras_model: Any, strategy: Any | None, device: str) -> dict[str, object]:
    """What of the run's own set-up changes its timing: recorded only when not the default
    (several replicas, XLA on), so that baselines measured before still match."""
    extra: dict[str, object] = {}
    replicas = len(strategy_devices(strategy, device))
    if replicas > 1:
        extra["replicas"] = replicas
    if getattr(keras_model, "jit_compile", False):
        extra["xla"] = True
    return extra


def tf32_in_force() -> bool:
    """Whether the backend multiplies float32 matrices in TF32 now."""
    return backends.current().numerics.tf32()


def precision_in_force() -> str:
    """``tf32`` for the float32 policy with TF32 on, else the Keras policy's name."""
    policy = str(import_keras().mixed_precision.global_policy().name)
    return "tf32" if policy == "float32" and tf32_in_force() else policy


def _at(values: list[float], index: int) -> float | None:
    return values[index] if 0 <= index < len(values) else None


def _window(
    index: int, timed: timing.EpochTiming, plan: TrainPlan, calibration: float | None
) -> WindowResult:
    return WindowResult(
        index=index + 1,
        seconds=timed.seconds,
        steps=timed.steps,
        images=timed.steps * plan.batch_size,
        loss=timed.logs.get("loss", math.nan),
        calibration_seconds=calibration,
    )


def runtime_arrangement() -> dict[str, object]:
    """The cores and threads this process trains with (see ``runtime.arrangement``)."""
    from pytest_cnnperf.runtime import arrangement

    return arrangement()


def profile_layers(
    keras_model: keras.Model,
    streams: Pipelines,
    plan: TrainPlan,
    result: TrainResult,
    device: str,
    run_seconds: float,
) -> LayerProfile:
    """The profiled window after the timed windows and the evaluation (see ``layers``).

    It runs on its own (``Profiler.profile_window``), after ``fit`` has returned:
    no timed window and no reference kernel is ever profiled.
    """
    from pytest_cnnperf.layerprofile import LayerProfile

    backend = backends.current()
    unavailable = backend.profiler.layers_unavailable()
    if unavailable is not None:
        return LayerProfile.skipped(unavailable)
    from pytest_cnnperf import layers

    # The timed windows' step (per-epoch timing makes each measured epoch a
    # window); the epochs' when there is none.
    step = result.step_seconds_median
    if step is None:
        step = layers.unprofiled_step(result.epochs)
    size = layers.window_size(
        forced_steps=plan.layer_steps, run_seconds=run_seconds, step_seconds=step
    )
    try:
        if isinstance(size, str):
            return LayerProfile.skipped(size)
        return backend.profiler.profile_window(
            keras_model,
            streams.train,
            batch_size=plan.batch_size,
            full_batches=result.epochs[0].images >= plan.batch_size if result.epochs else False,
            device=device,
            size=size,
            unprofiled_step_seconds=step,
            sync=backend.devices.synchronize,
        )
    finally:
        backend.profiler.remove_instrumentation(keras_model)


def _test_accuracy(
    keras_model: keras.Model, prepared: Dataset, plan: TrainPlan, device: str
) -> float:
    backend = backends.current()
    evaluation = backend.inputs.evaluation(
        prepared.x_test, prepared.y_test, batch_size=max(plan.batch_size, EVALUATION_BATCH)
    )
    with backend.devices.scope(device):
        scores = keras_model.evaluate(evaluation, verbose=0, return_dict=True)
    return float(scores["accuracy"])


def _validation_loss(keras: Any, data: Any) -> Any:
    """A callback that adds ``val_loss`` to the epoch logs, for early stopping."""

    class ValidationLoss(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            scores = self.model.evaluate(data, verbose=0, return_dict=True)
            if logs is not None:
                logs["val_loss"] = float(scores["loss"])
                logs["val_accuracy"] = float(scores.get("accuracy", math.nan))

    return ValidationLoss()
