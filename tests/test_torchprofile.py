"""Unit tests of ``torchprofile``: PyTorch profiler events attributed to Keras layers.

The event lists are built by hand in the shape ``torch.profiler`` records
(see tests/test_torch_layers.py for the same checks on real profiles): no
PyTorch is imported here.
"""

from __future__ import annotations

import pytest

from pytest_cnnperf import layers, torchprofile
from pytest_cnnperf.layerprofile import BETWEEN_OPS, LAUNCH
from pytest_cnnperf.profiling import (
    BACKWARD,
    FORWARD,
    INPUT_PIPELINE,
    LOSS_AND_METRICS,
    OPTIMIZER,
    OPTIMIZER_SHARED,
    OTHER_OPS,
    ModelScopes,
    Part,
    ProfileError,
)
from pytest_cnnperf.torchprofile import TorchEvent

SCOPES = ModelScopes(model="net", layers=("conv", "flat", "head"), optimizer="adam")
MAIN = 1
PREFETCH = 2
AUTOGRAD = 3
EVALUATE = torchprofile.EVALUATE_PREFIX


def annotation(name: str, start: float, end: float, thread: int = MAIN) -> TorchEvent:
    return TorchEvent(name, start, end, thread, annotation=True)


def op(
    name: str, start: float, end: float, *, seq: int = -1, thread: int = MAIN, id: int = 0
) -> TorchEvent:
    return TorchEvent(name, start, end, thread, sequence_nr=seq, id=id)


def node(name: str, start: float, end: float, *, seq: int, thread: int = MAIN) -> list[TorchEvent]:
    """A backward node as the engine records it: the evaluation, and the node inside."""
    return [
        TorchEvent(f"{EVALUATE} {name}", start, end, thread, fwd_thread=MAIN, sequence_nr=seq),
        TorchEvent(name, start + 1, end - 1, thread, fwd_thread=MAIN, sequence_nr=seq),
    ]


def step(offset: float = 0.0, backward_thread: int = MAIN) -> list[TorchEvent]:
    """One 200 us step: input, conv (forward 20 us), flat, head, loss, backward, optimizer."""
    t = offset
    return [
        annotation("cnnperf_step", t + 0, t + 200),
        annotation("cnnperf_input", t + 5, t + 15),
        annotation("net/conv", t + 20, t + 50),
        op("aten::conv2d", t + 25, t + 45, seq=10),
        op("aten::convolution", t + 26, t + 44, seq=10),  # nested: self time only
        annotation("net/flat", t + 50, t + 56),
        op("aten::reshape", t + 51, t + 55, seq=11),
        annotation("net/head", t + 56, t + 70),
        op("aten::mm", t + 58, t + 66, seq=12),
        annotation("compile_loss", t + 70, t + 80),
        op("aten::nll_loss", t + 72, t + 78, seq=13),
        *node("NllLossBackward0", t + 85, t + 90, seq=13, thread=backward_thread),
        *node("MmBackward0", t + 90, t + 100, seq=12, thread=backward_thread),
        op("aten::mm", t + 92, t + 98, thread=backward_thread),
        *node("ViewBackward0", t + 100, t + 104, seq=11, thread=backward_thread),
        *node("ConvolutionBackward0", t + 104, t + 140, seq=10, thread=backward_thread),
        # AccumulateGrad: no sequence number, right after the node feeding it.
        TorchEvent(
            f"{EVALUATE} torch::autograd::AccumulateGrad", t + 141, t + 143, backward_thread
        ),
        annotation("adam", t + 150, t + 190),
        op("aten::pow", t + 151, t + 155),
        annotation("cnnperf_updates:0,0,2,2", t + 160, t + 185),
        op("aten::_foreach_mul_", t + 161, t + 181),
        op("aten::mul_", t + 162, t + 166),
        op("aten::mul_", t + 166, t + 170),
        op("aten::mul_", t + 170, t + 174),
        op("aten::mul_", t + 174, t + 178),
        annotation("cnnperf_metrics", t + 190, t + 196),
        op("aten::eq", t + 191, t + 195),
    ]


def shares(events: list[TorchEvent]) -> dict[Part, float]:
    (only,) = torchprofile.attribute(events, SCOPES).steps
    return {part: round(seconds * 1e6, 6) for part, seconds in only.parts.items()}


def test_every_phase_of_every_layer_is_charged_from_its_ranges_and_sequence_numbers() -> None:
    parts = shares(step())
    assert parts == {
        Part(INPUT_PIPELINE): 10.0,  # the input range's whole duration
        Part("conv", FORWARD): 20.0,  # conv2d and the convolution nested in it
        Part("flat", FORWARD): 4.0,
        Part("head", FORWARD): 8.0,
        Part(LOSS_AND_METRICS): 6.0 + 5.0 + 4.0,  # loss forward, its backward node, metrics
        Part("head", BACKWARD): 10.0,  # the node and the aten::mm inside it
        Part("flat", BACKWARD): 4.0,
        Part("conv", BACKWARD): 36.0 + 2.0,  # and the AccumulateGrad after it
        Part(OPTIMIZER_SHARED): 4.0 + 4.0,  # pow; the _foreach_ op's own time
        Part("conv", OPTIMIZER): 8.0,  # children 0 and 1 of the _foreach_ op
        Part("head", OPTIMIZER): 8.0,  # children 2 and 3
    }


def test_parts_sum_to_the_busy_time_and_the_rest_is_launch_and_between_ops() -> None:
    (only,) = torchprofile.attribute(step(), SCOPES).steps
    assert only.seconds == pytest.approx(200e-6)
    assert only.busy_seconds == pytest.approx(133e-6)
    assert only.busy_seconds <= only.seconds
    # Before the input range (5 us) and after the metrics' last op (5 us).
    assert only.launch_seconds == pytest.approx(10e-6)
    assert only.between_ops_seconds == pytest.approx(57e-6)
    assert only.coverage == pytest.approx(133 / 200)


def test_the_profile_becomes_a_layer_profile_with_coverage_computed_from_it() -> None:
    attribution = torchprofile.attribute(step() + step(offset=1000), SCOPES)
    infos = [
        layers.LayerInfo("conv", "Conv2D", "(None, 6, 6, 4)", 40, 1000.0),
        layers.LayerInfo("flat", "Flatten", "(None, 144)", 0, None),
        layers.LayerInfo("head", "Dense", "(None, 2)", 290, 500.0),
    ]
    profile = layers.build_profile(
        attribution, infos, unprofiled_step_seconds=150e-6, window_seconds=0.1,
        warmup_steps=1, peak=1e9, peak_source="test",
    )  # fmt: skip
    assert profile.steps == 2
    assert [layer.name for layer in profile.layers] == ["conv", "flat", "head"]
    conv = profile.layers[0]
    assert conv.forward_seconds == pytest.approx((20e-6, 20e-6))
    assert conv.backward_seconds == pytest.approx((38e-6, 38e-6))
    assert conv.optimizer_seconds == pytest.approx((8e-6, 8e-6))
    assert profile.coverage == pytest.approx(133 / 200)
    launch, between = profile.category(LAUNCH), profile.category(BETWEEN_OPS)
    assert launch is not None and launch.seconds == pytest.approx((10e-6, 10e-6))
    assert between is not None and between.seconds == pytest.approx((57e-6, 57e-6))


def test_only_the_steps_threads_count_and_an_autograd_thread_does() -> None:
    prefetch = [
        op("aten::mul", 20, 60, thread=PREFETCH),
        op("aten::add", 100, 150, thread=PREFETCH),
    ]
    assert shares(step() + prefetch) == shares(step())
    # Backward on an autograd device thread: the nodes carry the step thread as
    # their forward thread, and the operators inside them are charged with them.
    moved = shares(step(backward_thread=AUTOGRAD))
    assert moved == shares(step())


def test_operators_running_on_two_threads_at_once_are_never_counted_twice() -> None:
    events = [
        *step(backward_thread=AUTOGRAD),
        # The autograd thread's conv backward overlaps an op of the main thread.
        op("aten::add", 104, 140),
    ]
    (only,) = torchprofile.attribute(events, SCOPES).steps
    assert only.busy_seconds <= only.seconds
    assert only.parts[Part("conv", BACKWARD)] == pytest.approx((18 + 2) * 1e-6)
    assert only.parts[Part(OTHER_OPS)] == pytest.approx(18e-6)


def test_a_sequence_number_shared_by_two_layers_goes_to_the_operator_that_made_the_node() -> None:
    events = [
        annotation("cnnperf_step", 0, 100),
        annotation("net/conv", 10, 30),
        op("aten::conv2d", 11, 20, seq=5),
        op("aten::to", 25, 26, seq=6),  # peeks 6, creates no node
        annotation("net/head", 30, 50),
        op("aten::mm", 31, 40, seq=6),  # creates node 6
        *node("MmBackward0", 60, 70, seq=6),
        *node("ConvolutionBackward0", 70, 90, seq=5),
    ]
    parts = shares(events)
    assert parts[Part("head", BACKWARD)] == 10.0
    assert parts[Part("conv", BACKWARD)] == 20.0


def test_a_foreach_update_whose_children_do_not_match_the_variables_is_shared() -> None:
    events = [
        annotation("cnnperf_step", 0, 100),
        annotation("net/conv", 1, 9),
        op("aten::conv2d", 2, 8, seq=1),
        annotation("cnnperf_updates:0,2", 10, 60),
        # One fused multi-tensor kernel launch, no child per tensor (as on a GPU).
        op("aten::_foreach_add_", 11, 50),
        op("aten::add_", 12, 20),
    ]
    parts = shares(events)
    assert parts[Part(OPTIMIZER_SHARED)] == 39.0
    assert Part("conv", OPTIMIZER) not in parts


def test_an_optimizer_that_updates_one_variable_at_a_time_is_charged_per_layer() -> None:
    events = [
        annotation("cnnperf_step", 0, 100),
        annotation("net/head", 1, 9),
        op("aten::mm", 2, 8, seq=1),
        annotation("adam", 10, 60),
        annotation("cnnperf_update_2", 12, 30),
        op("aten::add_", 13, 29),
        annotation("cnnperf_update_7", 30, 40),  # no such layer: shared
        op("aten::add_", 31, 39),
    ]
    parts = shares(events)
    assert parts[Part("head", OPTIMIZER)] == 16.0
    assert parts[Part(OPTIMIZER_SHARED)] == 8.0


def test_operators_outside_every_range_are_other_ops_and_so_is_their_backward() -> None:
    events = [
        annotation("cnnperf_step", 0, 100),
        annotation("net/conv", 1, 9),
        op("aten::conv2d", 2, 8, seq=1),
        op("aten::to", 10, 20, seq=2),
        annotation("someone_elses_range", 20, 40),  # transparent
        op("aten::mul", 21, 39, seq=3),
        *node("MulBackward0", 50, 60, seq=3),
    ]
    parts = shares(events)
    assert parts[Part(OTHER_OPS)] == 10.0 + 18.0 + 10.0
    (only,) = torchprofile.attribute(events, SCOPES).steps
    assert only.coverage == pytest.approx(6 / 100)


def test_kernels_on_a_device_are_swept_instead_charged_to_the_operator_that_launched_them() -> None:
    events = [
        annotation("cnnperf_step", 0, 100),
        annotation("cnnperf_input", 1, 5),
        annotation("net/conv", 5, 20),
        op("aten::conv2d", 6, 10, seq=1, id=41),
        *node("ConvolutionBackward0", 30, 40, seq=1),
        op("aten::convolution_backward", 31, 39, id=42),
        TorchEvent("implicit_gemm", 12, 50, 7, device="cuda", linked_id=41),
        TorchEvent("wgrad_kernel", 45, 70, 7, device="cuda", linked_id=42),
        TorchEvent("memcpy", 70, 72, 8, device="cuda", linked_id=999),
    ]
    attribution = torchprofile.attribute(events, SCOPES)
    assert attribution.source == "device"
    (only,) = attribution.steps
    parts = {part: round(seconds * 1e6, 6) for part, seconds in only.parts.items()}
    assert parts == {
        Part(INPUT_PIPELINE): 4.0,
        Part("conv", FORWARD): 38.0 - 2.5,  # shares 45..50 with the backward kernel
        Part("conv", BACKWARD): 25.0 - 2.5,
        Part(OTHER_OPS): 2.0,
    }


def test_steps_are_reported_in_order_each_from_its_own_window() -> None:
    attribution = torchprofile.attribute(step(offset=1000) + step(), SCOPES)
    assert len(attribution.steps) == 2
    assert all(s.seconds == pytest.approx(200e-6) for s in attribution.steps)
    assert attribution.steps[0].parts == attribution.steps[1].parts


# --------------------------------------------------------------------------- errors


def test_a_profile_without_step_ranges_is_refused_with_the_reason() -> None:
    with pytest.raises(ProfileError, match="holds no 'cnnperf_step' range") as caught:
        torchprofile.attribute([op("aten::mm", 0, 1)], SCOPES)
    assert str(caught.value) == (
        "The profile holds no 'cnnperf_step' range: the profiler recorded no operator of the "
        "profiled steps (was another profiler running?)."
    )


def test_a_profile_whose_operators_ran_in_no_layer_range_is_refused() -> None:
    events = [annotation("cnnperf_step", 0, 10), op("aten::mm", 1, 9, seq=1)]
    with pytest.raises(ProfileError) as caught:
        torchprofile.attribute(events, SCOPES)
    assert str(caught.value) == (
        "No operator of the profile belongs to a layer of 'net': none ran inside a "
        "'net/<layer>' range (were the layers named before the profiled steps?)."
    )


def test_an_updates_range_with_a_bad_owner_list_is_refused() -> None:
    events = [annotation("cnnperf_step", 0, 10), annotation("cnnperf_updates:0,x", 1, 9)]
    with pytest.raises(ProfileError) as caught:
        torchprofile.attribute(events, SCOPES)
    assert str(caught.value) == (
        "Expected a 'cnnperf_updates:' range to list a layer index per variable, separated "
        "by commas. Received: name='cnnperf_updates:0,x'"
    )


def test_an_event_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ProfileError) as caught:
        torchprofile.attribute([op("aten::mm", 5, 1)], SCOPES)
    assert str(caught.value) == (
        "Expected every profiler event to end after it starts. Received: 'aten::mm' from 5 to 1 us"
    )


def test_range_names_round_trip() -> None:
    assert torchprofile.layer_range("net", "conv") == "net/conv"
    assert torchprofile.updates_range([0, -1, 3]) == "cnnperf_updates:0,-1,3"
    assert torchprofile.parse_updates("cnnperf_updates:0,-1,3") == (0, -1, 3)
    assert torchprofile.parse_updates("cnnperf_updates:") == ()
    assert torchprofile.parse_updates("adam") is None


# --------------------------------------------------------------------------- the window's input


class Pipeline:
    """Stands in for nothing: only the two fields ``window_pipeline`` reads first."""

    def __init__(self, images: int) -> None:
        self.arrays = (list(range(images)), list(range(images)))
        self.arguments = {"batch_size": 32, "seed": 0, "augmentation_layers": None, "steps": None}


def test_a_pipeline_that_is_not_the_backends_own_is_refused_with_a_message() -> None:
    from pytest_cnnperf.backends import torch as torch_backend

    with pytest.raises(TypeError) as caught:
        torch_backend.window_pipeline([1, 2], batch_size=32, full_batches=True)
    assert str(caught.value) == (
        "Expected the training pipeline HostInputs.training made (a keras.utils.PyDataset of "
        "host arrays). Received: pipeline=[1, 2]"
    )


def test_full_batches_need_at_least_one_full_batch() -> None:
    from pytest_cnnperf.backends import torch as torch_backend

    with pytest.raises(ValueError) as caught:
        torch_backend.window_pipeline(Pipeline(20), batch_size=32, full_batches=True)
    assert str(caught.value) == (
        "Expected at least one full batch of 32 images for the profiled window. Received: 20 images"
    )
