"""The profiled window's backend-neutral parts: per-layer training time (docs/layers.md).

Each backend runs its own window behind ``backends.Profiler``
(``backends.tensorflow_layers``, ``backends.jax_layers``, ``backends.torch``); this module
holds what they share. ``instrument`` runs before the first ``fit``: it
opens a name scope around each variable's optimizer update
(``cnnperf_update_<layer index>``) and one around the metrics, so that their
ops can be charged to a layer or a category; only op names change. After the
timed windows and the held-out evaluation, the window calls the compiled
train function for a few more steps on the same pipeline, the first
unprofiled, the others under the backend's profiler with a ``cnnperf_step``
marker around each, and ``window_profile`` makes the result. No timed
window (or epoch) and no reference kernel is ever profiled.

The window's length follows a time budget (``window_size``): by default it
may add ``BUDGET_SHARE`` of the run's own wall time, so that on by default
costs the suite little; ``layer_steps`` sets the number of profiled steps.

No framework is imported here: each backend's window brings its own.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_cnnperf import profiling
from pytest_cnnperf.layerprofile import (
    BETWEEN_OPS,
    LAUNCH,
    OTHER_OPS,
    CategoryTiming,
    LayerProfile,
    LayerTiming,
)

if TYPE_CHECKING:
    import keras

#: A default window may add at most this share of the run's wall time.
BUDGET_SHARE = 0.08
#: Most profiled steps a default window takes.
MAX_PROFILED_STEPS = 20
#: A budget of this many steps or more spends one on an unprofiled warm-up step
#: and some on unprofiled steps timed the same way as the profiled ones.
WARMUP_FROM = 4
#: At most this many unprofiled steps are timed to compare the profiled ones with.
MAX_REFERENCE_STEPS = 3
#: The matrix product timed for the CPU peak.
PEAK_MATMUL_SIZE = 1024
PEAK_REPEATS = 5

_CONTRACTIONS = (
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Dense",
    "EinsumDense",
)

#: Dense datasheet peaks in FLOP/s by GPU name fragment: float32 (CUDA cores),
#: TF32 tensor cores (TensorFlow's default for float32 matrix work on Ampere
#: and later), and 16-bit tensor cores. The first fragment in the name wins.
GPU_PEAKS: tuple[tuple[str, float, float | None, float], ...] = (
    ("H200", 67e12, 494.7e12, 989.4e12),
    ("H100 PCIe", 51.2e12, 378e12, 756e12),
    ("H100", 67e12, 494.7e12, 989.4e12),
    ("A100", 19.5e12, 156e12, 312e12),
    ("A10", 31.2e12, 62.5e12, 125e12),
    ("L4", 30.3e12, 60e12, 121e12),
    ("V100", 15.7e12, None, 125e12),
    ("T4", 8.1e12, None, 65e12),
)


@dataclass(frozen=True)
class WindowSize:
    """Unprofiled warm-up steps (left out), unprofiled timed steps, then profiled steps."""

    warmup: int
    reference: int
    profiled: int


@dataclass(frozen=True)
class LayerInfo:
    """A layer's static figures for the table."""

    name: str
    kind: str
    output_shape: str
    params: int
    forward_flops: float | None


# --------------------------------------------------------------------------- sizing


def window_size(
    *, forced_steps: int | None, run_seconds: float, step_seconds: float | None
) -> WindowSize | str:
    """How many steps to profile, or why none (a sentence for the table's place).

    Args:
        forced_steps: the test's ``layer_steps`` setting: that many profiled
            steps after one warm-up step and some unprofiled ones, whatever
            they cost.
        run_seconds: the run's wall time so far (data, compile, timed windows,
            evaluation).
        step_seconds: the timed windows' median step (the measured epochs'
            with per-epoch timing).
    """
    if forced_steps is not None:
        return WindowSize(1, _reference(forced_steps), forced_steps)
    if step_seconds is None or step_seconds <= 0:
        return WindowSize(0, 0, 1)
    affordable = math.floor(BUDGET_SHARE * run_seconds / step_seconds)
    if affordable < 1:
        return (
            f"Per-layer timing skipped: one training step ({step_seconds:.3g} s) would add "
            f"more than {BUDGET_SHARE:.0%} to this run ({run_seconds:.3g} s). Set "
            "layer_steps=N on the test (@pytest.mark.cnnperf(layer_steps=3)) to profile "
            "N steps anyway."
        )
    if affordable >= WARMUP_FROM:
        profiled = min(affordable - 1 - _reference(affordable - 1), MAX_PROFILED_STEPS)
        return WindowSize(1, _reference(profiled), profiled)
    return WindowSize(0, 0, affordable)


def _reference(profiled: int) -> int:
    """Unprofiled steps to time beside ``profiled`` profiled ones: a third, 1 to 3."""
    return max(1, min(MAX_REFERENCE_STEPS, profiled // 3))


# --------------------------------------------------------------------------- the model


def _weight_key(weight: Any) -> int:
    """The identity the TensorFlow optimizer sees a Keras variable by (its tf.Variable)."""
    return id(getattr(weight, "value", weight))


def model_layers(keras_model: keras.Model) -> list[Any]:
    """The top-level layers that run ops (input layers left out), in model order."""
    return [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]


def _inner_optimizer(keras_model: Any) -> Any:
    optimizer = getattr(keras_model, "optimizer", None)
    # A LossScaleOptimizer (mixed_float16) updates through its inner optimizer.
    return getattr(optimizer, "inner_optimizer", None) or optimizer


def remove_instrumentation(keras_model: keras.Model) -> None:
    """Back to the model's and optimizer's own methods (names already traced stay)."""
    inner = _inner_optimizer(keras_model)
    for owner, name in ((inner, "update_step"), (keras_model, "compute_metrics")):
        if owner is not None and name in vars(owner):
            with contextlib.suppress(AttributeError, TypeError):
                delattr(owner, name)


def instrument(
    keras_model: keras.Model, scope: Callable[[str], AbstractContextManager[Any]]
) -> None:
    """Name scopes for the optimizer update of each layer's variables, and for the metrics.

    Call after ``compile`` and before the train function is first traced.
    Only op names change, never the computation.

    Args:
        keras_model: the compiled model.
        scope: opens a name scope (TensorFlow's window passes ``tf.name_scope``;
            JAX's ``keras.name_scope``, which names JAX's ops).
    """
    owners: dict[int, int] = {}
    for index, layer in enumerate(model_layers(keras_model)):
        for weight in layer.trainable_weights:
            owners[_weight_key(weight)] = index
            # JAX's optimizer is given the Keras variable itself.
            owners[id(weight)] = index
    inner = _inner_optimizer(keras_model)
    if inner is not None and callable(getattr(inner, "update_step", None)):
        update_step = inner.update_step

        def scoped_update(gradient: Any, variable: Any, learning_rate: Any) -> Any:
            index = owners.get(id(variable), owners.get(_weight_key(variable)))
            if index is None:
                return update_step(gradient, variable, learning_rate)
            with scope(f"{profiling.UPDATE_SCOPE}{index}"):
                return update_step(gradient, variable, learning_rate)

        inner.update_step = scoped_update
    compute_metrics = keras_model.compute_metrics

    def scoped_metrics(*args: Any, **kwargs: Any) -> Any:
        with scope(profiling.METRICS_SCOPE):
            return compute_metrics(*args, **kwargs)

    keras_model.compute_metrics = scoped_metrics


def _inbound(layer: Any, previous: str | None) -> tuple[str, ...]:
    try:
        names = {
            parent.operation.name
            for node in layer._inbound_nodes
            for parent in node.parent_nodes
            if parent.operation is not None
        }
    except (AttributeError, TypeError):
        names = set()
    return tuple(sorted(names)) or ((previous,) if previous else ())


def scopes_of(keras_model: keras.Model) -> profiling.ModelScopes:
    """The names ``profiling`` matches op scopes against."""
    layers = model_layers(keras_model)
    inner = _inner_optimizer(keras_model)
    inbound: dict[str, tuple[str, ...]] = {}
    previous: str | None = None
    for layer in layers:
        inbound[layer.name] = _inbound(layer, previous)
        previous = layer.name
    return profiling.ModelScopes(
        model=keras_model.name,
        layers=tuple(layer.name for layer in layers),
        optimizer=getattr(inner, "name", None),
        contraction_layers=frozenset(
            layer.name for layer in layers if type(layer).__name__ in _CONTRACTIONS
        ),
        inbound=inbound,
    )


def _shape(tensor: Any) -> tuple[Any, ...] | None:
    try:
        return tuple(tensor.shape)
    except (AttributeError, TypeError, ValueError):
        return None


def _product(values: Sequence[Any]) -> float:
    return float(math.prod(int(v) for v in values))


def forward_flops(layer: Any, batch_size: int) -> float | None:
    """FLOPs of one forward pass over a batch, for convolutions and dense layers.

    Convolution: 2 * Ho * Wo * Cout * (Cin / groups) * Kh * Kw per image;
    depthwise: 2 * Ho * Wo * Cin * multiplier * Kh * Kw; separable: its
    depthwise and pointwise parts; transposed: 2 * Hi * Wi * Cin * Cout * Kh * Kw;
    dense: 2 * in * out per row. A nested model sums its layers. Other layers:
    None (their element-wise work is not counted).
    """
    kind = type(layer).__name__
    if hasattr(layer, "layers") and kind not in _CONTRACTIONS:
        counts = [forward_flops(inner, batch_size) for inner in layer.layers]
        known = [c for c in counts if c is not None]
        return sum(known) if known else None
    if kind not in _CONTRACTIONS:
        return None
    try:
        inputs, outputs = _shape(layer.input), _shape(layer.output)
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs or any(d is None for d in (*inputs[1:], *outputs[1:])):
        return None
    if kind in ("Dense", "EinsumDense"):
        if kind == "EinsumDense":
            return None
        rows = _product(outputs[1:-1])
        return 2.0 * int(inputs[-1]) * int(outputs[-1]) * rows * batch_size
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    channels_in = int(inputs[1] if first else inputs[-1])
    channels_out = int(outputs[1] if first else outputs[-1])
    spatial_in = inputs[2:] if first else inputs[1:-1]
    spatial_out = outputs[2:] if first else outputs[1:-1]
    kernel = _product(layer.kernel_size)
    if kind.startswith("Depthwise"):
        per_image = 2 * _product(spatial_out) * channels_out * kernel
    elif kind.startswith("Separable"):
        multiplier = int(getattr(layer, "depth_multiplier", 1))
        depthwise = 2 * _product(spatial_out) * channels_in * multiplier * kernel
        per_image = depthwise + 2 * _product(spatial_out) * channels_in * multiplier * channels_out
    elif kind.endswith("Transpose"):
        per_image = 2 * _product(spatial_in) * channels_in * channels_out * kernel
    else:
        groups = int(getattr(layer, "groups", 1) or 1)
        per_image = 2 * _product(spatial_out) * channels_out * (channels_in / groups) * kernel
    return float(per_image * batch_size)


def inventory(keras_model: keras.Model, batch_size: int) -> list[LayerInfo]:
    """Name, class, output shape, parameters and forward FLOPs of each layer."""
    infos = []
    for layer in model_layers(keras_model):
        try:
            shape = _shape(layer.output)
        except (AttributeError, ValueError):
            shape = None
        infos.append(
            LayerInfo(
                name=layer.name,
                kind=type(layer).__name__,
                output_shape="-" if shape is None else str(shape),
                params=int(layer.count_params()) if layer.built else 0,
                forward_flops=forward_flops(layer, batch_size),
            )
        )
    return infos


# --------------------------------------------------------------------------- peaks

_CPU_PEAKS: dict[tuple[str, str], float] = {}
#: What ``peak_source`` says of a measured CPU peak.
CPU_PEAK_SOURCE = "best {dtype} {size}x{size} matrix product measured on this CPU"


def measured_peak(backend: str, dtype: str, product: Callable[[], Any]) -> float:
    """The best FLOP/s of ``product`` on this CPU, measured once per process per backend and dtype.

    ``product`` computes one ``PEAK_MATMUL_SIZE`` square matrix product with
    the backend's own kernels and returns when the result is ready; it is run
    once untimed, then ``PEAK_REPEATS`` times, and the fastest counts.
    """
    key = (backend, dtype)
    if key not in _CPU_PEAKS:
        product()
        best = math.inf
        for _ in range(PEAK_REPEATS):
            started = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - started)
        _CPU_PEAKS[key] = 2.0 * PEAK_MATMUL_SIZE**3 / best
    return _CPU_PEAKS[key]


def cpu_peak_source(dtype: str) -> str:
    return CPU_PEAK_SOURCE.format(dtype=dtype, size=PEAK_MATMUL_SIZE)


def gpu_peak(device_name: str, dtype: str, tf32: bool) -> tuple[float | None, str]:
    """The datasheet peak of the GPU called ``device_name`` for ``dtype``, and its source."""
    for fragment, fp32, tf32_peak, half in GPU_PEAKS:
        if fragment.lower() in device_name.lower():
            if dtype in ("float16", "bfloat16"):
                return half, f"datasheet dense {dtype} tensor-core peak of the {fragment}"
            if tf32 and tf32_peak is not None:
                return tf32_peak, f"datasheet dense TF32 tensor-core peak of the {fragment}"
            return fp32, f"datasheet float32 peak of the {fragment}"
    return None, f"no datasheet peak known for {device_name!r}"


# --------------------------------------------------------------------------- the window


def unprofiled_steps(
    step: Callable[[], object], sync: Callable[[], None], size: WindowSize
) -> list[float]:
    """Run the window's warm-up steps, then its reference steps timed; their seconds.

    Every backend's window calls this before its profiler starts: ``step``
    trains one step, ``sync`` waits for the devices, inside each step's clock.
    """
    for _ in range(size.warmup):
        step()
        sync()
    reference = []
    for _ in range(size.reference):
        started = time.perf_counter()
        step()
        sync()
        reference.append(time.perf_counter() - started)
    return reference


def window_profile(
    attribution: profiling.Attribution,
    keras_model: keras.Model,
    *,
    batch_size: int,
    size: WindowSize,
    reference: Sequence[float],
    unprofiled_step_seconds: float | None,
    started: float,
    peak: tuple[float | None, str],
) -> LayerProfile:
    """The ``LayerProfile`` of a finished window, on any backend.

    Args:
        reference: the seconds of its unprofiled reference steps; without
            any, the profiled step is set against ``unprofiled_step_seconds``
            (the timed windows' median step).
        started: ``time.perf_counter()`` when the window began.
        peak: the peak FLOP/s and where it comes from.
    """
    return build_profile(
        attribution,
        inventory(keras_model, batch_size),
        unprofiled_step_seconds=statistics.median(reference)
        if reference
        else unprofiled_step_seconds,
        reference_steps=len(reference),
        window_seconds=time.perf_counter() - started,
        warmup_steps=size.warmup,
        peak=peak[0],
        peak_source=peak[1],
    )


def build_profile(
    attribution: profiling.Attribution,
    infos: Sequence[LayerInfo],
    *,
    unprofiled_step_seconds: float | None,
    window_seconds: float,
    warmup_steps: int,
    peak: float | None,
    reference_steps: int = 0,
    peak_source: str,
) -> LayerProfile:
    """The ``LayerProfile`` of an attribution: layers in model order, fused ones merged."""
    steps = attribution.steps

    def series(part: profiling.Part) -> tuple[float, ...]:
        return tuple(step.parts.get(part, 0.0) for step in steps)

    groups = {name: group for group in attribution.merged for name in group}
    layers: list[LayerTiming] = []
    done: set[str] = set()
    by_name = {info.name: info for info in infos}
    for info in infos:
        if info.name in done:
            continue
        members = [by_name[n] for n in groups.get(info.name, (info.name,)) if n in by_name]
        done.update(member.name for member in members)
        phases = {
            phase: tuple(
                sum(values)
                for values in zip(
                    *(series(profiling.Part(m.name, phase)) for m in members), strict=True
                )
            )
            for phase in profiling.PHASES
        }
        flops = [m.forward_flops for m in members if m.forward_flops is not None]
        layers.append(
            LayerTiming(
                name=" + ".join(m.name for m in members),
                kind=" + ".join(m.kind for m in members),
                output_shape=members[-1].output_shape,
                params=sum(m.params for m in members),
                forward_seconds=phases[profiling.FORWARD],
                backward_seconds=phases[profiling.BACKWARD],
                optimizer_seconds=phases[profiling.OPTIMIZER],
                forward_flops=sum(flops) if flops else None,
                members=tuple(m.name for m in members) if len(members) > 1 else (),
            )
        )
    categories = [
        CategoryTiming(name, series(profiling.Part(name)), name != OTHER_OPS)
        for name in profiling.CATEGORIES
    ]
    categories.append(CategoryTiming(LAUNCH, tuple(s.launch_seconds for s in steps), False))
    categories.append(
        CategoryTiming(BETWEEN_OPS, tuple(s.between_ops_seconds for s in steps), False)
    )
    notes = []
    if attribution.merged:
        merged = "; ".join(" + ".join(group) for group in attribution.merged)
        notes.append(f"Fused across layers, so reported together: {merged}.")
    return LayerProfile(
        step_seconds=tuple(step.seconds for step in steps),
        layers=tuple(layers),
        categories=tuple(categories),
        unprofiled_step_seconds=unprofiled_step_seconds,
        window_seconds=window_seconds,
        warmup_steps=warmup_steps,
        reference_steps=reference_steps,
        source=attribution.source,
        peak_flops_per_second=peak,
        peak_source=peak_source,
        notes=tuple(notes),
    )


def unprofiled_step(epochs: Sequence[Any]) -> float | None:
    """The measured epochs' median of seconds per step (all epochs if none is measured)."""
    chosen = [e for e in epochs if not e.warmup] or list(epochs)
    per_step = [e.seconds / e.steps for e in chosen if e.steps]
    return float(statistics.median(per_step)) if per_step else None
