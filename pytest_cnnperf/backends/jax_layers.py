"""The profiled window on the JAX backend (docs/layers.md, "On JAX").

The same window as ``backends.tensorflow_layers.profile_window``, run with JAX's
profiler: after the timed windows and the held-out evaluation, the compiled
train function ``fit`` traced is called for a few more steps on the run's own
host-array pipeline, the first unprofiled, some unprofiled and timed, the
others under ``jax.profiler`` with a ``cnnperf_step`` trace annotation around
each (the devices synchronized inside it). ``jaxprofiling`` attributes the
XSpace; ``layers.build_profile`` makes the result.

Keras' JAX trainer is stateless: a step takes the model's variables as a
state and returns the new one. The window takes the state from the model
the way ``fit`` does and puts the last one back, so the model has trained
the window's steps afterwards, as on TensorFlow.

The batches are fetched by one worker thread, ``host_inputs.PREFETCH_BATCHES``
ahead, as ``fit``'s ``PyDataset`` worker does; the step's wait for its batch
is traced as ``jaxprofiling.INPUT_MARKER`` (the input pipeline).

The profile is read without TensorFlow: its events by
``jax.profiler.ProfileData``, its compiled modules by ``hlotext`` (the HLO
protos found in the XSpace's bytes, printed as text by jaxlib). JAX and Keras
are imported inside the functions that need them.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pytest_cnnperf import hlotext, jaxprofiling, layers, profiling
from pytest_cnnperf.layerprofile import LayerProfile


def instrument(keras_model: Any) -> None:
    """``layers.instrument`` with ``keras.name_scope``, which names JAX's ops."""
    from pytest_cnnperf.backends.imports import import_keras

    layers.instrument(keras_model, scope=import_keras().name_scope)


class Batches:
    """The run's pipeline without end, prefetched by one thread; full batches only if asked.

    ``next`` is what the train function calls for its batch; the wait is
    traced as ``jaxprofiling.INPUT_MARKER``.
    """

    def __init__(self, pipeline: Any, *, batch_size: int, full_batches: bool) -> None:
        from pytest_cnnperf.backends.host_inputs import PREFETCH_BATCHES, repeated

        self._endless = repeated(pipeline)
        self._batch_size = batch_size
        self._full = full_batches
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnperf-batches")
        self._queue: collections.deque[Future[Any]] = collections.deque()
        self._index = 0
        for _ in range(PREFETCH_BATCHES):
            self._submit()

    def _submit(self) -> None:
        self._queue.append(self._pool.submit(self._endless.__getitem__, self._index))
        self._index += 1

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        import jax

        with jax.profiler.TraceAnnotation(jaxprofiling.INPUT_MARKER):
            while True:
                batch = self._queue.popleft().result()
                self._submit()
                if not self._full or len(batch[0]) == self._batch_size:
                    return batch

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class TrainingState:
    """The model's variables as the stateless train function's state, as ``fit`` holds them."""

    def __init__(self, keras_model: Any) -> None:
        self.model = keras_model
        self.state = keras_model._get_jax_state(
            trainable_variables=True,
            non_trainable_variables=True,
            optimizer_variables=True,
            metrics_variables=True,
            purge_model_variables=True,
        )
        keras_model._jax_state_synced = False

    def step(self, train_function: Callable[..., Any], batches: Batches) -> None:
        _, self.state = train_function(self.state, batches)

    def put_back(self) -> None:
        """The last state into the model's variables (``fit`` does the same at its end)."""
        trainable, non_trainable, optimizer, metrics = self.state
        self.model._jax_state = {
            "trainable_variables": trainable,
            "non_trainable_variables": non_trainable,
            "optimizer_variables": optimizer,
            "metrics_variables": metrics,
        }
        try:
            self.model.jax_state_sync()
        finally:
            self.model._jax_state = None


def _profile_options(jax: Any) -> Any:
    options = jax.profiler.ProfileOptions()
    # Python's own calls are not attributed, and tracing them would slow the step.
    options.python_tracer_level = 0
    options.host_tracer_level = 2
    options.enable_hlo_proto = True
    return options


@contextlib.contextmanager
def _profiler(jax: Any, logdir: str) -> Iterator[None]:
    try:
        jax.profiler.start_trace(logdir, profiler_options=_profile_options(jax))
    except RuntimeError as error:  # a profiling session is already running
        raise profiling.ProfileError(f"JAX's profiler did not start ({error}).") from error
    try:
        yield
    finally:
        jax.profiler.stop_trace()


def cpu_peak(jax: Any, dtype: str) -> float:
    """XLA's best FLOP/s of a jitted matrix product in ``dtype`` on this CPU (``measured_peak``)."""
    size = layers.PEAK_MATMUL_SIZE
    cpu = jax.devices("cpu")[0]
    a = jax.device_put(jax.random.uniform(jax.random.key(0), (size, size), dtype=dtype), cpu)
    b = jax.device_put(jax.random.uniform(jax.random.key(1), (size, size), dtype=dtype), cpu)
    product = jax.jit(jax.numpy.matmul)
    return layers.measured_peak("jax", dtype, lambda: product(a, b).block_until_ready())


def _peak(jax: Any, device: str, dtype: str) -> tuple[float | None, str]:
    """The measured CPU peak, or the datasheet peak of the GPU ``device`` (``gpu:<id>``)."""
    if "gpu" not in device.lower():
        return cpu_peak(jax, dtype), layers.cpu_peak_source(dtype)
    number = device.rsplit(":", 1)[-1]
    names = [d.device_kind for d in jax.devices("gpu") if str(d.id) == number]
    if not names:
        return None, "GPU name unknown"
    tf32 = str(jax.config.jax_default_matmul_precision) == "tensorfloat32"
    return layers.gpu_peak(str(names[0]), dtype, tf32)


def module_text(data: bytes) -> str:
    """An ``HloModuleProto``'s HLO text with op names, without shapes (``hlotext.parse_module``)."""
    from jaxlib import xla_client

    # jaxlib's HLO bindings, re-exported by xla_client without an explicit export.
    hlo = xla_client.hlo  # type: ignore[attr-defined]
    module = hlo.HloModule.from_serialized_hlo_module_proto(data)
    options = hlo.HloPrintOptions()
    options.print_metadata = True
    options.print_result_shape = False
    options.print_operand_shape = False
    options.print_large_constants = False
    text: str = module.to_string(options)
    return text


def read_profile(logdir: str) -> tuple[Any, dict[str, hlotext.HloModule]]:
    """The XSpace JAX's profiler wrote under ``logdir`` and its compiled modules.

    The events are read by ``jax.profiler.ProfileData``, the modules by
    ``hlotext`` and jaxlib: no TensorFlow.
    """
    from jax.profiler import ProfileData

    data = profiling.xspace_bytes(logdir)
    return ProfileData.from_serialized_xspace(data), hlotext.hlo_modules(data, module_text)


def profile_window(
    keras_model: Any,
    pipeline: Any,
    *,
    batch_size: int,
    full_batches: bool,
    device: str,
    size: layers.WindowSize,
    unprofiled_step_seconds: float | None,
    sync: Callable[[], None],
) -> LayerProfile:
    """Run ``size`` more training steps on ``pipeline``, profile them, and attribute them.

    ``pipeline`` is the run's ``host_inputs.host_batches``. A profiler that
    cannot start (another session is running) or a profile that cannot be
    attributed gives a profile with no steps and a note saying why.
    """
    from pytest_cnnperf.backends import keras_device_scope
    from pytest_cnnperf.backends.imports import import_keras
    from pytest_cnnperf.backends.jax import import_jax

    jax = import_jax()
    keras = import_keras()
    scopes = layers.scopes_of(keras_model)
    started = time.perf_counter()
    if getattr(keras_model, "train_function", None) is None:
        keras_model.make_train_function()
    train_function = keras_model.train_function
    logdir = tempfile.mkdtemp(prefix="cnnperf-profile-")
    batches = Batches(pipeline, batch_size=batch_size, full_batches=full_batches)
    state = TrainingState(keras_model)
    try:
        with keras_device_scope(device):
            reference = layers.unprofiled_steps(
                lambda: state.step(train_function, batches), sync, size
            )
            with _profiler(jax, logdir):
                for step in range(size.profiled):
                    with jax.profiler.TraceAnnotation(profiling.STEP_MARKER, step_num=step):
                        state.step(train_function, batches)
                        sync()
        space, modules = read_profile(logdir)
        attribution = jaxprofiling.attribute(space, scopes, modules)
    except profiling.ProfileError as error:
        return LayerProfile.skipped(f"Per-layer timing failed: {error}")
    finally:
        state.put_back()
        batches.close()
        shutil.rmtree(logdir, ignore_errors=True)
    dtype = str(keras.config.dtype_policy().compute_dtype)
    peak = _peak(jax, device, dtype)
    return layers.window_profile(
        attribution,
        keras_model,
        batch_size=batch_size,
        size=size,
        reference=reference,
        unprofiled_step_seconds=unprofiled_step_seconds,
        started=started,
        peak=peak,
    )
