"""XLA's compiled HLO modules as JAX's profiler stores them, read without TensorFlow.

Pure: no JAX, no TensorFlow, no protobuf library. JAX's profiler (with
``enable_hlo_proto``) stores each compiled module in the XSpace's
``/host:metadata`` plane: an event metadata named ``<module>(<program id>)``
with a stat ``Hlo Proto`` holding a serialized ``xla.HloProto``, whose field 1
is the ``HloModuleProto``. ``hlo_protos`` finds those bytes with a small
reader of protobuf's wire format (only the few fields on the way are
decoded; the rest are skipped by length). The JAX window has jaxlib print
each module as HLO text (``HloModule.to_string``), which carries every
instruction's ``metadata={op_name="..."}``; ``parse_module`` reads that text
into the small dataclasses ``jaxprofiling`` charges.

Field numbers (``xplane.proto``, ``hlo.proto``): ``XSpace.planes`` 1;
``XPlane.name`` 2, ``event_metadata`` 4 and ``stat_metadata`` 5 (maps: key 1,
value 2); ``XEventMetadata.name`` 2, ``stats`` 5; ``XStatMetadata.name`` 2;
``XStat.metadata_id`` 1, ``bytes_value`` 6; ``HloProto.hlo_module`` 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pytest_cnnperf.profiling import METADATA_PLANE, ProfileError

#: The ``/host:metadata`` stat holding an ``HloProto``'s bytes.
HLO_PROTO_STAT = "Hlo Proto"

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


# --------------------------------------------------------------------------- wire format


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ProfileError("The profile's XSpace ends inside a number: the file is cut short.")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """Each field of one message: (field number, integer or the bytes of a length-delimited one)."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == _LENGTH:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ProfileError(
                    "The profile's XSpace ends inside a field: the file is cut short."
                )
            value, at = data[at : at + size], at + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            value, at = int.from_bytes(data[at : at + width], "little"), at + width
        else:
            raise ProfileError(
                f"The profile's XSpace is not a protobuf message XLA wrote (field {number} has "
                f"wire type {wire})."
            )
        yield number, value


def _message(value: int | memoryview) -> memoryview:
    if isinstance(value, int):
        raise ProfileError("The profile's XSpace holds a number where a message belongs.")
    return value


def _text(value: int | memoryview) -> str:
    return bytes(_message(value)).decode("utf-8", "replace")


def _map_values(entries: list[memoryview]) -> Iterator[memoryview]:
    for entry in entries:
        for number, value in _fields(entry):
            if number == 2:
                yield _message(value)


def hlo_protos(xspace: bytes) -> dict[str, bytes]:
    """Each ``<module>(<program id>)`` of the metadata plane and its ``HloModuleProto`` bytes.

    Args:
        xspace: the serialized XSpace (the ``.xplane.pb`` file).

    Raises:
        ProfileError: the bytes are not a protobuf message.
    """
    found: dict[str, bytes] = {}
    for number, plane in _fields(memoryview(xspace)):
        if number != 1:
            continue
        name, events, stats = "", [], []
        for field, value in _fields(_message(plane)):
            if field == 2:
                name = _text(value)
            elif field == 4:
                events.append(_message(value))
            elif field == 5:
                stats.append(_message(value))
        if name != METADATA_PLANE:
            continue
        stat_names: dict[int, str] = {}
        for meta in _map_values(stats):
            fields = dict(_fields(meta))
            if isinstance(fields.get(1), int):
                stat_names[int(fields[1])] = _text(fields.get(2, memoryview(b"")))
        for meta in _map_values(events):
            event_name, data = "", b""
            for field, value in _fields(meta):
                if field == 2:
                    event_name = _text(value)
                elif field == 5:
                    stat = dict(_fields(_message(value)))
                    if stat_names.get(int(stat.get(1, 0))) == HLO_PROTO_STAT and 6 in stat:
                        data = bytes(_message(stat[6]))
            if event_name and data:
                module = [_message(v) for n, v in _fields(memoryview(data)) if n == 1]
                if module:
                    found[event_name] = bytes(module[-1])
    return found


# --------------------------------------------------------------------------- HLO text


@dataclass(frozen=True)
class HloInstruction:
    """An instruction: name, opcode, op name (JAX's name stack), operands, called computations."""

    name: str
    opcode: str
    op_name: str = ""
    operands: tuple[str, ...] = ()
    called: tuple[str, ...] = ()


@dataclass(frozen=True)
class HloComputation:
    name: str
    instructions: tuple[HloInstruction, ...]


@dataclass(frozen=True)
class HloModule:
    """A compiled module: its computations, ``entry`` the one the executable runs."""

    name: str
    entry: str
    computations: tuple[HloComputation, ...]


_MODULE = re.compile(r"^HloModule\s+([^\s,]+)")
_COMPUTATION = re.compile(r"^(ENTRY\s+)?%?([^\s(]+)\s.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT\s+)?%?([^\s=]+)\s*=\s*([A-Za-z][\w\-]*)\(")
_OP_NAME = re.compile(r'\bop_name="((?:[^"\\]|\\.)*)"')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_REFERENCE = re.compile(r"%([^\s,(){}=]+)")
_ESCAPE = re.compile(r"\\(.)")


def _split_operands(text: str) -> tuple[str, str]:
    """The text inside the opcode's parentheses (``text`` starts after its '('), and the rest."""
    depth, quoted, index = 0, False, 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "({[":
            depth += 1
        elif char in ")}]":
            if depth == 0:
                return text[:index], text[index + 1 :]
            depth -= 1
        index += 1
    return text, ""


def parse_module(text: str) -> HloModule:
    """The module printed by ``HloModule.to_string`` without result and operand shapes.

    Each instruction line (``%name = opcode(%a, %b), calls=%c, metadata={op_name="..."}``)
    gives its name, opcode, operands, the computations it names (``calls``,
    ``to_apply``, ``body``...) and its op name (XLA's C escapes undone).

    Raises:
        ProfileError: the text holds no computation.
    """
    name, entry = "", ""
    computations: list[HloComputation] = []
    current: str | None = None
    lines: list[tuple[str, str, str, str]] = []
    pending: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for line in text.splitlines():
        if not name and (header := _MODULE.match(line)):
            name = header.group(1)
            continue
        if current is None:
            if (opened := _COMPUTATION.match(line)) is not None:
                current, lines = opened.group(2), []
                if opened.group(1):
                    entry = current
            continue
        if line.strip() == "}":
            pending.append((current, lines))
            current = None
            continue
        if (found := _INSTRUCTION.match(line)) is not None:
            operands, rest = _split_operands(line[found.end() :])
            lines.append((found.group(1), found.group(2), operands, rest))
    known = {computation for computation, _ in pending}
    for computation, items in pending:
        instructions = []
        for instruction, opcode, operands, rest in items:
            op_name = _OP_NAME.search(rest)
            plain = _STRING.sub("", rest)
            instructions.append(
                HloInstruction(
                    name=instruction,
                    opcode=opcode,
                    op_name=_ESCAPE.sub(r"\1", op_name.group(1)) if op_name else "",
                    operands=tuple(_REFERENCE.findall(operands)),
                    called=tuple(c for c in _REFERENCE.findall(plain) if c in known),
                )
            )
        computations.append(HloComputation(computation, tuple(instructions)))
    if not computations:
        raise ProfileError(f"The HLO module {name or '?'!r} has no computation.")
    return HloModule(name, entry or computations[-1].name, tuple(computations))


def hlo_modules(xspace: bytes, print_module: Callable[[bytes], str]) -> dict[str, HloModule]:
    """The compiled modules of a JAX profile by ``<module>(<program id>)``.

    ``print_module`` turns an ``HloModuleProto``'s bytes into its HLO text
    (jaxlib's ``HloModule``, in ``backends.jax_layers``).
    """
    return {key: parse_module(print_module(data)) for key, data in hlo_protos(xspace).items()}
