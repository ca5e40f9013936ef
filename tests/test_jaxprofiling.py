"""Unit tests of the JAX XSpace attribution, on hand-built profiles and HLO modules."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from test_profiling import Event, space, step

from pytest_cnnperf import jaxlayers, jaxprofiling, layers, profiling
from pytest_cnnperf.jaxprofiling import INPUT_MARKER, keras_op_name
from pytest_cnnperf.profiling import (
    BACKWARD,
    FORWARD,
    INPUT_PIPELINE,
    LOSS_AND_METRICS,
    OPTIMIZER,
    OPTIMIZER_SHARED,
    OTHER_OPS,
    Classifier,
    ModelScopes,
    Part,
    ProfileError,
)

SCOPES = ModelScopes(
    model="net",
    layers=("pad", "conv", "pool", "dense"),
    optimizer="adam",
    contraction_layers=frozenset({"conv", "dense"}),
)
STEP = "jit(train_step)"
_IDS = itertools.count(1)

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("op_name", "expected"),
    [
        (f"{STEP}/jvp(conv)/conv_general_dilated", "net/conv/conv_general_dilated"),
        (f"{STEP}/jvp(conv)/jit(relu)/max", "net/conv/jit(relu)/max"),
        (
            f"{STEP}/transpose(jvp(conv))/conv_general_dilated",
            "gradient_tape/net/conv/conv_general_dilated",
        ),
        (f"{STEP}/adam/cnnperf_update_1/mul", "net/adam/cnnperf_update_1/mul"),
        (f"{STEP}/jvp(compile_loss)/sce/log", "net/compile_loss/sce/log"),
        (f"{STEP}/cnnperf_metrics/eq", "net/cnnperf_metrics/eq"),
        (f"{STEP}/add", "net/add"),
        ("reduce_sum", "net/reduce_sum"),
        ("", ""),
    ],
)
def test_jax_name_stacks_are_read_as_keras_scopes(op_name: str, expected: str) -> None:
    assert keras_op_name(op_name, "net") == expected


@pytest.mark.parametrize(
    ("op_name", "part"),
    [
        (f"{STEP}/jvp(conv)/conv_general_dilated", Part("conv", FORWARD)),
        (f"{STEP}/transpose(jvp(pool))/select_and_scatter", Part("pool", BACKWARD)),
        (f"{STEP}/adam/cnnperf_update_3/sqrt", Part("dense", OPTIMIZER)),
        (f"{STEP}/adam/add", Part(OPTIMIZER_SHARED)),
        (f"{STEP}/transpose(jvp(compile_loss))/sce/mul", Part(LOSS_AND_METRICS)),
        (f"{STEP}/cnnperf_metrics/reduce", Part(LOSS_AND_METRICS)),
        (f"{STEP}/add", Part(OTHER_OPS)),
    ],
)
def test_the_classifier_charges_jax_ops_to_layer_phases(op_name: str, part: Part) -> None:
    assert Classifier(SCOPES).classify(keras_op_name(op_name, "net")) == part


# --------------------------------------------------------------------------- HLO modules


def instruction(
    name: str,
    op_name: str = "",
    *,
    opcode: str = "fusion",
    operands: Sequence[str] = (),
    called: Sequence[int] = (),
) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        id=next(_IDS),
        opcode=opcode,
        operand_names=tuple(operands),
        metadata=SimpleNamespace(op_name=op_name),
        called_computation_ids=list(called),
    )


def fused(computation_id: int, *instructions: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        id=computation_id, name=f"fused.{computation_id}", instructions=list(instructions)
    )


def module(*entry: SimpleNamespace, fusions: Sequence[SimpleNamespace] = ()) -> SimpleNamespace:
    """An HloModuleProto-like module whose entry computation holds ``entry``."""
    ids = {item.name: item.id for item in entry}
    for item in entry:
        item.operand_ids = [ids[name] for name in item.operand_names]
    for computation in fusions:
        for item in computation.instructions:
            item.operand_ids = []
    main = SimpleNamespace(id=1, name="main.1", instructions=list(entry))
    return SimpleNamespace(
        name="jit_train_step",
        entry_computation_id=1,
        entry_computation_name="main.1",
        computations=[*fusions, main],
    )


#: A LeNet-like step as XLA's CPU compiler leaves it (names from a real
#: profile of lenet5): the conv's weight gradient ``ynn_fusion.6`` and its
#: layout copy have lost their op names; a bitcast inside the update fusion
#: still carries the gradient's.
STEP_MODULE = module(
    instruction("data", "data[0]", opcode="parameter"),
    instruction("zero", opcode="constant"),
    instruction("pad_fusion", f"{STEP}/jvp(pad)/pad", operands=["data"]),
    instruction("conv.1", f"{STEP}/jvp(conv)/conv_general_dilated", opcode="convolution",
                operands=["pad_fusion"]),
    instruction("pool_fusion", f"{STEP}/jvp(pool)/reduce_window_max", operands=["conv.1", "zero"]),
    instruction("dense_fusion", f"{STEP}/jvp(dense)/dot_general", operands=["pool_fusion", "zero"],
                called=[11]),
    instruction("loss_fusion", f"{STEP}/jvp(compile_loss)/sce/log", operands=["dense_fusion"],
                called=[12]),
    instruction("dense_grad", f"{STEP}/transpose(jvp(dense))/dot_general", opcode="dot",
                operands=["loss_fusion"]),
    instruction("mix_fusion", "", operands=["dense_grad"], called=[13]),
    instruction("layout_copy", "", operands=["mix_fusion"]),
    instruction("pad_copy", "", operands=["data"], called=[18]),
    instruction("ynn_fusion.6", "", operands=["layout_copy", "pad_copy"], called=[14]),
    instruction("update_fusion", f"{STEP}/adam/cnnperf_update_1/add", operands=["ynn_fusion.6"],
                called=[15]),
    instruction("kernel_copy", "", opcode="copy", operands=["data"]),
    instruction("conv_reader", f"{STEP}/jvp(conv)/add", operands=["kernel_copy"]),
    instruction("grad_reader", f"{STEP}/transpose(jvp(conv))/mul", operands=["kernel_copy"]),
    instruction("unread", ""),
    instruction("top_add", f"{STEP}/add", operands=["loss_fusion"], called=[16]),
    instruction("conv_pool_fusion", f"{STEP}/jvp(pool)/reduce_window_max", operands=["data"],
                called=[17]),
    instruction("output", opcode="tuple", operands=["update_fusion", "unread"]),
    fusions=[
        # The dense fusion recomputes the pool's max, an element-wise op of another layer.
        fused(11, instruction("max.1", f"{STEP}/jvp(pool)/max", opcode="maximum"),
              instruction("dot.1", f"{STEP}/jvp(dense)/dot_general", opcode="dot")),
        # The loss recomputes the dense layer's softmax division: one layer and the loss.
        fused(12, instruction("div.1", f"{STEP}/jvp(dense)/div", opcode="divide"),
              instruction("log.1", f"{STEP}/jvp(compile_loss)/sce/log", opcode="log")),
        # Root without a name; its computing instruction is the pool's backward,
        # its bitcast carries the dense gradient's name (data movement, left out).
        fused(13, instruction("bitcast.1", f"{STEP}/transpose(jvp(dense))/dot_general",
                              opcode="bitcast"),
              instruction("scatter.1", f"{STEP}/transpose(jvp(pool))/select_and_scatter",
                          opcode="select-and-scatter")),
        fused(14, instruction("convolution.7", "", opcode="convolution")),
        fused(15, instruction("bitcast.2", f"{STEP}/transpose(jvp(conv))/conv_general_dilated",
                              opcode="bitcast"),
              instruction("add.9", f"{STEP}/adam/cnnperf_update_1/add", opcode="add")),
        fused(16, instruction("neg.1", f"{STEP}/jvp(compile_loss)/sce/neg", opcode="negate")),
        # A layout copy that pads again (element-wise) for the conv's weight gradient.
        fused(18, instruction("pad.2", f"{STEP}/jvp(pad)/pad", opcode="pad")),
        # The pool's kernel does the conv's convolution: two layers' heavy work.
        fused(17, instruction("convolution.8", f"{STEP}/jvp(conv)/conv_general_dilated",
                              opcode="convolution"),
              instruction("reduce-window.1", f"{STEP}/jvp(pool)/reduce_window_max",
                          opcode="reduce-window")),
    ],
)  # fmt: skip


@pytest.fixture
def step_parts() -> jaxprofiling.ModuleParts:
    return jaxprofiling.instruction_parts(STEP_MODULE, Classifier(SCOPES))


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("pad_fusion", Part("pad", FORWARD)),
        ("conv.1", Part("conv", FORWARD)),
        ("pool_fusion", Part("pool", FORWARD)),
        ("dense_fusion", Part("dense", FORWARD)),
        ("conv_pool_fusion", Part("pool", FORWARD)),
        # The root names the loss: the recomputed division does not take it to the layer.
        ("loss_fusion", Part(LOSS_AND_METRICS)),
        ("dense_grad", Part("dense", BACKWARD)),
        # No root name: its computing instruction decides; the bitcast does not.
        ("mix_fusion", Part("pool", BACKWARD)),
        # No name at all, read only by the conv's optimizer update: the conv's gradient.
        ("ynn_fusion.6", Part("conv", BACKWARD)),
        ("layout_copy", Part("conv", BACKWARD)),
        # No root name and only another layer's element-wise op: its reader decides.
        ("pad_copy", Part("conv", BACKWARD)),
        ("update_fusion", Part("conv", OPTIMIZER)),
        # A copy of a variable read by the layer's forward and backward ops: forward.
        ("kernel_copy", Part("conv", FORWARD)),
        ("unread", Part(OTHER_OPS)),
        # The root names no scope and nothing reads it; the loss op fused into it decides.
        ("top_add", Part(LOSS_AND_METRICS)),
    ],
)
def test_each_instruction_is_charged_by_its_name_its_fusion_or_its_readers(
    step_parts: jaxprofiling.ModuleParts, name: str, part: Part
) -> None:
    assert step_parts.parts[name] == part


def test_the_instructions_charged_through_their_readers_are_named(
    step_parts: jaxprofiling.ModuleParts,
) -> None:
    assert step_parts.by_readers >= {"ynn_fusion.6", "layout_copy", "pad_copy", "unread", "top_add"}
    assert not step_parts.by_readers & {"conv.1", "mix_fusion", "update_fusion", "loss_fusion"}


def test_only_heavy_work_of_several_layers_in_one_kernel_merges_them(
    step_parts: jaxprofiling.ModuleParts,
) -> None:
    # conv_pool_fusion convolves for the conv and pools for the pool; dense_fusion's
    # recomputed element-wise max of the pool and mix_fusion's bitcast named
    # after the dense gradient merge nothing.
    assert step_parts.merges == {"conv_pool_fusion": ("conv", "pool")}


def test_unnamed_work_read_by_two_layers_merges_them_and_an_unnamed_copy_does_not() -> None:
    built = module(
        instruction("x", "data[0]", opcode="parameter"),
        instruction("shared_copy", "", opcode="copy", operands=["x"]),
        instruction("shared_conv", "", operands=["x"], called=[21]),
        instruction("a", f"{STEP}/jvp(conv)/add", operands=["shared_copy", "shared_conv"]),
        instruction(
            "b", f"{STEP}/transpose(jvp(dense))/mul", operands=["shared_copy", "shared_conv"]
        ),
        fusions=[fused(21, instruction("convolution.3", "", opcode="convolution"))],
    )
    parts = jaxprofiling.instruction_parts(built, Classifier(SCOPES))
    # Each charged whole to the first layer that reads it, at the first phase.
    assert parts.parts["shared_copy"] == Part("conv", FORWARD)
    assert parts.parts["shared_conv"] == Part("conv", FORWARD)
    assert parts.merges == {"shared_conv": ("conv", "dense")}


def test_a_module_without_computations_is_an_error() -> None:
    empty = SimpleNamespace(name="jit_f", computations=[])
    with pytest.raises(ProfileError, match=r"^The HLO module 'jit_f' has no computation\.$"):
        jaxprofiling.instruction_parts(empty, Classifier(SCOPES))


def test_hlo_modules_are_read_from_the_metadata_plane() -> None:
    xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")
    built = xplane_pb2.XSpace()
    plane = built.planes.add(name=profiling.METADATA_PLANE, id=0)
    plane.stat_metadata[1].id = 1
    plane.stat_metadata[1].name = jaxprofiling.HLO_PROTO_STAT
    plane.stat_metadata[2].id = 2
    plane.stat_metadata[2].name = "program_id"
    for key, name, data in ((1, "jit_train_step(24)", b"step"), (2, "jit_equal(3)", b"eq")):
        meta = plane.event_metadata[key]
        meta.id, meta.name = key, name
        meta.stats.add(metadata_id=1, bytes_value=data)
        meta.stats.add(metadata_id=2, uint64_value=24)
    found = jaxprofiling.hlo_modules(built, lambda data: data.decode().upper())
    assert found == {"jit_train_step(24)": "STEP", "jit_equal(3)": "EQ"}


# --------------------------------------------------------------------------- attribution


def hlo(name: str, start: float, duration: float, module_name: str = "jit_train_step") -> Event:
    return (name, start, duration, {"hlo_op": name, "hlo_module": module_name, "program_id": 24})


MODULES = {"jit_train_step(24)": STEP_MODULE, "jit_flip(7)": module(instruction("flip", ""))}


def test_a_step_is_swept_over_its_xla_ops_on_every_thread() -> None:
    built = space(
        {
            "python": [step(0, 20), (INPUT_MARKER, 0.5, 1.5, {}), step(30, 10)],
            "tf_XLAEigen/1": [
                hlo("conv.1", 2, 3),
                hlo("ynn_fusion.6", 6, 4),
                hlo("update_fusion", 12, 1),
                hlo("conv.1", 31, 2),
            ],
            # Overlaps the weight gradient: shared at the instants both run.
            "tf_XLAEigen/2": [hlo("pool_fusion", 8, 4), hlo("unread", 14, 1)],
            # A recipe's augmentation in the prefetch thread: not the model's module.
            "cnnperf-batches_0": [hlo("flip", 3, 10, module_name="jit_flip")],
        }
    )
    result = jaxprofiling.attribute(built, SCOPES, MODULES)
    assert result.source == "host" and result.merged == ()
    first, second = result.steps
    assert first.seconds == pytest.approx(20e-6)
    assert first.parts == pytest.approx(
        {
            Part(INPUT_PIPELINE): 1.5e-6,
            Part("conv", FORWARD): 3e-6,
            Part("conv", BACKWARD): 2e-6 + 1e-6,
            Part("pool", FORWARD): 1e-6 + 2e-6,
            Part("conv", OPTIMIZER): 1e-6,
            Part(OTHER_OPS): 1e-6,
        }
    )
    # Parts sum to the union of busy time, never more than the step.
    assert first.busy_seconds == pytest.approx(12.5e-6) and first.busy_seconds <= first.seconds
    assert first.launch_seconds == pytest.approx(0.5e-6 + 5e-6)
    assert first.coverage == pytest.approx(11.5 / 20)
    assert second.parts == pytest.approx({Part("conv", FORWARD): 2e-6})


def test_layers_merge_only_when_the_instruction_that_joins_them_ran() -> None:
    lines = {"python": [step(0, 10)], "tf_XLAEigen/1": [hlo("conv.1", 1, 2)]}
    assert jaxprofiling.attribute(space(lines), SCOPES, MODULES).merged == ()
    lines["tf_XLAEigen/1"].append(hlo("conv_pool_fusion", 4, 2))
    result = jaxprofiling.attribute(space(lines), SCOPES, MODULES)
    assert result.merged == (("conv", "pool"),)
    profile = layers.build_profile(
        result,
        [layers.LayerInfo(name, "Layer", "-", 0, None) for name in SCOPES.layers],
        unprofiled_step_seconds=None,
        window_seconds=0.1,
        warmup_steps=0,
        peak=None,
        peak_source="none",
    )
    assert [layer.name for layer in profile.layers] == ["pad", "conv + pool", "dense"]
    assert profile.notes == ("Fused across layers, so reported together: conv + pool.",)


def test_a_jax_profile_without_step_markers_is_an_error() -> None:
    built = space({"tf_XLAEigen/1": [hlo("conv.1", 1, 2)]})
    with pytest.raises(ProfileError, match=r"^The profile holds no 'cnnperf_step' step marker"):
        jaxprofiling.attribute(built, SCOPES, MODULES)


def test_a_jax_profile_without_hlo_modules_is_an_error() -> None:
    built = space({"python": [step(0, 10)], "tf_XLAEigen/1": [hlo("conv.1", 1, 2)]})
    with pytest.raises(
        ProfileError,
        match=r"^The profile's /host:metadata plane holds no HLO module, so its XLA ops cannot "
        r"be named \(was the profile taken with enable_hlo_proto off\?\)\.$",
    ):
        jaxprofiling.attribute(built, SCOPES, {})


def test_a_jax_profile_without_the_models_ops_is_an_error() -> None:
    built = space({"python": [step(0, 10)], "tf_XLAEigen/1": [hlo("unread", 1, 2)]})
    other = ModelScopes(model="net", layers=("elsewhere",))
    with pytest.raises(
        ProfileError,
        match=r"^No executed XLA op of the profile belongs to a layer of 'net': the compiled "
        r"train step's op names carry no Keras layer scope\.$",
    ):
        jaxprofiling.attribute(built, other, MODULES)


def test_an_event_of_an_unknown_module_compilation_is_left_out() -> None:
    built = space(
        {
            "python": [step(0, 10)],
            "tf_XLAEigen/1": [
                hlo("conv.1", 1, 2),
                ("pool_fusion", 4, 2, {"hlo_op": "pool_fusion", "hlo_module": "jit_other"}),
            ],
        }
    )
    (only,) = jaxprofiling.attribute(built, SCOPES, MODULES).steps
    assert only.parts == pytest.approx({Part("conv", FORWARD): 2e-6})


def test_a_window_on_a_gpu_says_why_it_has_no_table() -> None:
    profile = jaxlayers.profile_window(
        None,
        None,
        batch_size=32,
        full_batches=True,
        device="gpu:0",
        size=layers.WindowSize(1, 1, 3),
        unprofiled_step_seconds=None,
        sync=lambda: None,
    )
    assert profile.notes == (jaxlayers.NO_GPU_LAYERS,) and not profile.step_seconds
