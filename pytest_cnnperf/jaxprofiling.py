"""Per-layer attribution of JAX's profiled training steps, read from its XSpace.

Pure, like ``profiling`` (whose classifier, sweep and step windows it reuses):
the functions take ``xplane_pb2`` and ``HloModuleProto`` objects, or anything
with the same fields, and import neither JAX nor TensorFlow. ``backends.jax_layers``
runs the window and calls ``attribute``.

What an executed op is charged to
---------------------------------

On the CPU, XLA's runtime records one host event per executed HLO
instruction (a thunk: a fusion, a convolution, a copy) with its
``hlo_module``, ``program_id`` and ``hlo_op`` stats; the XSpace's
``/host:metadata`` plane holds each compiled module's ``HloModuleProto``
(event ``<module>(<program id>)``, stat ``Hlo Proto``). An instruction's
``metadata.op_name`` is JAX's name stack, which carries Keras' name scopes
(``keras.name_scope`` wraps ``jax.named_scope``):

* forward: ``jit(train_step)/jvp(conv)/conv_general_dilated``;
* backward: ``jit(train_step)/transpose(jvp(conv))/conv_general_dilated``;
* optimizer: ``jit(train_step)/adam/cnnperf_update_1/mul`` (the scopes
  ``jax_layers.instrument`` opens), loss ``jvp(compile_loss)/...``, metrics
  ``cnnperf_metrics/...``.

The model's own scope is absent (Keras' JAX trainer calls the model's
``call`` directly), so ``keras_op_name`` rewrites a name into the form
``profiling.Classifier`` reads (``net/conv/...``, ``gradient_tape/net/conv/...``).

An executed instruction is charged to the part its own op name (the fusion's
root: the value the kernel produces) names, as XLA's own tools attribute a
fusion. A fusion whose root names nothing covered takes the part of the
contractions and reductions fused into it; with none of a layer, it is a
layout copy or a recomputation for the kernels that read it, and is charged
like an instruction without a name (below), its fused element-wise
instructions deciding only where its readers name nothing. Data-movement
instructions (``bitcast``, ``copy``, ``broadcast``...) fused into a kernel
are never read for its part, since they carry the name of the op that
produced their operand.
When a kernel does the heavy work (a convolution, a matrix product, a
reduction) of a layer other than its root's, or of several layers, those
layers are merged (reported as one line), as on TensorFlow, rather than split
by a guess. Element-wise instructions of other layers do not merge: XLA
copies cheap element-wise producers into every kernel that reads them
(ResNet20's block output recomputes the previous block's normalization,
addition and ReLU instead of reading them), so merging on them joins whole
stages of a network into one line; they are charged with the kernel to its
root's layer.

XLA's CPU rewrites drop the metadata of some instructions: the library-call
fusions (``ynn_fusion``, the weight gradients of convolutions among them)
and layout copies carry no op name. Such an instruction is charged whole
through the data flow, to the parts of the nearest named instructions that
consume its result (through unnamed ones): to a layer's *backward* when they
are all that layer's optimizer update (the update reads the gradient, the
variable and the optimizer's state, and only the gradient is computed in the
step), otherwise to the first layer in model order among them, at its first
phase (forward, backward); with no named consumer, "other ops". An unnamed
kernel that does heavy work and is read by several layers merges them.

Only the modules that hold a layer's ops count (the train step), so JAX
work of other threads during a step (a recipe's augmentation layers in the
prefetch worker) takes nothing from it. ``INPUT_MARKER`` events (the
window's wait for the next batch) are the input pipeline.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_cnnperf import profiling
from pytest_cnnperf.hlotext import HloComputation, HloModule
from pytest_cnnperf.profiling import (
    BACKWARD,
    FORWARD,
    INPUT_PIPELINE,
    OPTIMIZER,
    OTHER_OPS,
    Attribution,
    Classifier,
    ModelScopes,
    Part,
    ProfileError,
    Segment,
)

#: Trace event ``backends.jax_layers`` puts around the step's wait for its batch.
INPUT_MARKER = "cnnperf_input"

#: Fused instructions that move or reshape data: they carry the op name of
#: the instruction that produced their operand, not work of their own.
DATA_MOVEMENT = frozenset(
    {
        "parameter",
        "constant",
        "bitcast",
        "reshape",
        "copy",
        "transpose",
        "broadcast",
        "get-tuple-element",
        "tuple",
    }
)
#: Fused instructions that do a layer's heavy work: a contraction or a
#: reduction. Only these join layers; XLA copies cheap element-wise producers
#: into each kernel that reads them instead of storing their result.
HEAVY = frozenset(
    {
        "convolution",
        "dot",
        "reduce",
        "reduce-window",
        "select-and-scatter",
        "scatter",
        "custom-call",
        "fft",
    }
)
#: Entry instructions that run no thunk of their own.
NEVER_RUN = frozenset({"parameter", "constant", "bitcast", "get-tuple-element", "tuple"})
#: JAX's transformations, as they wrap the first scope of a name stack.
_WRAPPER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
_STEP_FUNCTION = frozenset({"jit", "pjit"})
_PHASE_ORDER = {FORWARD: 0, BACKWARD: 1, OPTIMIZER: 2}


def keras_op_name(op_name: str, model: str) -> str:
    """A JAX name stack in the form ``profiling.Classifier`` reads.

    ``jit(train_step)/transpose(jvp(conv))/mul`` becomes
    ``gradient_tape/<model>/conv/mul``; ``jit(train_step)/adam/mul``,
    ``<model>/adam/mul``. A name JAX did not transform is only prefixed.
    """
    components = [c for c in op_name.split("/") if c]
    if not components:
        return ""
    first = _WRAPPER.match(components[0])
    if len(components) > 1 and first and first.group(1) in _STEP_FUNCTION:
        components = components[1:]
    head, backward = components[0], False
    while (wrapped := _WRAPPER.match(head)) is not None:
        backward = backward or wrapped.group(1) == "transpose"
        head = wrapped.group(2)
    scoped = [model, head, *components[1:]]
    return "/".join(["gradient_tape", *scoped] if backward else scoped)


# --------------------------------------------------------------------------- HLO modules


def _entry(module: HloModule) -> HloComputation:
    if not module.computations:
        raise ProfileError(f"The HLO module {module.name!r} has no computation.")
    for computation in module.computations:
        if computation.name == module.entry:
            return computation
    # The entry computation is printed last.
    return module.computations[-1]


def _fused_names(module: HloModule) -> dict[str, list[tuple[str, bool]]]:
    """Each computation's computing instructions, through called computations.

    Each as (op name, heavy): whether it is a contraction or a reduction.
    """
    computations = {c.name: c for c in module.computations}
    found: dict[str, list[tuple[str, bool]]] = {}

    def gather(computation: str, seen: set[str]) -> list[tuple[str, bool]]:
        if computation in found:
            return found[computation]
        if computation in seen or computation not in computations:
            return []
        seen.add(computation)
        names: list[tuple[str, bool]] = []
        for instruction in computations[computation].instructions:
            if instruction.opcode not in DATA_MOVEMENT and instruction.op_name:
                names.append((instruction.op_name, instruction.opcode in HEAVY))
            for called in instruction.called:
                names.extend(gather(called, seen))
        found[computation] = names
        return names

    for computation in computations:
        gather(computation, set())
    return found


def _heavy_computations(module: HloModule) -> set[str]:
    """The computations that hold a contraction or a reduction, named or not, transitively."""
    heavy: set[str] = set()
    changed = True
    while changed:
        changed = False
        for computation in module.computations:
            if computation.name in heavy:
                continue
            if any(
                i.opcode in HEAVY or any(c in heavy for c in i.called)
                for i in computation.instructions
            ):
                heavy.add(computation.name)
                changed = True
    return heavy


@dataclass(frozen=True)
class ModuleParts:
    """One compiled module: each entry instruction's part, and the layers it joins.

    ``merges`` holds, for an instruction whose work belongs to several layers,
    those layers in model order; they are merged only if it ran. ``by_readers``
    names the instructions without an op name, charged through the data flow.
    """

    parts: Mapping[str, Part]
    merges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_readers: frozenset[str] = frozenset()


def instruction_parts(module: HloModule, classifier: Classifier) -> ModuleParts:
    """Each instruction of the module's entry computation mapped to the part it is charged to.

    See the module docstring for the rules.
    """
    model = classifier.scopes.model
    entry = _entry(module)
    fused = _fused_names(module)
    heavy_computations = _heavy_computations(module)
    instructions = entry.instructions
    in_entry = {instruction.name for instruction in instructions}
    users: dict[str, list[str]] = defaultdict(list)
    for instruction in instructions:
        for operand in instruction.operands:
            if operand in in_entry:
                users[operand].append(instruction.name)

    def classify(name: str) -> Part:
        return classifier.classify(keras_op_name(name, model))

    named: dict[str, Part | None] = {}
    merges: dict[str, tuple[str, ...]] = {}
    heavy_work: set[str] = set()
    fallback: dict[str, Part] = {}
    for instruction in instructions:
        own = instruction.op_name
        part = classify(own) if own else Part(OTHER_OPS)
        inside = [n for called in instruction.called for n in fused.get(called, ())]
        heavy = {classify(name) for name, is_heavy in inside if is_heavy}
        if instruction.opcode in HEAVY or any(c in heavy_computations for c in instruction.called):
            heavy_work.add(instruction.name)
        light = {classify(name) for name, is_heavy in inside if not is_heavy}
        joined = _layers_of(classifier, heavy | {part})
        if len(joined) > 1:
            merges[instruction.name] = joined
        if not part.covered and any(p.is_layer for p in heavy):
            part = _joined(classifier, heavy)
        elif not part.covered:
            # No root name and no heavy work of a layer: a layout copy or a
            # recomputation for its readers; its own names only if they say nothing.
            fallback[instruction.name] = _joined(classifier, heavy | light)
        named[instruction.name] = part if part.covered else None

    consumed: dict[str, frozenset[Part]] = {}

    def consumers(name: str, seen: frozenset[str]) -> frozenset[Part]:
        if name in consumed:
            return consumed[name]
        parts: set[Part] = set()
        for user in users.get(name, ()):
            part = named.get(user)
            if part is not None:
                parts.add(part)
            elif user not in seen:
                parts.update(consumers(user, seen | {user}))
        consumed[name] = frozenset(parts)
        return consumed[name]

    mapping: dict[str, Part] = {}
    inferred: set[str] = set()
    for instruction in instructions:
        name = instruction.name
        own_part = named[name]
        if own_part is not None:
            mapping[name] = own_part
            continue
        readers = consumers(name, frozenset({name}))
        mapping[name] = _by_consumers(classifier, readers)
        if not mapping[name].covered and name in fallback:
            mapping[name] = fallback[name]
        inferred.add(name)
        joined = _layers_of(classifier, readers)
        if len(joined) > 1 and name in heavy_work:
            merges[name] = joined
    return ModuleParts(mapping, merges, frozenset(inferred))


def _layers_of(classifier: Classifier, parts: Iterable[Part]) -> tuple[str, ...]:
    """The layers among ``parts``, in model order."""
    owners = {p.owner for p in parts if p.is_layer}
    return tuple(sorted(owners, key=classifier.scopes.layers.index))


def _joined(classifier: Classifier, parts: set[Part]) -> Part:
    """One part for the computing instructions of a fusion whose root names nothing covered."""
    layers = [p for p in parts if p.is_layer]
    if layers:
        first = min(layers, key=lambda p: (classifier.scopes.layers.index(p.owner), p.phase))
        phases = sorted({p.phase for p in layers}, key=_PHASE_ORDER.__getitem__)
        return Part(first.owner, phases[0])
    covered = [p for p in parts if p.covered]
    return min(covered) if covered else Part(OTHER_OPS)


def _by_consumers(classifier: Classifier, parts: Iterable[Part]) -> Part:
    """The part of an instruction without an op name, from the named instructions reading it."""
    found = set(parts)
    layers = {p for p in found if p.is_layer}
    if not layers:
        covered = [p for p in found if p.covered]
        return min(covered) if covered else Part(OTHER_OPS)
    owner = min(layers, key=lambda p: classifier.scopes.layers.index(p.owner)).owner
    phases = {p.phase for p in layers}
    if phases == {OPTIMIZER}:
        return Part(owner, BACKWARD)
    return Part(owner, min(phases - {OPTIMIZER}, key=_PHASE_ORDER.__getitem__))


# --------------------------------------------------------------------------- events


def _module_key(stats: Mapping[str, Any], known: Mapping[str, Any]) -> str | None:
    module = stats.get("hlo_module")
    if module is None:
        return None
    program = stats.get("program_id")
    if program is not None:
        keyed = f"{module}({program})"
        return keyed if keyed in known else None
    # Without a program id, a name compiled once is enough.
    matching = [key for key in known if key.rsplit("(", 1)[0] == str(module)]
    return matching[0] if len(matching) == 1 else None


def kernel_stats(stats: Mapping[str, Any]) -> Mapping[str, Any]:
    """A GPU kernel's ``hlo_op``, ``hlo_module``, ``program_id``: its stats, else its annotation's.

    XLA's GPU runtime annotates each launch with
    ``XlaModule:#hlo_module=<module>,program_id=<id>#::Thunk:#hlo_op=<instruction>#``.
    """
    if "hlo_op" in stats and "hlo_module" in stats:
        return stats
    annotation = str(stats.get("kernel_annotation") or stats.get("annotation") or "")
    fields = dict(profiling._HLO_FIELD.findall(annotation))
    return {**fields, **stats} if "hlo_op" in fields and "hlo_module" in fields else stats


def op_segments(
    space: Any, modules: Mapping[str, ModuleParts]
) -> tuple[list[Segment], set[tuple[str, ...]], str]:
    """Self-time segments of the executed HLO ops of the model's modules, and input waits.

    On a GPU the device's kernels of the model's modules are the ops (with the
    host's input waits); elsewhere the CPU runtime's host events.

    Args:
        space: the XSpace (``jax.profiler.ProfileData``).
        modules: per module key (``<module>(<program id>)``), its instructions'
            parts (``instruction_parts``).

    Returns:
        The segments, the layer groups that the instructions which ran join,
        and where the ops were read ("device" or "host").
    """
    model_modules = {
        key for key, module in modules.items() if any(p.is_layer for p in module.parts.values())
    }
    instruction_names = {name for key in model_modules for name in modules[key].parts}
    host: list[Segment] = []
    host_merged: set[tuple[str, ...]] = set()
    for plane in profiling._planes(space, profiling.HOST_PLANE):
        wanted = frozenset(
            key
            for key, name in plane.names.items()
            if name in instruction_names or name == INPUT_MARKER
        )
        for _, events in plane.lines(wanted):
            found = [
                (start, end, Part(INPUT_PIPELINE))
                for start, end, meta, _ in events
                if plane.names.get(meta) == INPUT_MARKER
            ]
            found.extend(_charged(plane, events, modules, model_modules, host_merged, dict))
            host.extend(profiling.self_time(found))
    kernels: list[Segment] = []
    kernel_merged: set[tuple[str, ...]] = set()
    for plane in profiling.device_planes(space):
        for _, events in profiling.kernel_lines(plane):
            kernels.extend(
                _charged(plane, events, modules, model_modules, kernel_merged, kernel_stats)
            )
    if any(part.is_layer for _, _, part in kernels):
        inputs = [s for s in host if s[2].owner == INPUT_PIPELINE]
        return kernels + inputs, kernel_merged, "device"
    return host, host_merged, "host"


def _charged(
    plane: Any,
    events: Iterable[tuple[int, int, int, Any]],
    modules: Mapping[str, ModuleParts],
    model_modules: set[str],
    merged: set[tuple[str, ...]],
    read: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> list[Segment]:
    """The events of the model's modules, each charged to its instruction's part."""
    found: list[Segment] = []
    for start, end, meta, raw in events:
        if plane.names.get(meta) == INPUT_MARKER:
            continue
        event = plane.event(start, end, meta, raw)
        stats = read(event.stats)
        key = _module_key(stats, modules)
        if key is None or key not in model_modules:
            continue
        module = modules[key]
        instruction = str(stats.get("hlo_op", event.name))
        found.append((start, end, module.parts.get(instruction, Part(OTHER_OPS))))
        if instruction in module.merges:
            merged.add(module.merges[instruction])
    return found


def attribute(space: Any, scopes: ModelScopes, modules: Mapping[str, Any]) -> Attribution:
    """Charge every profiled step's time to the model's layers and the categories.

    Args:
        space: an XSpace from JAX's profiler holding ``cnnperf_step`` markers.
        scopes: the model's names.
        modules: the compiled modules by ``<module>(<program id>)`` (``hlo_modules``).

    Raises:
        ProfileError: no step marker, no HLO module, or no op of the model.
    """
    windows = profiling.step_windows(space)
    if not windows:
        raise ProfileError(
            f"The profile holds no {profiling.STEP_MARKER!r} step marker: the profiler "
            "recorded no host events (was another profiler session running?)."
        )
    if not modules:
        raise ProfileError(
            f"The profile's {profiling.METADATA_PLANE} plane holds no HLO module, so its XLA "
            "ops cannot be named (was the profile taken with enable_hlo_proto off?)."
        )
    classifier = Classifier(scopes)
    parts = {key: instruction_parts(module, classifier) for key, module in modules.items()}
    segments, merged, source = op_segments(space, parts)
    classifier.fused.update(merged)
    if not any(part.is_layer for _, _, part in segments):
        raise ProfileError(
            f"No executed XLA op of the profile belongs to a layer of {scopes.model!r}: the "
            "compiled train step's op names carry no Keras layer scope."
        )
    steps = profiling.attribute_steps(windows, segments)
    return Attribution(steps=steps, merged=classifier.merged_groups(), source=source)
