"""The PyTorch backend: ``torch.cuda`` devices, host-array inputs, TF32 switches, profiler.

Keras picks its PyTorch device when it is imported (``KERAS_TORCH_DEVICE``),
so ``pin`` sets that variable before the import and every model is built and
trained inside ``keras.device`` of the placement too. CPU work is
synchronous; on a GPU, synchronization is ``torch.cuda.synchronize`` of the
placement's device. Threads are ``torch.set_num_threads`` (and the inter-op
pool once, before any parallel work).

The profiled window (``TorchProfiler``) names each layer's call, the loss,
the metrics and the optimizer's updates with ``torch.profiler.record_function``
ranges for its profiled steps only, runs them under ``torch.profiler.profile``
and hands the events to ``torchprofile.attribute`` (docs/layers.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pytest_cnnperf import devices, profiling
from pytest_cnnperf.backends import Backend, keras_device_scope, missing_framework, no_strategy
from pytest_cnnperf.backends.host_inputs import HostInputs
from pytest_cnnperf.devices import Placement
from pytest_cnnperf.markers import SettingsError

if TYPE_CHECKING:
    from pytest_cnnperf.layerprofile import LayerProfile
    from pytest_cnnperf.layers import WindowSize
    from pytest_cnnperf.torchprofile import TorchEvent

WHO = "PyTorch"


def import_torch() -> ModuleType:
    """``torch``, or the error that says how to install it."""
    try:
        import torch
    except ImportError as error:
        raise missing_framework("torch", "torch", error) from error
    return torch


class TorchDevices:
    def __init__(self) -> None:
        self._cuda_index: int | None = None

    def gpu_count(self) -> int:
        torch = import_torch()
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0

    def missing_gpu_message(self) -> str | None:
        torch = import_torch()
        if self.gpu_count():
            return None
        cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        cuda_text = "unset" if cuda_visible is None else repr(cuda_visible)
        built = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA"
        return (
            "--cnnperf-gpu was given, but PyTorch sees no GPU, and pytest-cnnperf never falls "
            "back to the CPU silently. Looked for: torch.cuda.is_available() returned False; "
            f"CUDA_VISIBLE_DEVICES is {cuda_text}; PyTorch {torch.__version__} was built "
            f"{built}. Install a CUDA build of PyTorch, or drop --cnnperf-gpu to measure on "
            "the CPU."
        )

    def pin(self, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
        if not gpu:
            devices.choose_index(requested if requested is not None else 0, None, 1, "cpu", WHO)
            os.environ["KERAS_TORCH_DEVICE"] = "cpu"
            return Placement("cpu", "cpu", 0, 1)
        count = self.gpu_count()
        index = devices.choose_index(requested, worker_id, count, "gpu", WHO)
        os.environ["KERAS_TORCH_DEVICE"] = f"cuda:{index}"
        import_torch().cuda.set_device(index)
        self._cuda_index = index
        return Placement(f"cuda:{index}", "gpu", index, count)

    def synchronize(self) -> None:
        if self._cuda_index is not None:
            import_torch().cuda.synchronize(self._cuda_index)

    def scope(self, device_name: str) -> AbstractContextManager[Any]:
        return keras_device_scope(device_name)

    def pci_bus_ids(self, device_names: Sequence[str]) -> dict[str, str] | str:
        torch = import_torch()
        found: dict[str, str] = {}
        for name in device_names:
            index = int(name.rsplit(":", 1)[-1]) if ":" in name else 0
            props = torch.cuda.get_device_properties(index)
            bus = getattr(props, "pci_bus_id", None)
            if bus is None:
                return (
                    f"GPU telemetry is off: PyTorch {torch.__version__} gives no PCI bus id "
                    f"for {name}."
                )
            found[name] = (
                f"{int(getattr(props, 'pci_domain_id', 0)):04x}:{int(bus):02x}:"
                f"{int(getattr(props, 'pci_device_id', 0)):02x}.0"
            )
        return found

    def strategy(self, name: str, kind: str, count: int | None) -> Any:
        raise SettingsError(no_strategy(name, "torch"))


class TorchNumerics:
    def share_threads(self, cores: int) -> None:
        torch = import_torch()
        torch.set_num_threads(cores)
        # Allowed once, before any inter-op parallel work: a second call raises.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(cores)

    def threads(self) -> int:
        return int(import_torch().get_num_threads())

    def configure(self, *, precision: str, deterministic: bool) -> None:
        torch = import_torch()
        tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        if deterministic:
            # cuBLAS needs a fixed workspace for deterministic results.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True)

    def tf32(self) -> bool:
        return bool(import_torch().backends.cuda.matmul.allow_tf32)

    def jit(self, requested: bool) -> bool:
        # True compiles the step with torch.compile.
        return requested


class TorchSoftware:
    def fingerprint(self, *, gpu: bool) -> dict[str, str]:
        from pytest_cnnperf.environment import package_version

        versions: dict[str, str] = {}
        found = package_version(("torch",))
        if found:
            versions["torch"] = found
        if gpu:
            import sys

            torch = sys.modules.get("torch")
            if torch is not None and torch.version.cuda:
                versions["cuda"] = str(torch.version.cuda)
                cudnn = torch.backends.cudnn.version()
                if cudnn:
                    versions["cudnn"] = str(cudnn)
        return versions


class TorchProfiler:
    """Per-layer times from ``torch.profiler``, attributed by ``torchprofile``.

    PyTorch runs Keras' train step eagerly, so nothing has to be named before
    it is traced: the ranges are put in place around the profiled steps only
    (``named``) and taken away after them, and neither the timed windows nor
    the window's unprofiled reference steps pay for them.
    """

    def layers_unavailable(self) -> str | None:
        return None

    def instrument(self, keras_model: Any) -> None:
        # Nothing to do before fit: ``profile_window`` names the work itself.
        return None

    def remove_instrumentation(self, keras_model: Any) -> None:
        return None

    def profile_window(self, keras_model: Any, pipeline: Any, **window: Any) -> LayerProfile:
        return profile_window(keras_model, pipeline, **window)


#: Why a model compiled with ``torch.compile`` has no per-layer table.
COMPILED = (
    "Per-layer timing skipped: the train step is compiled with torch.compile "
    "(jit_compile=True), whose compiled graphs do not run through the layers' calls that "
    "the profiled window names, so their time is not charged to layers. Train with "
    "--cnnperf-jit=off to get the table."
)


def window_pipeline(pipeline: Any, *, batch_size: int, full_batches: bool) -> Any:
    """``pipeline`` (from ``HostInputs.training``) without end; full batches only if asked.

    Raises:
        TypeError: ``pipeline`` is not a ``HostInputs`` pipeline.
        ValueError: full batches are asked for but the pipeline holds fewer
            images than one batch.
    """
    from pytest_cnnperf.backends.host_inputs import host_batches

    arrays = getattr(pipeline, "arrays", None)
    arguments = getattr(pipeline, "arguments", None)
    if arrays is None or arguments is None:
        raise TypeError(
            "Expected the training pipeline HostInputs.training made (a keras.utils.PyDataset "
            f"of host arrays). Received: pipeline={pipeline!r}"
        )
    steps = arguments.get("steps")
    if full_batches:
        whole = len(arrays[0]) // batch_size
        if whole < 1:
            raise ValueError(
                f"Expected at least one full batch of {batch_size} images for the profiled "
                f"window. Received: {len(arrays[0])} images"
            )
        steps = whole if steps is None else min(steps, whole)
    return host_batches(*arrays, **{**arguments, "steps": steps}, passes=None)


@contextlib.contextmanager
def batches(
    pipeline: Any, *, batch_size: int, full_batches: bool, steps: int
) -> Iterator[Callable[[], Any]]:
    """A function giving each step's data as ``fit`` gives it to the train function.

    Keras' own epoch iterator over ``window_pipeline``, for ``steps`` steps;
    its prefetch thread is stopped on leaving.
    """
    from keras.src.backend.torch.trainer import TorchEpochIterator

    epoch = TorchEpochIterator(
        x=window_pipeline(pipeline, batch_size=batch_size, full_batches=full_batches),
        steps_per_epoch=steps,
    )
    iterator = iter(epoch)
    try:
        yield lambda: next(iterator)[2]
    finally:
        epoch.reset()


@contextlib.contextmanager
def named(keras_model: Any) -> Iterator[None]:
    """``record_function`` ranges around each layer's call, the loss, the metrics and the
    optimizer's updates (the names ``torchprofile`` reads), removed on leaving.

    Only names are added: every wrapped method is called with the same arguments.
    """
    from pytest_cnnperf import layers, torchprofile

    torch = import_torch()
    record = torch.profiler.record_function
    scopes = layers.scopes_of(keras_model)
    undo: list[tuple[Any, str, bool, Any]] = []

    def wrap(owner: Any, attribute: str, name: str | Callable[..., str | None]) -> None:
        original = getattr(owner, attribute, None)
        if owner is None or not callable(original):
            return

        @functools.wraps(original)
        def ranged(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            if label is None:
                return original(*args, **kwargs)
            with record(label):
                return original(*args, **kwargs)

        own = attribute in vars(owner)
        undo.append((owner, attribute, own, vars(owner).get(attribute)))
        setattr(owner, attribute, ranged)

    model_layers = layers.model_layers(keras_model)
    owners = {
        id(weight): index
        for index, layer in enumerate(model_layers)
        for weight in layer.trainable_weights
    }
    try:
        for layer in model_layers:
            wrap(layer, "call", torchprofile.layer_range(scopes.model, layer.name))
        wrap(keras_model, "compute_loss", profiling.LOSS_SCOPE)
        wrap(keras_model, "compute_metrics", profiling.METRICS_SCOPE)
        wrap(getattr(keras_model, "_loss_tracker", None), "update_state", profiling.METRICS_SCOPE)
        optimizer = getattr(keras_model, "optimizer", None)
        # A LossScaleOptimizer (mixed_float16) updates through its inner optimizer.
        inner = getattr(optimizer, "inner_optimizer", None) or optimizer
        if scopes.optimizer:
            wrap(optimizer, "apply", scopes.optimizer)

        def updates(grads: Any, variables: Any, *rest: Any, **kwargs: Any) -> str:
            return torchprofile.updates_range([owners.get(id(v), -1) for v in variables])

        def update(gradient: Any, variable: Any, *rest: Any, **kwargs: Any) -> str | None:
            index = owners.get(id(variable))
            return None if index is None else f"{profiling.UPDATE_SCOPE}{index}"

        wrap(inner, "_backend_update_step", updates)
        wrap(inner, "update_step", update)
        yield
    finally:
        for owner, attribute, own, previous in reversed(undo):
            if own:
                setattr(owner, attribute, previous)
            else:
                with contextlib.suppress(AttributeError):
                    delattr(owner, attribute)


#: Events ``torch.profiler`` leaves out of ``events()`` too: the ranges' own
#: enter and exit operators (the instrumentation's cost, not the model's),
#: memory records, and three metadata lookups.
_LEFT_OUT = frozenset(
    {
        "[memory]",
        "[OutOfMemory]",
        "profiler::_record_function_enter",
        "profiler::_record_function_enter_new",
        "profiler::_record_function_exit",
        "aten::is_leaf",
        "aten::output_nr",
        "aten::_version",
    }
)


def events_of(results: Any) -> list[TorchEvent]:
    """The fields ``torchprofile`` reads, from a profile's raw kineto results.

    ``profiler.profiler.kineto_results`` of a ``torch.profiler.profile``:
    reading its events directly took a tenth of the time ``events()`` takes
    to build its event tree (0.06 s against 0.52 s for 10 LeNet-5 steps);
    times are taken from the trace's start, as ``events()`` gives them.
    """
    from pytest_cnnperf.torchprofile import TorchEvent

    start_ns = int(results.trace_start_ns())
    found = []
    for event in results.events():
        name = str(event.name())
        if name in _LEFT_OUT or event.is_async():
            continue
        if getattr(event, "is_hidden_event", lambda: False)():
            continue
        found.append(
            TorchEvent(
                name=name,
                start_us=(int(event.start_ns()) - start_ns) / 1000,
                end_us=(int(event.end_ns()) - start_ns) / 1000,
                thread=int(event.start_thread_id()),
                fwd_thread=int(event.fwd_thread_id()),
                sequence_nr=int(event.sequence_nr()),
                annotation=bool(event.is_user_annotation()),
                id=int(event.correlation_id()),
                device=str(event.device_type()).rsplit(".", 1)[-1].lower(),
                linked_id=int(event.linked_correlation_id()),
            )
        )
    return found


def cpu_peak(dtype: str) -> float:
    """``torch.mm``'s best FLOP/s in ``dtype`` on this CPU (``layers.measured_peak``)."""
    from pytest_cnnperf.layers import PEAK_MATMUL_SIZE, measured_peak

    torch = import_torch()
    size = PEAK_MATMUL_SIZE
    kind = getattr(torch, dtype)
    a = torch.rand((size, size), dtype=kind)
    b = torch.rand((size, size), dtype=kind)
    return measured_peak("torch", dtype, lambda: torch.mm(a, b))


def _peak(device: str, dtype: str) -> tuple[float | None, str]:
    from pytest_cnnperf.layers import cpu_peak_source, gpu_peak

    torch = import_torch()
    if not device.startswith("cuda"):
        return cpu_peak(dtype), cpu_peak_source(dtype)
    index = int(device.rsplit(":", 1)[-1]) if ":" in device else 0
    name = str(torch.cuda.get_device_name(index))
    return gpu_peak(name, dtype, bool(torch.backends.cuda.matmul.allow_tf32))


def profile_window(
    keras_model: Any,
    pipeline: Any,
    *,
    batch_size: int,
    full_batches: bool,
    device: str,
    size: WindowSize,
    unprofiled_step_seconds: float | None,
    sync: Callable[[], None],
) -> LayerProfile:
    """Run ``size`` more training steps on ``pipeline``, profile them, and attribute them.

    Each step fetches its batch from the pipeline (repeated; full batches only
    with ``full_batches``) and calls the train function ``fit`` uses, as
    ``fit`` does; the warm-up and reference steps run without the ranges and
    the profiler, the profiled steps with both, each inside a
    ``cnnperf_step`` range. A profiler that cannot start or a profile that
    cannot be attributed gives a profile with no steps and a note saying why.
    """
    from pytest_cnnperf import layers, torchprofile
    from pytest_cnnperf.backends.imports import import_keras
    from pytest_cnnperf.layerprofile import LayerProfile

    torch = import_torch()
    keras = import_keras()
    if getattr(keras_model, "jit_compile", False):
        return LayerProfile.skipped(COMPILED)
    started = time.perf_counter()
    scopes = layers.scopes_of(keras_model)
    train_function = keras_model.make_train_function() or keras_model.train_function
    steps = size.warmup + size.reference + size.profiled
    record = torch.profiler.record_function
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    window = batches(pipeline, batch_size=batch_size, full_batches=full_batches, steps=steps)
    # fit trains in training mode and leaves the model in inference mode.
    keras_model.train()
    try:
        with window as data:
            reference = layers.unprofiled_steps(lambda: train_function(data()), sync, size)
            with named(keras_model), torch.profiler.profile(activities=activities) as profiler:
                for _ in range(size.profiled):
                    with record(torchprofile.STEP_MARKER):
                        with record(torchprofile.INPUT_RANGE):
                            batch = data()
                        train_function(batch)
                        sync()
        attribution = torchprofile.attribute(events_of(profiler.profiler.kineto_results), scopes)
    except (profiling.ProfileError, RuntimeError, StopIteration) as error:
        return LayerProfile.skipped(f"Per-layer timing failed: {error}")
    finally:
        keras_model.eval()
    dtype = str(keras.config.dtype_policy().compute_dtype)
    return layers.window_profile(
        attribution,
        keras_model,
        batch_size=batch_size,
        size=size,
        reference=reference,
        unprofiled_step_seconds=unprofiled_step_seconds,
        started=started,
        peak=_peak(device, dtype),
    )


def make() -> Backend:
    return Backend(
        "torch", TorchDevices(), HostInputs(), TorchNumerics(), TorchSoftware(), TorchProfiler()
    )
