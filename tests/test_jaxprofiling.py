"""Unit tests of the JAX XSpace attribution, on hand-built profiles and HLO modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_cnnperf import jaxprofiling, layers, profiling
from pytest_cnnperf.hlotext import HloComputation, HloInstruction, HloModule
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

#: (name, start µs, duration µs, stats) on a thread or a GPU stream
Event = tuple[str, float, float, Mapping[str, Any]]


def plane(name: str, lines: Mapping[str, Sequence[Event]]) -> SimpleNamespace:
    """A plane as ``jax.profiler.ProfileData`` gives it: named events, times in ns."""
    return SimpleNamespace(
        name=name,
        lines=[
            SimpleNamespace(
                name=line,
                events=[
                    SimpleNamespace(
                        name=event,
                        start_ns=start * 1e3,
                        duration_ns=duration * 1e3,
                        stats=list(stats.items()),
                    )
                    for event, start, duration, stats in events
                ],
            )
            for line, events in lines.items()
        ],
    )


def space(
    lines: Mapping[str, Sequence[Event]], gpu: Mapping[str, Sequence[Event]] | None = None
) -> SimpleNamespace:
    """A ProfileData-like XSpace: a host plane holding ``lines``, and a GPU's if given."""
    planes = [plane(profiling.HOST_PLANE, lines)]
    if gpu is not None:
        planes.append(plane(f"{profiling.DEVICE_PLANE_PREFIX}0", gpu))
    return SimpleNamespace(planes=planes)


def step(start: float, duration: float) -> Event:
    return (profiling.STEP_MARKER, start, duration, {"step_num": 0})


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
) -> HloInstruction:
    return HloInstruction(
        name=name,
        opcode=opcode,
        op_name=op_name,
        operands=tuple(operands),
        called=tuple(f"fused.{number}" for number in called),
    )


def fused(number: int, *instructions: HloInstruction) -> HloComputation:
    return HloComputation(f"fused.{number}", instructions)


def module(*entry: HloInstruction, fusions: Sequence[HloComputation] = ()) -> HloModule:
    """A module whose entry computation holds ``entry``."""
    return HloModule("jit_train_step", "main.1", (*fusions, HloComputation("main.1", entry)))


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
    empty = HloModule("jit_f", "", ())
    with pytest.raises(ProfileError, match=r"^The HLO module 'jit_f' has no computation\.$"):
        jaxprofiling.instruction_parts(empty, Classifier(SCOPES))


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


def kernel(name: str, start: float, duration: float, instruction: str) -> Event:
    """A GPU kernel as XLA annotates its launch (module and program id, then the thunk)."""
    annotation = (
        "XlaModule:#prefix=jit(train_step),hlo_module=jit_train_step,program_id=24#"
        f"::Thunk:#name=jvp(conv),hlo_op={instruction}#"
    )
    return (name, start, duration, {"kernel_annotation": annotation, "correlation_id": 9})


def test_on_a_gpu_the_kernels_of_the_step_are_charged_like_the_cpus_ops() -> None:
    built = space(
        {"python": [step(0, 20), (INPUT_MARKER, 0.5, 1.5, {})]},
        gpu={
            "Stream #13(compute)": [
                kernel("cutlass_80_tensorop_s1688gemm", 3, 4, "conv.1"),
                # The same instruction's second kernel: charged the same.
                kernel("cudnn_infer_kernel", 7, 1, "conv.1"),
                # Stats of its own take precedence over the annotation.
                ("loop_fusion", 9, 2, {**hlo("x", 0, 0)[3], "hlo_op": "update_fusion"}),
                kernel("input_fusion_reduce", 12, 3, "conv_pool_fusion"),
            ],
            # Copies and other modules' kernels are not the model's ops.
            "Stream #14(MemcpyH2D)": [("MemcpyH2D", 1, 1, {})],
        },
    )
    result = jaxprofiling.attribute(built, SCOPES, MODULES)
    assert result.source == "device" and result.merged == (("conv", "pool"),)
    (only,) = result.steps
    assert only.parts == pytest.approx(
        {
            Part(INPUT_PIPELINE): 1.5e-6,
            Part("conv", FORWARD): 5e-6,
            Part("conv", OPTIMIZER): 2e-6,
            Part("pool", FORWARD): 3e-6,
        }
    )
    assert only.launch_seconds == pytest.approx(0.5e-6 + 5e-6)


def test_without_the_models_kernels_on_a_gpu_the_host_events_are_read() -> None:
    built = space(
        {"python": [step(0, 10)], "tf_XLAEigen/1": [hlo("conv.1", 1, 2)]},
        gpu={"Stream #13(compute)": [("MemcpyH2D", 1, 1, {})]},
    )
    result = jaxprofiling.attribute(built, SCOPES, MODULES)
    assert result.source == "host"
    assert result.steps[0].parts == pytest.approx({Part("conv", FORWARD): 2e-6})


def test_a_profile_read_by_jax_profile_data_is_attributed_as_the_fakes_are() -> None:
    profiler = pytest.importorskip("jax.profiler")
    text = """
    planes {
      id: 1 name: "/host:CPU"
      lines { id: 1 name: "python" timestamp_ns: 1000
        events { metadata_id: 1 offset_ps: 0 duration_ps: 10000000 } }
      lines { id: 2 name: "tf_XLAEigen/1" timestamp_ns: 1000
        events { metadata_id: 2 offset_ps: 1000000 duration_ps: 2000000
          stats { metadata_id: 1 ref_value: 4 } stats { metadata_id: 2 ref_value: 5 }
          stats { metadata_id: 3 int64_value: 24 } } }
      event_metadata { key: 1 value { id: 1 name: "cnnperf_step" } }
      event_metadata { key: 2 value { id: 2 name: "conv.1" } }
      stat_metadata { key: 1 value { id: 1 name: "hlo_op" } }
      stat_metadata { key: 2 value { id: 2 name: "hlo_module" } }
      stat_metadata { key: 3 value { id: 3 name: "program_id" } }
      stat_metadata { key: 4 value { id: 4 name: "conv.1" } }
      stat_metadata { key: 5 value { id: 5 name: "jit_train_step" } }
    }
    """
    data = profiler.ProfileData.text_proto_to_serialized_xspace(text)
    real = jaxprofiling.attribute(
        profiler.ProfileData.from_serialized_xspace(data), SCOPES, MODULES
    )
    fake = jaxprofiling.attribute(
        space({"python": [step(0, 10)], "tf_XLAEigen/1": [hlo("conv.1", 1, 2)]}), SCOPES, MODULES
    )
    assert real == fake and real.steps[0].parts == {Part("conv", FORWARD): pytest.approx(2e-6)}
