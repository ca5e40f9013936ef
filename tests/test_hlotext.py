"""Unit tests of the HLO modules read from a JAX profile without TensorFlow."""
# ruff: noqa: E501  (HLO text is kept as XLA prints it, one instruction a line)

from __future__ import annotations

import pytest

from pytest_cnnperf import hlotext, profiling
from pytest_cnnperf.hlotext import HloInstruction
from pytest_cnnperf.profiling import ProfileError

# --------------------------------------------------------------------------- wire format


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def entry(key: int, value: bytes) -> bytes:
    """One entry of a protobuf map: key 1, value 2."""
    return field(1, key) + field(2, value)


def metadata_plane(modules: dict[str, bytes], name: str = profiling.METADATA_PLANE) -> bytes:
    """An XPlane as JAX's profiler writes its metadata plane: one event per module."""
    stats = entry(1, field(1, 1) + field(2, b"Hlo Proto")) + entry(
        2, field(1, 2) + field(2, b"program_id")
    )
    events = b""
    for key, (event, module) in enumerate(modules.items(), start=1):
        hlo_proto = field(1, module) + field(3, b"buffers")
        stat = field(5, field(1, 1) + field(6, hlo_proto)) + field(5, field(1, 2) + field(3, 24))
        events += field(4, entry(key, field(1, key) + field(2, event.encode()) + stat))
    return field(1, 7) + field(2, name.encode()) + events + field(5, stats)


def test_the_modules_are_found_in_the_metadata_plane() -> None:
    host = field(1, 2) + field(2, b"/host:CPU") + field(3, b"\x08\x01" * 50)
    space = (
        field(1, host)
        + field(1, metadata_plane({"jit_train_step(24)": b"step", "jit_equal(3)": b"eq"}))
        + field(1, metadata_plane({"jit_other(9)": b"other"}, name="/host:other"))
        + field(4, b"hostname")
    )
    assert hlotext.hlo_protos(space) == {"jit_train_step(24)": b"step", "jit_equal(3)": b"eq"}


def test_an_xspace_without_a_metadata_plane_has_no_module() -> None:
    assert hlotext.hlo_protos(b"") == {}
    assert hlotext.hlo_protos(field(1, field(2, b"/host:CPU"))) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0a", "The profile's XSpace ends inside a number: the file is cut short."),
        (b"\x0a\x05ab", "The profile's XSpace ends inside a field: the file is cut short."),
        (
            b"\x0b",
            "The profile's XSpace is not a protobuf message XLA wrote (field 1 has wire type 3).",
        ),
        (field(1, 5), "The profile's XSpace holds a number where a message belongs."),
    ],
)
def test_bytes_that_are_no_xspace_say_so(data: bytes, message: str) -> None:
    with pytest.raises(ProfileError) as error:
        hlotext.hlo_protos(data)
    assert str(error.value) == message


# --------------------------------------------------------------------------- HLO text

#: As jaxlib prints a module without shapes (a real profile's, shortened).
MODULE_TEXT = r"""HloModule jit_train_step, is_scheduled=true, entry_computation_layout={(f32[64,64]{1,0})->f32[]}

FileNames
1 "/work/probe.py"

FileLocations
1 {file_name_id=1 function_name_id=1 line=6 end_line=6 column=0 end_column=4}

%region_0.1 (reduce_sum.3: f32[], reduce_sum.4: f32[]) -> f32[] {
  %reduce_sum.3 = parameter(0), metadata={op_name="reduce_sum"}
  %reduce_sum.4 = parameter(1), metadata={op_name="reduce_sum"}
  ROOT %reduce_sum.5 = add(%reduce_sum.3, %reduce_sum.4), metadata={op_name="jit(f)/reduce_sum" stack_frame_id=2}
}

%fused_computation (param_0.3: f32[64,64]) -> f32[] {
  %param_0.3 = parameter(0)
  %dot_general.0 = dot(%param_0.3, %param_0.3), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_name="jit(f)/jvp(dense)/dot_general" stack_frame_id=3}
  %constant.0 = constant({ {1, 2}, {3, 4} })
  ROOT %reduce_sum.0 = reduce(%dot_general.0, %constant.0), dimensions={0,1}, to_apply=%region_0.1, metadata={op_name="jit(f)/\"quoted\"/reduce_sum"}
}

%body (p: (s32[], f32[])) -> (s32[], f32[]) {
  %p = parameter(0)
  ROOT %t = tuple(%p)
}

%cond (p.1: (s32[], f32[])) -> pred[] {
  %p.1 = parameter(0)
  ROOT %c = constant(true)
}

ENTRY %main.2 (x.1: f32[64,64]) -> f32[] {
  %x.1 = parameter(0), metadata={op_name="x"}
  %ynn_fusion = fusion(%x.1), kind=kCustom, calls=%fused_computation, backend_config={"fusion_config":{"kind":"__ynn_fusion","note":"%body"}}
  %loop = while(%ynn_fusion), condition=%cond, body=%body, control-predecessors={%x.1}
  ROOT %copy.1 = copy(%loop), metadata={op_name="jit(f)/transpose(jvp(dense))/copy"}
}
"""


def test_a_printed_module_is_read_into_its_computations() -> None:
    module = hlotext.parse_module(MODULE_TEXT)
    assert module.name == "jit_train_step" and module.entry == "main.2"
    names = [c.name for c in module.computations]
    assert names == ["region_0.1", "fused_computation", "body", "cond", "main.2"]
    entry_computation = module.computations[-1]
    assert entry_computation.instructions == (
        HloInstruction("x.1", "parameter", "x"),
        # A computation named only inside a string (the backend config) is not called.
        HloInstruction("ynn_fusion", "fusion", "", ("x.1",), ("fused_computation",)),
        HloInstruction("loop", "while", "", ("ynn_fusion",), ("cond", "body")),
        HloInstruction("copy.1", "copy", "jit(f)/transpose(jvp(dense))/copy", ("loop",)),
    )
    fused = module.computations[1].instructions
    assert fused[1] == HloInstruction(
        "dot_general.0", "dot", "jit(f)/jvp(dense)/dot_general", ("param_0.3", "param_0.3")
    )
    assert fused[2] == HloInstruction("constant.0", "constant")
    assert fused[3].op_name == 'jit(f)/"quoted"/reduce_sum'
    assert fused[3].called == ("region_0.1",) and fused[3].operands == (
        "dot_general.0",
        "constant.0",
    )


def test_text_without_a_computation_is_an_error() -> None:
    with pytest.raises(ProfileError) as error:
        hlotext.parse_module("HloModule jit_f, is_scheduled=true\n")
    assert str(error.value) == "The HLO module 'jit_f' has no computation."


def test_jaxlib_prints_a_serialized_module_the_way_the_reader_reads_it() -> None:
    xla_client = pytest.importorskip("jaxlib.xla_client")
    from pytest_cnnperf.backends import jax_layers

    built = xla_client.hlo.hlo_module_from_text(
        """
        HloModule jit_f

        %add (a: f32[], b: f32[]) -> f32[] {
          %a = f32[] parameter(0)
          %b = f32[] parameter(1)
          ROOT %sum = f32[] add(f32[] %a, f32[] %b)
        }

        ENTRY %main (x: f32[8]) -> f32[] {
          %x = f32[8] parameter(0), metadata={op_name="jit(f)/x"}
          %zero = f32[] constant(0)
          ROOT %total = f32[] reduce(f32[8] %x, f32[] %zero), dimensions={0}, to_apply=%add, metadata={op_name="jit(f)/jvp(dense)/reduce_sum"}
        }
        """
    )
    text = jax_layers.module_text(built.as_serialized_hlo_module_proto())
    module = hlotext.parse_module(text)
    assert module.entry == "main"
    assert module.computations[-1].instructions[-1] == HloInstruction(
        "total", "reduce", "jit(f)/jvp(dense)/reduce_sum", ("x", "zero"), ("add",)
    )
