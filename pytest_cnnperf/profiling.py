"""Per-layer attribution of profiled training steps, read from the profiler's XSpace.

Pure: the functions take ``tensorflow.tsl.profiler.protobuf.xplane_pb2``
objects (TensorFlow's window) or the planes of ``jax.profiler.ProfileData``
(JAX's), or anything with the same fields, and import neither TensorFlow nor
JAX, so that they are unit-tested on hand-built profiles.
``backends.tensorflow_layers`` runs TensorFlow's profiled window and calls
``attribute``.

What an op is charged to
------------------------

Keras 3 names every op by the name scopes it was built in: a layer's forward
ops ``<model>/<layer>/...``, its gradient ops ``gradient_tape/<model>/<layer>/...``
(TensorFlow adds ``StatefulPartitionedCall/`` and sometimes a ``_1`` suffix
to a scope). The optimizer's ops sit under its own scope (``adam/...``) with
no variable in their names, so ``layers.instrument`` opens a scope
``cnnperf_update_<i>`` around the update of each variable of layer ``i``,
and ``cnnperf_metrics`` around the metrics; the loss is ``compile_loss/...``.
Everything else is a named category: the input pipeline (the step's
``IteratorGetNext``), the optimizer's shared work (the iteration counter,
learning-rate terms), the gradient sums where one tensor feeds several
layers (root-level ``AddN`` in the backward pass), and "other ops".

How time is counted (CPU)
-------------------------

A step is the interval of its ``cnnperf_step`` marker (a
``tf.profiler.experimental.Trace`` around one call of the train function).
Only ops of the executors that ran the model's ops count: tf.data's
background threads and other work of the process are left out, so
prefetching that overlaps compute steals nothing from the layers. On each
thread an op's time is its *self* time (an enclosing op loses the time of the
ops inside it). Across threads the executor runs independent ops in
parallel, so the step is swept from start to end and each instant is shared
equally among the parts (a layer's forward, backward or optimizer update, or
a category) active at that instant; a part active on two threads at once is
counted once. The parts therefore sum to the union of busy time, never more
than the step. The rest is not covered: "launch" before the step's first op
and after its last (Python, the train function's call and return), and
"between ops" inside (executor scheduling, idle threads). Coverage is the
share of the step charged to specific work: every part but "other ops".

Fusion across layers
--------------------

When grappler or oneDNN fuses a convolution or matrix product into the op of
the next layer (``_FusedConv2D`` named after a BatchNormalization or
activation layer, say), the time cannot be split between the two, so the
layers are reported merged ("conv + bn") instead of guessing a split. An XLA
kernel whose HLO ops come from several layers merges them the same way.

On GPU the device's kernel events are swept the same way, each kernel charged
to the op that launched it (its annotation) or, for XLA, to the TensorFlow
ops its HLO instructions came from.
"""

from __future__ import annotations

import bisect
import gc
import glob
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Name of the trace event ``layers`` puts around each profiled step.
STEP_MARKER = "cnnperf_step"
#: Scope ``layers.instrument`` opens around the optimizer update of layer ``i``'s variables.
UPDATE_SCOPE = "cnnperf_update_"
#: Scope ``layers.instrument`` opens around ``model.compute_metrics``.
METRICS_SCOPE = "cnnperf_metrics"
#: Keras' scope of the compiled loss.
LOSS_SCOPE = "compile_loss"

FORWARD = "forward"
BACKWARD = "backward"
OPTIMIZER = "optimizer"
PHASES = (FORWARD, BACKWARD, OPTIMIZER)

LOSS_AND_METRICS = "loss and metrics"
INPUT_PIPELINE = "input pipeline"
OPTIMIZER_SHARED = "optimizer, shared"
GRADIENT_SUMS = "gradient sums"
OTHER_OPS = "other ops"
#: Categories outside the layers that count as covered, in display order.
COVERED_CATEGORIES = (LOSS_AND_METRICS, INPUT_PIPELINE, OPTIMIZER_SHARED, GRADIENT_SUMS)
CATEGORIES = (*COVERED_CATEGORIES, OTHER_OPS)

HOST_PLANE = "/host:CPU"
DEVICE_PLANE_PREFIX = "/device:GPU:"
METADATA_PLANE = "/host:metadata"

#: A TensorFlow op event: ``<op name>:<op type>`` (op names hold no ':' or space).
_OP_EVENT = re.compile(r"^([A-Za-z0-9.][A-Za-z0-9_.\-/>]*):([A-Za-z_][A-Za-z0-9_]*)$")
_SUFFIX = re.compile(r"^(.*)_\d+$")
_UPDATE = re.compile(rf"^{UPDATE_SCOPE}(\d+)(?:_\d+)?$")
#: Op types of a convolution or matrix product fused with what follows it.
_FUSED_CONTRACTION = re.compile(r"^_\w*Fused\w*(Conv|MatMul|Einsum)")
_INPUT_OP_TYPES = frozenset({"IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional"})
_HLO_FIELD = re.compile(r"(hlo_op|hlo_module|program_id)=([^,#]+)")


class ProfileError(Exception):
    """The profile cannot be attributed; the message says why."""


@dataclass(frozen=True)
class ModelScopes:
    """The names an op's scopes are matched against.

    Args:
        model: the model's name (its outermost scope).
        layers: the top-level layers' names, in model order.
        optimizer: the optimizer's name scope, or None.
        contraction_layers: layers whose forward pass is a convolution or a
            matrix product, to recognise one fused into the next layer.
        inbound: each layer's input layers, to name the layers a fusion merged.
    """

    model: str
    layers: tuple[str, ...]
    optimizer: str | None = None
    contraction_layers: frozenset[str] = frozenset()
    inbound: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Part:
    """What time is charged to: a layer's phase, or a category (``phase`` empty)."""

    owner: str
    phase: str = ""

    @property
    def is_layer(self) -> bool:
        return bool(self.phase)

    @property
    def covered(self) -> bool:
        return self.owner != OTHER_OPS


@dataclass(frozen=True)
class StepAttribution:
    """One profiled step: its wall time and the seconds charged to each part.

    ``launch_seconds`` is the part of the step before its first op and after
    its last (Python, the train function's call and return); the rest of the
    time no part ran is ``between_ops_seconds`` (executor scheduling, idle).
    """

    seconds: float
    parts: Mapping[Part, float]
    launch_seconds: float = 0.0

    @property
    def busy_seconds(self) -> float:
        return sum(self.parts.values())

    @property
    def covered_seconds(self) -> float:
        return sum(value for part, value in self.parts.items() if part.covered)

    @property
    def between_ops_seconds(self) -> float:
        return max(self.seconds - self.busy_seconds - self.launch_seconds, 0.0)

    @property
    def coverage(self) -> float:
        return self.covered_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Attribution:
    """Every profiled step, the layer groups fusion merged, and how it was read."""

    steps: tuple[StepAttribution, ...]
    merged: tuple[tuple[str, ...], ...] = ()
    source: str = "host"


# --------------------------------------------------------------------------- names


def _match(component: str, names: Iterable[str]) -> str | None:
    """``component`` as one of ``names``, allowing TensorFlow's ``_<n>`` uniquifying suffix."""
    known = names if isinstance(names, (set, frozenset, dict)) else set(names)
    if component in known:
        return component
    stripped = _SUFFIX.match(component)
    if stripped and stripped.group(1) in known:
        return stripped.group(1)
    return None


class Classifier:
    """Maps op names to parts for one model (see the module docstring)."""

    def __init__(self, scopes: ModelScopes) -> None:
        self.scopes = scopes
        self._layers = frozenset(scopes.layers)
        self._models = frozenset({scopes.model})
        self._optimizer = frozenset({scopes.optimizer}) if scopes.optimizer else frozenset()
        #: (layer, producer) pairs found fused together.
        self.fused: set[tuple[str, ...]] = set()

    def classify(self, op_name: str, op_type: str = "") -> Part:
        components = op_name.split("/")
        backward = "gradient_tape" in components
        for index, component in enumerate(components[:-1]):
            if _match(component, self._models) is None:
                continue
            layer = _match(components[index + 1], self._layers)
            if layer is None:
                continue
            if backward and LOSS_SCOPE in components[:index]:
                break
            if not backward and _FUSED_CONTRACTION.match(op_type):
                self._note_fusion(layer)
            return Part(layer, BACKWARD if backward else FORWARD)
        for index, component in enumerate(components):
            if _match(component, self._optimizer) is None:
                continue
            for inner in components[index + 1 :]:
                update = _UPDATE.match(inner)
                if update and int(update.group(1)) < len(self.scopes.layers):
                    return Part(self.scopes.layers[int(update.group(1))], OPTIMIZER)
            return Part(OPTIMIZER_SHARED)
        if any(_match(c, (LOSS_SCOPE, METRICS_SCOPE)) for c in components):
            return Part(LOSS_AND_METRICS)
        if op_type in _INPUT_OP_TYPES or components[-1] in _INPUT_OP_TYPES:
            return Part(INPUT_PIPELINE)
        if op_type == "AddN" and _is_root(components):
            return Part(GRADIENT_SUMS)
        return Part(OTHER_OPS)

    def _note_fusion(self, layer: str) -> None:
        if layer in self.scopes.contraction_layers:
            return
        producers = tuple(
            p for p in self.scopes.inbound.get(layer, ()) if p in self.scopes.contraction_layers
        )
        if len(producers) == 1:
            self.fused.add((producers[0], layer))

    def merged_groups(self) -> tuple[tuple[str, ...], ...]:
        """Layers that fusion joined, as groups in model order (transitively)."""
        parent: dict[str, str] = {}

        def find(name: str) -> str:
            while parent.setdefault(name, name) != name:
                name = parent[name]
            return name

        for group in self.fused:
            first, *rest = group
            for other in rest:
                parent[find(other)] = find(first)
        groups: dict[str, list[str]] = defaultdict(list)
        order = {name: index for index, name in enumerate(self.scopes.layers)}
        for name in parent:
            groups[find(name)].append(name)
        ordered = (tuple(sorted(g, key=lambda n: order.get(n, 0))) for g in groups.values())
        return tuple(sorted(ordered, key=lambda g: order.get(g[0], 0)))


def _is_root(components: Sequence[str]) -> bool:
    """True for an op outside any scope but TensorFlow's call wrappers."""
    wrappers = ("StatefulPartitionedCall", "PartitionedCall")
    return all(c.startswith(wrappers) for c in components[:-1])


def parse_op_event(name: str) -> tuple[str, str] | None:
    """``("model/conv/Conv2D", "Conv2D")`` for an op event's name, None for other events."""
    match = _OP_EVENT.match(name)
    return (match.group(1), match.group(2)) if match else None


# --------------------------------------------------------------------------- reading XSpace


@dataclass(frozen=True)
class _Event:
    start_ps: int
    end_ps: int
    name: str
    stats: Mapping[str, Any]


def _stat_names(plane: Any) -> dict[int, str]:
    return {int(key): str(meta.name) for key, meta in plane.stat_metadata.items()}


def _stats(stats: Iterable[Any], names: Mapping[int, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for stat in stats:
        kind = stat.WhichOneof("value")
        if kind is None:
            continue
        value = getattr(stat, kind)
        if kind == "ref_value":
            value = names.get(int(value), value)
        found[names.get(int(stat.metadata_id), str(stat.metadata_id))] = value
    return found


class _Plane:
    """One plane's events, read lazily: stats are decoded only for events that need them."""

    def __init__(self, plane: Any) -> None:
        self.plane = plane
        self.stat_names = _stat_names(plane)
        self.names = {int(key): str(meta.name) for key, meta in plane.event_metadata.items()}

    def lines(
        self, wanted: frozenset[int] | None = None
    ) -> Iterable[tuple[str, list[tuple[int, int, int, Any]]]]:
        """Each line's name and its events as (start, end, metadata id, event), by start.

        With ``wanted``, only events of those metadata ids (reading a
        protobuf field costs more than the rest of the attribution).
        """
        for line in self.plane.lines:
            base = int(line.timestamp_ns) * 1000
            events = []
            for event in line.events:
                meta = event.metadata_id
                if wanted is not None and meta not in wanted:
                    continue
                start = base + event.offset_ps
                events.append((start, start + event.duration_ps, meta, event))
            events.sort(key=_by_start)
            yield str(line.name), events

    def event(self, start: int, end: int, metadata_id: int, raw: Any) -> _Event:
        stats = _stats(raw.stats, self.stat_names)
        meta = self.plane.event_metadata.get(metadata_id)
        if meta is not None and len(meta.stats):
            stats = {**_stats(meta.stats, self.stat_names), **stats}
        return _Event(start, end, self.names.get(metadata_id, ""), stats)


def _by_start(event: tuple[int, int, int, Any]) -> tuple[int, int]:
    return event[0], -event[1]


class _DataPlane(_Plane):
    """One plane of ``jax.profiler.ProfileData`` (events named, stats as pairs), read as ``_Plane``.

    Its events carry their names and absolute times (nanoseconds, as floats)
    instead of metadata ids and offsets: each name gets an id here, once per plane.
    """

    def __init__(self, plane: Any) -> None:
        self.plane = plane
        self.stat_names: dict[int, str] = {}
        ids: dict[str, int] = {}
        self._lines: list[tuple[str, list[tuple[int, int, int, Any]]]] = []
        for line in plane.lines:
            events = []
            for event in line.events:
                start = round(event.start_ns * 1000)
                meta = ids.setdefault(str(event.name), len(ids) + 1)
                events.append((start, start + round(event.duration_ns * 1000), meta, event))
            self._lines.append((str(line.name), events))
        self.names = {meta: name for name, meta in ids.items()}

    def lines(
        self, wanted: frozenset[int] | None = None
    ) -> Iterable[tuple[str, list[tuple[int, int, int, Any]]]]:
        for name, events in self._lines:
            chosen = [e for e in events if wanted is None or e[2] in wanted]
            chosen.sort(key=_by_start)
            yield name, chosen

    def event(self, start: int, end: int, metadata_id: int, raw: Any) -> _Event:
        stats = {str(key): value for key, value in raw.stats if key is not None}
        return _Event(start, end, self.names.get(metadata_id, ""), stats)


def _reader(plane: Any) -> _Plane:
    # An XPlane protobuf names its events through metadata; ProfileData's do not.
    return _Plane(plane) if hasattr(plane, "event_metadata") else _DataPlane(plane)


def _planes(space: Any, name: str) -> list[_Plane]:
    return [_reader(plane) for plane in space.planes if plane.name == name]


def device_planes(space: Any) -> list[_Plane]:
    """The GPU planes (``/device:GPU:N``) of the XSpace."""
    return [_reader(p) for p in space.planes if str(p.name).startswith(DEVICE_PLANE_PREFIX)]


def xspace_bytes(logdir: str) -> bytes:
    """The serialized XSpace the profiler wrote last under ``logdir``."""
    files = sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))
    if not files:
        raise ProfileError(f"The profiler wrote no .xplane.pb file under {logdir}.")
    with open(files[-1], "rb") as handle:
        return handle.read()


def step_windows(space: Any) -> list[tuple[int, int]]:
    """The ``cnnperf_step`` intervals of the host plane, in order (picoseconds)."""
    windows: list[tuple[int, int]] = []
    for plane in _planes(space, HOST_PLANE):
        markers = frozenset(key for key, name in plane.names.items() if name == STEP_MARKER)
        for _, events in plane.lines(markers):
            windows.extend((start, end) for start, end, meta, _ in events if meta in markers)
    return sorted(windows)


# --------------------------------------------------------------------------- time sweep


Segment = tuple[int, int, Part]


def self_time(events: Sequence[tuple[int, int, Part]]) -> list[Segment]:
    """On one thread, each event's time less that of the events nested in it.

    ``events`` may be in any order; partial overlaps (which one thread cannot
    produce) are clipped to the enclosing event.
    """
    ordered = sorted(events, key=lambda e: (e[0], -e[1]))
    out: list[Segment] = []
    # Each stack entry: [start, end, part, cursor] where cursor is how far
    # the entry's own time has been emitted.
    stack: list[list[Any]] = []

    def close_until(time: int) -> None:
        while stack and stack[-1][1] <= time:
            _, end, part, cursor = stack.pop()
            if cursor < end:
                out.append((cursor, end, part))
            if stack:
                stack[-1][3] = max(stack[-1][3], end)

    for start, end, part in ordered:
        close_until(start)
        if stack:
            top = stack[-1]
            if top[3] < start:
                out.append((top[3], start, top[2]))
            end = min(end, top[1])
            top[3] = max(top[3], end)
        if start < end:
            stack.append([start, end, part, start])
    close_until(max((e[1] for e in ordered), default=0) + 1)
    return out


def share_time(segments: Iterable[Segment], start: int, end: int) -> dict[Part, float]:
    """Sweep ``[start, end)``: each instant shared equally among the parts active then.

    Returns seconds per part; they sum to the union of the segments within
    the window.
    """
    bounds: list[tuple[int, int, Part]] = []
    for seg_start, seg_end, part in segments:
        lo, hi = max(seg_start, start), min(seg_end, end)
        if lo < hi:
            bounds.append((lo, 1, part))
            bounds.append((hi, -1, part))
    bounds.sort(key=lambda b: (b[0], b[1]))
    active: Counter[Part] = Counter()
    shares: dict[Part, float] = defaultdict(float)
    previous = start
    for time, delta, part in bounds:
        if time > previous and active:
            each = (time - previous) / len(active) / 1e12
            for running in active:
                shares[running] += each
        previous = time
        active[part] += delta
        if active[part] == 0:
            del active[part]
    return dict(shares)


# --------------------------------------------------------------------------- attribution


def attribute(
    space: Any,
    scopes: ModelScopes,
    *,
    hlo_ops: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
) -> Attribution:
    """Charge every profiled step's time to the model's layers and the categories.

    Args:
        space: an ``XSpace`` holding ``cnnperf_step`` markers.
        scopes: the model's names.
        hlo_ops: for XLA kernels on GPU, each HLO module's instructions
            mapped to the TensorFlow op names they came from (see
            ``hlo_op_names``).

    Raises:
        ProfileError: the profile holds no step marker, or no op of the model.
    """
    collecting = gc.isenabled()
    # The reading makes many small objects and no cycles: collecting would
    # double its time.
    gc.disable()
    try:
        return _attribute(space, scopes, hlo_ops or {})
    finally:
        if collecting:
            gc.enable()


def _attribute(
    space: Any, scopes: ModelScopes, hlo_ops: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> Attribution:
    windows = step_windows(space)
    if not windows:
        raise ProfileError(
            f"The profile holds no {STEP_MARKER!r} step marker: the profiler recorded no "
            "host events (was another profiler session running?)."
        )
    classifier = Classifier(scopes)
    kernels = _device_segments(device_planes(space), classifier, hlo_ops)
    host = _host_segments(space, classifier)
    if kernels:
        segments = kernels + [s for s in host if s[2].owner == INPUT_PIPELINE]
        source = "device"
    else:
        segments = host
        source = "host"
    if not any(part.is_layer for _, _, part in segments):
        raise ProfileError(
            f"No op of the profile belongs to a layer of {scopes.model!r}: its ops are not "
            "named by Keras layer scopes (a model run eagerly, or compiled as one XLA "
            "computation on CPU, is not split per layer)."
        )
    steps = attribute_steps(windows, segments)
    return Attribution(steps=steps, merged=classifier.merged_groups(), source=source)


def attribute_steps(
    windows: Sequence[tuple[int, int]], segments: Sequence[Segment]
) -> tuple[StepAttribution, ...]:
    """Each step window (picoseconds) swept over the segments that fall in it.

    The time before a step's first segment and after its last is its
    launch; ``share_time`` shares the rest among the parts active.
    """
    ordered = sorted(segments)
    starts = [segment[0] for segment in ordered]
    longest = max((e - s for s, e, _ in ordered), default=0)
    steps = []
    for start, end in windows:
        # Segments that can reach into the window: they start at most `longest` before it.
        lo = bisect.bisect_left(starts, start - longest)
        hi = bisect.bisect_right(starts, end)
        inside = [s for s in ordered[lo:hi] if s[1] > start and s[0] < end]
        first = min((max(s[0], start) for s in inside), default=end)
        last = max((min(s[1], end) for s in inside), default=end)
        steps.append(
            StepAttribution(
                (end - start) / 1e12,
                share_time(inside, start, end),
                launch_seconds=((first - start) + (end - last)) / 1e12,
            )
        )
    return tuple(steps)


_PROCESS = "ExecutorState::Process"
_ASYNC_INPUT = ("ExecutorState::ProcessAsync::Start", "IteratorGetNextOp::DoCompute")


def _host_segments(space: Any, classifier: Classifier) -> list[Segment]:
    """Self-time segments of the ops of the executors that ran the model's ops."""
    per_line: list[list[tuple[int, int, Part, Any]]] = []
    model_executors: set[Any] = set()
    for plane in _planes(space, HOST_PLANE):
        # What each event name is, decided once per name rather than per event.
        kinds: dict[int, str | Part] = {}
        for key, name in plane.names.items():
            if name == _PROCESS:
                kinds[key] = _PROCESS
            elif name in _ASYNC_INPUT:
                kinds[key] = name
            elif (parsed := parse_op_event(name)) is not None:
                kinds[key] = classifier.classify(*parsed)
        for _, events in plane.lines(frozenset(kinds)):
            process: tuple[int, Any] | None = None  # (end, executor id)
            ops: list[tuple[int, int, Part, Any]] = []
            for start, end, meta, raw in events:
                kind = kinds.get(meta)
                if kind is None:
                    continue
                if kind == _PROCESS:
                    process = (end, plane.event(start, end, meta, raw).stats.get("id"))
                elif isinstance(kind, Part):
                    executor = process[1] if process is not None and process[0] >= end else None
                    ops.append((start, end, kind, executor))
                    if kind.is_layer and executor is not None:
                        model_executors.add(executor)
                else:
                    stats = plane.event(start, end, meta, raw).stats
                    op_kind = stats.get("kernel_type") or stats.get("name")
                    if kind.startswith("Iterator") or op_kind in _INPUT_OP_TYPES:
                        executor = stats.get("step_id", stats.get("id"))
                        ops.append((start, end, Part(INPUT_PIPELINE), executor))
            per_line.append(ops)
    segments: list[Segment] = []
    for ops in per_line:
        mine = [(s, e, p) for s, e, p, executor in ops if executor in model_executors]
        segments.extend(self_time(mine))
    return segments


def _device_segments(
    planes: Sequence[_Plane],
    classifier: Classifier,
    hlo_ops: Mapping[str, Mapping[str, tuple[str, ...]]],
) -> list[Segment]:
    """Kernel events of the GPU planes, each charged to the op that launched it."""
    segments: list[Segment] = []
    for plane in planes:
        for _, events in kernel_lines(plane):
            for start, end, meta, raw in events:
                event = plane.event(start, end, meta, raw)
                segments.append((start, end, _kernel_part(event, classifier, hlo_ops)))
    return segments


def kernel_lines(plane: _Plane) -> list[tuple[str, list[tuple[int, int, int, Any]]]]:
    """A GPU plane's stream lines (its kernels), or all its lines if none is named a stream."""
    lines = list(plane.lines())
    return [(n, ev) for n, ev in lines if n.startswith("Stream")] or lines


def _kernel_part(
    event: _Event, classifier: Classifier, hlo_ops: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> Part:
    annotation = str(event.stats.get("annotation") or event.stats.get("kernel_annotation") or "")
    tf_op = event.stats.get("tf_op")
    if tf_op:
        parsed = parse_op_event(str(tf_op))
        if parsed:
            return classifier.classify(*parsed)
    fields = dict(_HLO_FIELD.findall(annotation))
    module, instruction = fields.get("hlo_module"), fields.get("hlo_op")
    if module and instruction and module in hlo_ops:
        names = hlo_ops[module].get(instruction, ())
        return _joined_part(classifier, names)
    for piece in reversed(annotation.split("::")):
        parsed = parse_op_event(piece.split("#", 1)[0])
        if parsed:
            return classifier.classify(*parsed)
    return Part(OTHER_OPS)


def _joined_part(classifier: Classifier, op_names: Iterable[str]) -> Part:
    """One kernel made of several TensorFlow ops (an XLA fusion): one part, merged if need be."""
    parts = {classifier.classify(name) for name in op_names}
    layers = {p for p in parts if p.is_layer}
    if not layers:
        covered = [p for p in parts if p.covered]
        return min(covered) if covered else Part(OTHER_OPS)
    owners = sorted({p.owner for p in layers}, key=classifier.scopes.layers.index)
    if len(owners) > 1:
        classifier.fused.add(tuple(owners))
    phases = Counter(p.phase for p in layers)
    return Part(owners[0], phases.most_common(1)[0][0])


def hlo_op_names(module: Any) -> dict[str, tuple[str, ...]]:
    """Each instruction of an ``HloModuleProto`` mapped to the TF op names it holds.

    A fusion holds the op names of every instruction of its fused
    computations, recursively.
    """
    computations = {c.id: c for c in module.computations}
    own: dict[int, list[str]] = {}
    for computation in module.computations:
        names: list[str] = []
        for instruction in computation.instructions:
            if instruction.metadata.op_name:
                names.append(str(instruction.metadata.op_name))
        own[computation.id] = names

    def gather(computation_id: int, seen: set[int]) -> list[str]:
        if computation_id in seen or computation_id not in computations:
            return []
        seen.add(computation_id)
        found = list(own.get(computation_id, ()))
        for instruction in computations[computation_id].instructions:
            for called in instruction.called_computation_ids:
                found.extend(gather(called, seen))
        return found

    mapping: dict[str, tuple[str, ...]] = {}
    for computation in module.computations:
        for instruction in computation.instructions:
            names = [str(instruction.metadata.op_name)] if instruction.metadata.op_name else []
            for called in instruction.called_computation_ids:
                names.extend(gather(called, set()))
            if names:
                mapping[str(instruction.name)] = tuple(dict.fromkeys(names))
    return mapping
