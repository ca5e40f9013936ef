"""Unit tests of the XSpace attribution, on profiles built here from xplane_pb2 objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_cnnperf import profiling
from pytest_cnnperf.profiling import (
    BACKWARD,
    FORWARD,
    GRADIENT_SUMS,
    INPUT_PIPELINE,
    LOSS_AND_METRICS,
    OPTIMIZER,
    OPTIMIZER_SHARED,
    OTHER_OPS,
    Classifier,
    ModelScopes,
    Part,
)

xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")

SCOPES = ModelScopes(
    model="net",
    layers=("conv", "bn", "relu", "dense", "conv_1"),
    optimizer="adam",
    contraction_layers=frozenset({"conv", "dense", "conv_1"}),
    inbound={"bn": ("conv",), "relu": ("bn",), "dense": ("relu",), "conv_1": ("dense",)},
)

#: (name, start µs, duration µs, stats) on a thread
Event = tuple[str, float, float, Mapping[str, Any]]


def space(lines: Mapping[str, Sequence[Event]], plane: str = profiling.HOST_PLANE) -> Any:
    """An XSpace with one plane holding ``lines`` (stats: int or str values)."""
    built = xplane_pb2.XSpace()
    add_plane(built, plane, lines)
    return built


def add_plane(built: Any, name: str, lines: Mapping[str, Sequence[Event]]) -> Any:
    plane = built.planes.add(name=name, id=len(built.planes))
    events: dict[str, int] = {}
    stats: dict[str, int] = {}

    def meta(key: str, table: dict[str, int], field: Any) -> int:
        if key not in table:
            table[key] = len(table) + 1
            field[table[key]].id = table[key]
            field[table[key]].name = key
        return table[key]

    for line_id, (line_name, items) in enumerate(lines.items()):
        line = plane.lines.add(id=line_id, name=line_name, timestamp_ns=1_000)
        for event_name, start, duration, values in items:
            event = line.events.add(
                metadata_id=meta(event_name, events, plane.event_metadata),
                offset_ps=int(start * 1e6),
                duration_ps=int(duration * 1e6),
            )
            for key, value in values.items():
                stat = event.stats.add(metadata_id=meta(key, stats, plane.stat_metadata))
                if isinstance(value, str):
                    stat.str_value = value
                else:
                    stat.int64_value = value
    return plane


def step(start: float, duration: float) -> Event:
    return (profiling.STEP_MARKER, start, duration, {"step_num": 0})


def process(start: float, duration: float, executor: int = 7) -> Event:
    return ("ExecutorState::Process", start, duration, {"id": executor})


def op(name: str, kind: str, start: float, duration: float) -> Event:
    return (f"StatefulPartitionedCall/{name}:{kind}", start, duration, {})


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "kind", "part"),
    [
        ("net_1/conv_2/BiasAdd", "_MklNativeFusedConv2D", Part("conv", FORWARD)),
        ("net/dense/MatMul", "MatMul", Part("dense", FORWARD)),
        (
            "gradient_tape/net_1/conv_2/Conv2DBackpropFilter",
            "Conv2DBackpropFilter",
            Part("conv", BACKWARD),
        ),
        (
            "StatefulPartitionedCall/gradient_tape/net/bn/FusedBatchNormGradV3",
            "FusedBatchNormGradV3",
            Part("bn", BACKWARD),
        ),
        ("adam/cnnperf_update_3/Sub_2", "Sub", Part("dense", OPTIMIZER)),
        ("adam_1/cnnperf_update_0_1/AssignVariableOp", "AssignVariableOp", Part("conv", OPTIMIZER)),
        ("adam/Pow_18", "Pow", Part(OPTIMIZER_SHARED)),
        ("compile_loss/sparse_categorical_crossentropy/Sum", "Sum", Part(LOSS_AND_METRICS)),
        (
            "gradient_tape/compile_loss/sparse_categorical_crossentropy/mul",
            "Mul",
            Part(LOSS_AND_METRICS),
        ),
        ("cnnperf_metrics/ArgMax", "ArgMax", Part(LOSS_AND_METRICS)),
        ("IteratorGetNext", "IteratorGetNext", Part(INPUT_PIPELINE)),
        ("AddN_39", "AddN", Part(GRADIENT_SUMS)),
        ("strided_slice", "StridedSlice", Part(OTHER_OPS)),
        ("other_model/conv/Conv2D", "Conv2D", Part(OTHER_OPS)),
    ],
)
def test_ops_are_charged_by_their_keras_scopes(name: str, kind: str, part: Part) -> None:
    assert Classifier(SCOPES).classify(name, kind) == part


def test_a_layer_named_like_a_uniquified_scope_keeps_its_own_name() -> None:
    # "conv_1" is a layer of its own: its scope is not "conv" with a suffix.
    assert Classifier(SCOPES).classify("net/conv_1/Conv2D", "Conv2D") == Part("conv_1", FORWARD)


def test_a_contraction_fused_into_the_next_layer_merges_the_two() -> None:
    classifier = Classifier(SCOPES)
    assert classifier.classify("net/relu/Relu", "_FusedConv2D") == Part("relu", FORWARD)
    assert classifier.classify("net/bn/FusedBatchNormV3", "_MklFusedBatchNorm") == Part(
        "bn", FORWARD
    )
    # relu's input is bn, not a contraction: nothing to merge; bn's is conv.
    classifier.classify("net/bn/add", "_MklNativeFusedConv2D")
    assert classifier.merged_groups() == (("conv", "bn"),)


def test_parse_op_event_tells_ops_from_other_trace_events() -> None:
    assert profiling.parse_op_event("net/conv/Conv2D:Conv2D") == ("net/conv/Conv2D", "Conv2D")
    assert profiling.parse_op_event("EagerLocalExecute: __inference_step_1") is None
    assert profiling.parse_op_event("ExecutorState::Process") is None


# --------------------------------------------------------------------------- time


def test_self_time_takes_nested_events_out_of_the_enclosing_one() -> None:
    outer, inner = Part("a", FORWARD), Part("b", FORWARD)
    segments = profiling.self_time([(0, 10, outer), (2, 5, inner), (6, 7, inner)])
    charged: dict[Part, int] = {}
    for start, end, part in segments:
        charged[part] = charged.get(part, 0) + end - start
    assert charged == {outer: 6, inner: 4}


def test_share_time_splits_overlaps_and_never_counts_twice() -> None:
    a, b = Part("a", FORWARD), Part("b", BACKWARD)
    ps = 10**12  # one second
    shares = profiling.share_time(
        [(0, 2 * ps, a), (1 * ps, 3 * ps, b), (1 * ps, 2 * ps, a)], 0, 4 * ps
    )
    # 0-1: a alone; 1-2: a (twice, counted once) and b share; 2-3: b alone; 3-4 idle.
    assert shares == pytest.approx({a: 1.5, b: 1.5})
    assert sum(shares.values()) <= 4


def test_share_time_clips_to_the_window() -> None:
    a = Part("a", FORWARD)
    assert profiling.share_time([(0, 10, a)], 5, 8) == pytest.approx({a: 3e-12})


# --------------------------------------------------------------------------- attribution


def two_thread_step() -> Any:
    """A 10 µs step: ops on two threads of executor 7, tf.data work of executor 9 beside them."""
    return space(
        {
            "python": [step(0, 10), ("FunctionRun", 0.5, 9, {"id": 7})],
            "tf_Compute/1": [
                process(1, 8),
                op("net/conv/Conv2D", "Conv2D", 1, 3),
                op("gradient_tape/net/conv/Conv2DBackpropFilter", "Conv2DBackpropFilter", 5, 3),
            ],
            "tf_Compute/2": [
                process(1, 8),
                op("net/dense/MatMul", "MatMul", 2, 2),
                op("adam/cnnperf_update_3/Mul", "Mul", 8, 1),
                (
                    "ExecutorState::ProcessAsync::Start",
                    0.8,
                    0.2,
                    {"kernel_type": "IteratorGetNext", "step_id": 7},
                ),
            ],
            "tf_data_private/3": [process(0, 10, executor=9), ("GatherV2:GatherV2", 0, 10, {})],
            "tf_Compute/4": [op("net/conv/Conv2D", "Conv2D", 11, 3)],  # after the step
        }
    )


def test_a_step_is_charged_to_layers_phases_and_categories() -> None:
    result = profiling.attribute(two_thread_step(), SCOPES)
    assert result.source == "host"
    (only,) = result.steps
    us = 1e-6
    assert only.seconds == pytest.approx(10 * us)
    # 2-4 µs conv forward and dense forward overlap: half each.
    assert only.parts == pytest.approx(
        {
            Part(INPUT_PIPELINE): 0.2 * us,
            Part("conv", FORWARD): 2 * us,
            Part("dense", FORWARD): 1 * us,
            Part("conv", BACKWARD): 3 * us,
            Part("dense", OPTIMIZER): 1 * us,
        }
    )
    # The tf.data op of another executor took nothing, though it spans the step.
    assert only.busy_seconds <= only.seconds
    # Before the first op (0.8 µs) and after the last (1 µs): launch; the rest inside.
    assert only.launch_seconds == pytest.approx(1.8 * us)
    assert only.between_ops_seconds == pytest.approx(10 * us - 7.2 * us - 1.8 * us)
    assert only.coverage == pytest.approx(0.72)


def test_other_ops_are_shown_but_not_covered() -> None:
    built = space(
        {
            "python": [step(0, 10)],
            "tf_Compute/1": [
                process(0, 10),
                op("net/conv/Conv2D", "Conv2D", 0, 5),
                op("strided_slice", "StridedSlice", 5, 5),
            ],
        }
    )
    (only,) = profiling.attribute(built, SCOPES).steps
    assert only.parts[Part(OTHER_OPS)] == pytest.approx(5e-6)
    assert only.coverage == pytest.approx(0.5)
    assert only.between_ops_seconds == pytest.approx(0)


def test_every_step_marker_is_a_step() -> None:
    built = space(
        {
            "python": [step(0, 10), step(20, 10)],
            "tf_Compute/1": [
                process(0, 10),
                op("net/conv/Conv2D", "Conv2D", 0, 4),
                process(20, 10, executor=8),
                op("net/conv/Conv2D", "Conv2D", 20, 6),
            ],
        }
    )
    first, second = profiling.attribute(built, SCOPES).steps
    assert first.parts == pytest.approx({Part("conv", FORWARD): 4e-6})
    assert second.parts == pytest.approx({Part("conv", FORWARD): 6e-6})


def test_a_profile_without_step_markers_is_an_error() -> None:
    built = space({"tf_Compute/1": [process(0, 10), op("net/conv/Conv2D", "Conv2D", 0, 4)]})
    with pytest.raises(profiling.ProfileError, match="no 'cnnperf_step' step marker"):
        profiling.attribute(built, SCOPES)


def test_a_profile_without_layer_ops_is_an_error() -> None:
    built = space({"python": [step(0, 10)], "tf_Compute/1": [process(0, 10)]})
    with pytest.raises(
        profiling.ProfileError, match="No op of the profile belongs to a layer of 'net'"
    ):
        profiling.attribute(built, SCOPES)


# --------------------------------------------------------------------------- GPU


def test_gpu_kernels_are_charged_by_their_annotations() -> None:
    built = space({"python": [step(0, 10)]})
    add_plane(
        built,
        "/device:GPU:0",
        {
            "Stream #14(Compute)": [
                (
                    "volta_scudnn_128x64_relu",
                    1,
                    3,
                    {"annotation": "StatefulPartitionedCall/net/conv/Conv2D:Conv2D"},
                ),
                (
                    "gemm",
                    4,
                    2,
                    {"annotation": "outer:PartitionedCall::gradient_tape/net/dense/MatMul:MatMul"},
                ),
                ("memset", 7, 1, {}),
            ]
        },
    )
    result = profiling.attribute(built, SCOPES)
    assert result.source == "device"
    (only,) = result.steps
    assert only.parts == pytest.approx(
        {Part("conv", FORWARD): 3e-6, Part("dense", BACKWARD): 2e-6, Part(OTHER_OPS): 1e-6}
    )


def test_an_xla_kernel_of_several_layers_merges_them() -> None:
    built = space({"python": [step(0, 10)]})
    add_plane(
        built,
        "/device:GPU:0",
        {
            "Stream #14(Compute)": [
                (
                    "loop_fusion",
                    1,
                    4,
                    {"annotation": "cluster:#hlo_op=fusion.3,hlo_module=step_module#"},
                ),
            ]
        },
    )
    hlo = {
        "step_module": {"fusion.3": ("net/conv/Conv2D", "net/bn/FusedBatchNormV3", "net/relu/Relu")}
    }
    result = profiling.attribute(built, SCOPES, hlo_ops=hlo)
    (only,) = result.steps
    assert only.parts == pytest.approx({Part("conv", FORWARD): 4e-6})
    assert result.merged == (("conv", "bn", "relu"),)


def test_hlo_op_names_follow_fusions_into_their_computations() -> None:
    def instruction(name: str, op_name: str = "", called: Sequence[int] = ()) -> Any:
        return SimpleNamespace(
            name=name,
            metadata=SimpleNamespace(op_name=op_name),
            called_computation_ids=list(called),
        )

    module = SimpleNamespace(
        computations=[
            SimpleNamespace(
                id=1,
                instructions=[
                    instruction("conv.1", "net/conv/Conv2D"),
                    instruction("relu.2", "net/relu/Relu"),
                ],
            ),
            SimpleNamespace(
                id=2, instructions=[instruction("fusion.3", called=[1]), instruction("copy.4")]
            ),
        ]
    )
    names = profiling.hlo_op_names(module)
    assert names["fusion.3"] == ("net/conv/Conv2D", "net/relu/Relu")
    assert names["conv.1"] == ("net/conv/Conv2D",)
    assert "copy.4" not in names
