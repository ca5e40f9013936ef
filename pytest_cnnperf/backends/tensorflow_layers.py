"""The profiled window on the TensorFlow backend (docs/layers.md).

After the timed windows and the held-out evaluation, ``profile_window``
calls the compiled train function for a few more steps on the run's own
``tf.data`` pipeline, the first unprofiled, some unprofiled and timed, the
others under TensorFlow's profiler with a ``cnnperf_step`` marker around each,
and hands the XSpace (read with TensorFlow's ``xplane_pb2``) to
``profiling.attribute``; XLA kernels on a GPU are named through their HLO
modules (``hlo_pb2``). ``layers`` holds what every backend's window shares.

TensorFlow and Keras are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pytest_cnnperf import layers, profiling
from pytest_cnnperf.layerprofile import LayerProfile


def instrument(keras_model: Any) -> None:
    """``layers.instrument`` with ``tf.name_scope``, which names TensorFlow's ops."""
    from pytest_cnnperf.backends.imports import import_tensorflow

    layers.instrument(keras_model, scope=import_tensorflow().name_scope)


def cpu_peak(tf: Any, dtype: str) -> float:
    """TensorFlow's best FLOP/s of a ``dtype`` matrix product here (``layers.measured_peak``)."""
    size = layers.PEAK_MATMUL_SIZE
    with tf.device("/CPU:0"):
        a = tf.random.uniform((size, size), dtype=dtype)
        b = tf.random.uniform((size, size), dtype=dtype)
        product = tf.function(lambda x, y: tf.linalg.matmul(x, y))
        return layers.measured_peak("tensorflow", dtype, lambda: product(a, b).numpy())


def _peak(tf: Any, device: str, dtype: str) -> tuple[float | None, str]:
    if "GPU" not in device.upper():
        return cpu_peak(tf, dtype), layers.cpu_peak_source(dtype)
    try:
        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        name = str(details.get("device_name", "unknown GPU"))
        tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    except (AttributeError, IndexError, RuntimeError, ValueError):
        return None, "GPU name unknown"
    return layers.gpu_peak(name, dtype, tf32)


def read_space(logdir: str) -> Any:
    """The XSpace TensorFlow's profiler wrote last under ``logdir``, as ``xplane_pb2.XSpace``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    return xplane_pb2.XSpace.FromString(profiling.xspace_bytes(logdir))


def hlo_ops(space: Any) -> dict[str, Mapping[str, tuple[str, ...]]]:
    """For XLA kernels: each HLO module's instructions mapped to TensorFlow op names."""
    found: dict[str, Mapping[str, tuple[str, ...]]] = {}
    planes = [p for p in space.planes if p.name == profiling.METADATA_PLANE]
    if not planes:
        return found
    try:
        from tensorflow.compiler.xla.service import hlo_pb2
    except ImportError:
        return found
    for plane in planes:
        names = {int(k): m.name for k, m in plane.stat_metadata.items()}
        for meta in plane.event_metadata.values():
            for stat in meta.stats:
                if names.get(int(stat.metadata_id)) == "hlo_proto" and stat.bytes_value:
                    module = hlo_pb2.HloProto.FromString(stat.bytes_value).hlo_module
                    found[str(module.name)] = profiling.hlo_op_names(module)
                    found.setdefault(str(meta.name), found[str(module.name)])
    return found


@contextlib.contextmanager
def profiler(tf: Any, logdir: str, gpu: bool) -> Iterator[None]:
    """TensorFlow's profiler over the block: host events, and the GPU's kernels if ``gpu``."""
    options = tf.profiler.experimental.ProfilerOptions(
        host_tracer_level=2, python_tracer_level=0, device_tracer_level=1 if gpu else 0
    )
    tf.profiler.experimental.start(logdir, options=options)
    try:
        yield
    finally:
        tf.profiler.experimental.stop()


def profile_window(
    keras_model: Any,
    dataset: Any,
    *,
    batch_size: int,
    full_batches: bool,
    device: str,
    size: layers.WindowSize,
    unprofiled_step_seconds: float | None,
    sync: Callable[[], None],
) -> LayerProfile:
    """Run ``size`` more training steps on ``dataset``, profile them, and attribute them.

    The steps are batches of the run's own pipeline, repeated (full ones
    only with ``full_batches``, so that no new shape is traced). A
    profiler that cannot start (another session is running) or a profile that
    cannot be attributed gives a profile with no steps and a note saying why.
    """
    from pytest_cnnperf.backends.imports import import_keras, import_tensorflow

    tf = import_tensorflow()
    keras = import_keras()
    scopes = layers.scopes_of(keras_model)
    started = time.perf_counter()
    if getattr(keras_model, "train_function", None) is None:
        keras_model.make_train_function()
    train_function = keras_model.train_function
    if full_batches:
        dataset = dataset.filter(lambda x, *_: tf.shape(x)[0] == batch_size)
    full = dataset.repeat()
    logdir = tempfile.mkdtemp(prefix="cnnperf-profile-")
    try:
        with tf.device(device):
            iterator = iter(full)
            reference = layers.unprofiled_steps(lambda: train_function(iterator), sync, size)
            with profiler(tf, logdir, gpu="GPU" in device.upper()):
                for step in range(size.profiled):
                    with tf.profiler.experimental.Trace(profiling.STEP_MARKER, step_num=step, _r=1):
                        train_function(iterator)
                        sync()
                # One more step, outside any marker and never attributed: when
                # the profiler stopped right after the last marked step, that
                # step's last op (the first layer's gradient) was sometimes
                # missing from the trace (its end recorded after the step
                # returned, presumably; not verified).
                train_function(iterator)
                sync()
        space = read_space(logdir)
        attribution = profiling.attribute(space, scopes, hlo_ops=hlo_ops(space))
    except (profiling.ProfileError, tf.errors.OpError, StopIteration) as error:
        return LayerProfile.skipped(f"Per-layer timing failed: {error}")
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    dtype = str(keras.config.dtype_policy().compute_dtype)
    peak, peak_source = _peak(tf, device, dtype)
    return layers.window_profile(
        attribution,
        keras_model,
        batch_size=batch_size,
        size=size,
        reference=reference,
        unprofiled_step_seconds=unprofiled_step_seconds,
        started=started,
        peak=(peak, peak_source),
    )
