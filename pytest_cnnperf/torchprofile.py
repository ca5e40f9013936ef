"""Per-layer attribution of profiled training steps on PyTorch, read from its profiler's events.

Pure: the functions take ``TorchEvent`` records (the fields of the
profiler's events that matter, copied by ``backends.torch`` from the raw
kineto events of a ``torch.profiler.profile``) and import no PyTorch, so
that they are unit-tested on hand-built event lists. The time sweep, the
parts and the result types are ``profiling``'s, shared with TensorFlow.

What an event is charged to
---------------------------

Keras emits no profiler ranges on PyTorch, so ``backends.torch`` names the
work around the profiled steps with ``torch.profiler.record_function``
ranges (only names; the computation is the same):

* ``<model>/<layer>`` around each top-level layer's ``call``: the operators
  inside are that layer's forward pass;
* ``compile_loss`` around ``compute_loss`` and ``cnnperf_metrics`` around
  ``compute_metrics`` and the loss tracker: loss and metrics;
* the optimizer's name around ``optimizer.apply``: its work outside any
  variable's update (the iteration counter, learning-rate terms, weight
  decay) is "optimizer, shared";
* ``cnnperf_updates:<owners>`` around the optimizer's update of all
  variables at once (Keras' PyTorch optimizers update every variable with
  one ``torch._foreach_*`` call per formula term), ``<owners>`` the layer
  index of each variable in the order passed, ``-1`` for a variable of no
  top-level layer. On the CPU a ``_foreach_`` operator runs one operator per
  tensor, in list order, so its ``k``-th child is charged to the optimizer
  update of the layer owning variable ``k``; one whose children do not
  match the variables one to one (a fused multi-tensor kernel, as on a GPU)
  is "optimizer, shared". An optimizer that updates one variable at a time
  gets ``cnnperf_update_<i>`` around each (as on TensorFlow);
* ``cnnperf_input`` around fetching the step's batch: the input pipeline,
  its whole duration (waiting for the prefetch thread included, as
  TensorFlow's ``IteratorGetNext`` counts);
* ``cnnperf_step`` around each profiled step (the fetch and one call of the
  train function).

Backward operators run in autograd's engine, outside those ranges. The
profiler records each backward node (``autograd::engine::evaluate_function:
ConvolutionBackward0`` and the node ``ConvolutionBackward0`` inside it) with
the sequence number and the thread of the forward operator that created it
(``sequence_nr``, ``fwd_thread``); a forward operator records the sequence
number the next node will take, so the node is matched to the latest
forward operator with that number on that thread, and charged to the
backward pass of that operator's layer (or to loss and metrics); operators
inside a node are charged with it. ``AccumulateGrad`` nodes (writing a
variable's ``.grad``) carry no sequence number; the engine runs one as soon
as the node producing its gradient has finished (it has the highest
priority in the ready queue), so it is charged with the backward node that
ran just before it on its thread.

How time is counted
-------------------

Only the threads of the step (the one that ran the ``cnnperf_step`` ranges,
and any autograd thread that ran its backward nodes) count: the prefetch
thread of the input pipeline, whose augmentation ops overlap the step, takes
nothing from the layers. Ranges name; they are not work: on each thread an
operator's time is its self time, and Python between operators (Keras'
dispatch inside a layer's ``call``, the train step's own code) is not
charged. Each step is then swept with ``profiling.share_time`` as on
TensorFlow, so the parts sum to the union of busy time, never more than
the step; the rest is "launch" (before the step's first operator and after
its last) and "between ops" (inside the step, while no operator ran). With
device events (a GPU run), the kernels are swept instead, each charged to
the operator that launched it (``linked_id``), with the host's input
pipeline beside them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_cnnperf import profiling
from pytest_cnnperf.profiling import (
    BACKWARD,
    FORWARD,
    INPUT_PIPELINE,
    LOSS_AND_METRICS,
    OPTIMIZER,
    OPTIMIZER_SHARED,
    OTHER_OPS,
    Attribution,
    ModelScopes,
    Part,
    ProfileError,
    Segment,
)

STEP_MARKER = profiling.STEP_MARKER
#: Range around fetching a profiled step's batch.
INPUT_RANGE = "cnnperf_input"
#: Range around an optimizer's update of several variables at once (``cnnperf_updates:0,0,1``).
UPDATES_RANGE = "cnnperf_updates:"
#: How PyTorch's autograd engine names the evaluation of a backward node.
EVALUATE_PREFIX = "autograd::engine::evaluate_function:"
#: Operators that run one operator per tensor of their lists on the CPU.
FOREACH_PREFIX = "aten::_foreach_"

_PS_PER_US = 1_000_000


@dataclass(frozen=True)
class TorchEvent:
    """One event of ``torch.profiler``: an operator, a backward node, a range or a kernel.

    Args:
        name: ``aten::conv2d``, ``ConvolutionBackward0``, a range's name, a kernel's.
        start_us, end_us: its interval, microseconds from the profile's start.
        thread: the thread that ran it.
        fwd_thread: for a backward node, the thread of the forward operator
            that created it (0: none).
        sequence_nr: the autograd sequence number (-1: none).
        annotation: a ``record_function`` range rather than an operator.
        id: the operator's correlation id (kernels point at it).
        device: ``"cpu"``, or the device kind of a kernel (``"cuda"``).
        linked_id: for a kernel, the id of the operator that launched it.
    """

    name: str
    start_us: float
    end_us: float
    thread: int
    fwd_thread: int = 0
    sequence_nr: int = -1
    annotation: bool = False
    id: int = 0
    device: str = "cpu"
    linked_id: int = 0


def layer_range(model: str, layer: str) -> str:
    """The range around a layer's ``call``."""
    return f"{model}/{layer}"


def updates_range(owners: Sequence[int]) -> str:
    """The range around an update of several variables; ``owners[k]``: variable k's layer."""
    return UPDATES_RANGE + ",".join(str(owner) for owner in owners)


def parse_updates(name: str) -> tuple[int, ...] | None:
    """The owners an ``updates_range`` name holds; None for any other name.

    Raises:
        ProfileError: the name starts like one but its owners are not integers.
    """
    if not name.startswith(UPDATES_RANGE):
        return None
    text = name[len(UPDATES_RANGE) :]
    try:
        return tuple(int(owner) for owner in text.split(",")) if text else ()
    except ValueError:
        raise ProfileError(
            f"Expected a {UPDATES_RANGE!r} range to list a layer index per variable, "
            f"separated by commas. Received: name={name!r}"
        ) from None


def _ps(us: float) -> int:
    return round(us * _PS_PER_US)


# --------------------------------------------------------------------------- naming


@dataclass(frozen=True)
class _Context:
    """What an event passes on to the events nested in it."""

    part: Part | None
    owners: tuple[int, ...] | None = None  # inside an updates range
    backward: bool = False  # inside a backward node


class _Namer:
    """Maps range names to parts for one model."""

    def __init__(self, scopes: ModelScopes) -> None:
        self.scopes = scopes
        self.ranges: dict[str, Part] = {
            layer_range(scopes.model, layer): Part(layer, FORWARD) for layer in scopes.layers
        }
        self.ranges[profiling.LOSS_SCOPE] = Part(LOSS_AND_METRICS)
        self.ranges[profiling.METRICS_SCOPE] = Part(LOSS_AND_METRICS)
        self.ranges[INPUT_RANGE] = Part(INPUT_PIPELINE)
        if scopes.optimizer:
            self.ranges[scopes.optimizer] = Part(OPTIMIZER_SHARED)
        for index, layer in enumerate(scopes.layers):
            self.ranges[f"{profiling.UPDATE_SCOPE}{index}"] = Part(layer, OPTIMIZER)

    def update_part(self, owner: int) -> Part:
        if 0 <= owner < len(self.scopes.layers):
            return Part(self.scopes.layers[owner], OPTIMIZER)
        return Part(OPTIMIZER_SHARED)


def _backward_part(forward: Part | None) -> Part:
    """The part a backward node is charged to, given the forward operator that created it."""
    if forward is None:
        return Part(OTHER_OPS)
    if forward.phase == FORWARD:
        return Part(forward.owner, BACKWARD)
    if forward.owner == LOSS_AND_METRICS:
        return forward
    return Part(OTHER_OPS)


def _tree(events: Sequence[TorchEvent]) -> tuple[list[TorchEvent], list[int]]:
    """The events of one thread in start order, and each one's enclosing event (-1: none)."""
    ordered = sorted(events, key=lambda e: (e.start_us, -e.end_us))
    parents: list[int] = []
    stack: list[int] = []
    for index, event in enumerate(ordered):
        while stack and ordered[stack[-1]].end_us <= event.start_us:
            stack.pop()
        parents.append(stack[-1] if stack else -1)
        stack.append(index)
    return ordered, parents


def _is_backward_node(event: TorchEvent) -> bool:
    return not event.annotation and (
        event.name.startswith(EVALUATE_PREFIX) or (event.fwd_thread > 0 and event.sequence_nr >= 0)
    )


def _name_thread(
    ordered: Sequence[TorchEvent],
    parents: Sequence[int],
    namer: _Namer,
    forward_parts: dict[tuple[int, int], Part],
    thread: int,
) -> list[tuple[_Context, bool]]:
    """Each event's context (its part) and whether its time counts (operators and nodes;
    ranges only name, but for the input range). Each forward operator's part is
    added to ``forward_parts`` under its thread and sequence number, for the
    backward nodes that come later."""
    children: dict[int, list[int]] = defaultdict(list)
    for index, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(index)
    contexts: list[_Context] = []
    named: list[tuple[_Context, bool]] = []
    last_backward: Part | None = None
    outside = _Context(None)
    other_part = Part(OTHER_OPS)
    other = _Context(other_part)
    # The part a ``_foreach_`` operator gives each of its children, by index
    # (decided at the parent, read when the child comes).
    per_child: dict[int, Part] = {}
    for index, event in enumerate(ordered):
        parent = parents[index]
        above = contexts[parent] if parent >= 0 else outside
        if event.annotation:
            if event.name == STEP_MARKER:
                context = outside
            elif (owners := parse_updates(event.name)) is not None:
                context = _Context(Part(OPTIMIZER_SHARED), owners=owners)
            elif event.name in namer.ranges:
                context = _Context(namer.ranges[event.name], above.owners, above.backward)
            else:  # a range of the user's or of a library: transparent
                context = above
            contexts.append(context)
            named.append((context, event.name == INPUT_RANGE))
            continue
        if _is_backward_node(event) and not above.backward:
            if event.sequence_nr >= 0 and event.fwd_thread > 0:
                part = _backward_part(forward_parts.get((event.fwd_thread, event.sequence_nr)))
            else:  # AccumulateGrad: charged with the node that produced its gradient
                part = last_backward or Part(OTHER_OPS)
            last_backward = part
            context = _Context(part, backward=True)
        elif above.backward:
            context = above
        else:
            # Most operators inherit their enclosing context as it is.
            context = above if above.part is not None else other
            if above.owners is not None and event.name.startswith(FOREACH_PREFIX):
                mine = [c for c in children.get(index, ()) if not ordered[c].annotation]
                if len(mine) == len(above.owners):
                    for child, owner in zip(mine, above.owners, strict=True):
                        per_child[child] = namer.update_part(owner)
                context = _Context(Part(OPTIMIZER_SHARED))
            if index in per_child:
                context = _Context(per_child.pop(index))
            if event.sequence_nr >= 0:
                forward_parts[(thread, event.sequence_nr)] = context.part or other_part
        contexts.append(context)
        named.append((context, True))
    return named


# --------------------------------------------------------------------------- attribution


def _joined(segments: list[Segment]) -> list[Segment]:
    """One thread's segments with touching ones of the same part joined.

    The sweep gives the same shares either way (a part is active on both
    sides of the joint); with fewer segments it is several times faster (an
    operator's self time comes in pieces around its children).
    """
    joined: list[Segment] = []
    for start, end, part in sorted(segments):
        if joined and joined[-1][1] == start and joined[-1][2] == part:
            joined[-1] = (joined[-1][0], end, part)
        else:
            joined.append((start, end, part))
    return joined


def attribute(events: Iterable[TorchEvent], scopes: ModelScopes) -> Attribution:
    """Charge every profiled step's time to the model's layers and the categories.

    Args:
        events: the profile's events (see ``TorchEvent``), in any order.
        scopes: the model's names (``layers.scopes_of``).

    Raises:
        ProfileError: no ``cnnperf_step`` range, or no operator of a layer.
    """
    host: dict[int, list[TorchEvent]] = defaultdict(list)
    kernels: list[TorchEvent] = []
    for event in events:
        if event.end_us < event.start_us:
            raise ProfileError(
                f"Expected every profiler event to end after it starts. Received: "
                f"{event.name!r} from {event.start_us} to {event.end_us} us"
            )
        (host[event.thread] if event.device == "cpu" else kernels).append(event)
    windows = sorted(
        (_ps(e.start_us), _ps(e.end_us), thread)
        for thread, thread_events in host.items()
        for e in thread_events
        if e.annotation and e.name == STEP_MARKER
    )
    if not windows:
        raise ProfileError(
            f"The profile holds no {STEP_MARKER!r} range: the profiler recorded no operator "
            "of the profiled steps (was another profiler running?)."
        )
    step_threads = {thread for _, _, thread in windows}
    threads = step_threads | {
        thread
        for thread, thread_events in host.items()
        if any(e.fwd_thread in step_threads and _is_backward_node(e) for e in thread_events)
    }
    namer = _Namer(scopes)
    # The step's threads first: a backward node is named after the forward
    # operator that made it, which ran before it on a step thread.
    order = sorted(threads, key=lambda thread: (thread not in step_threads, thread))
    forward_parts: dict[tuple[int, int], Part] = {}
    segments: list[Segment] = []
    by_id: dict[int, Part] = {}
    for thread in order:
        ordered, parents = _tree(host[thread])
        counted = []
        named = _name_thread(ordered, parents, namer, forward_parts, thread)
        for event, (context, counts) in zip(ordered, named, strict=True):
            part = context.part
            if part is None or not counts:
                continue
            if event.id:
                by_id.setdefault(event.id, part)
            counted.append((_ps(event.start_us), _ps(event.end_us), part))
        segments.extend(_joined(profiling.self_time(counted)))
    source = "host"
    if kernels:
        device = [
            (_ps(k.start_us), _ps(k.end_us), by_id.get(k.linked_id, Part(OTHER_OPS)))
            for k in kernels
        ]
        segments = device + [s for s in segments if s[2].owner == INPUT_PIPELINE]
        source = "device"
    if not any(part.is_layer for _, _, part in segments):
        raise ProfileError(
            f"No operator of the profile belongs to a layer of {scopes.model!r}: none ran "
            f"inside a {layer_range(scopes.model, '<layer>')!r} range (were the layers "
            "named before the profiled steps?)."
        )
    steps = profiling.attribute_steps([(start, end) for start, end, _ in windows], segments)
    return Attribution(steps=steps, source=source)
