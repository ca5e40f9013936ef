"""Checking decoded JSON field by field, for the readers of stored files.

The baseline store (``baselines.store``) and the results reader
(``jsonreport.load_results``) both turn a decoded document into typed
objects and refuse anything else with one message of the form
``Expected <field> in <file> to be <form>. Received: <field>=<value>.``.
``FieldChecker`` holds the checks and that message once; each reader says
how its file is named, how a value is shown, what advice follows, and which
exception it raises. ``loads`` decodes JSON as both files are written: no
NaN, no infinity, and no number too large for a float.

Standard library only: ``baselines`` imports it, and stays free of pytest
and TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

#: Stands for the value of a key that is missing (see ``FieldChecker.get``).
MISSING: Any = object()


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    # "1e400" is valid JSON but reads as infinity, which is never written (allow_nan=False).
    value = float(text)
    if not math.isfinite(value):
        _reject_constant(text)
    return value


def loads(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers beyond a float's range.

    Raises:
        json.JSONDecodeError: not JSON.
        ValueError: ``<number> is not a number JSON allows``.
        RecursionError: nested too deep for the decoder.
    """
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


class FieldChecker:
    """Checks of decoded values; each failure raises ``error`` with the field and the value.

    Args:
        source: how the file is named in messages, e.g. ``the results file out.json``.
        error: the exception raised, called with the message.
        advice: a sentence added after ``Received: ...``, or empty.
        shown_chars: longer shown values are cut to this many characters
            (``...`` included); None shows them whole.
    """

    def __init__(
        self,
        source: str,
        error: Callable[[str], Exception],
        *,
        advice: str = "",
        shown_chars: int | None = None,
    ) -> None:
        self.source = source
        self.error = error
        self.advice = advice
        self.shown_chars = shown_chars

    def shown(self, value: object) -> str:
        """``value`` as a message shows it; a missing key says so."""
        text = "nothing (the key is missing)" if value is MISSING else repr(value)
        limit = self.shown_chars
        if limit is None or len(text) <= limit:
            return text
        return text[: limit - 3] + "..."

    def fail(self, where: str, expected: str, value: object) -> NoReturn:
        message = (
            f"Expected {where} in {self.source} to be {expected}. "
            f"Received: {where}={self.shown(value)}."
        )
        raise self.error(f"{message} {self.advice}" if self.advice else message)

    def get(self, block: Mapping[str, Any], where: str, key: str) -> tuple[str, object]:
        """The place and value of ``block[key]``; a missing key reads as ``MISSING``."""
        return f"{where}.{key}" if where else key, block.get(key, MISSING)

    # -- values ------------------------------------------------------------------

    def mapping(self, where: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "a JSON object", value)
        return value

    def items(self, where: str, value: object) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, "a list", value)
        return value

    def text(self, where: str, value: object) -> str:
        if not isinstance(value, str):
            self.fail(where, "a string", value)
        return value

    def optional_text(self, where: str, value: object) -> str | None:
        return None if value is None else self.text(where, value)

    def texts(self, where: str, value: object) -> list[str]:
        return [self.text(f"{where}[{i}]", item) for i, item in enumerate(self.items(where, value))]

    def boolean(self, where: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(where, "true or false", value)
        return value

    def integer(self, where: str, value: object, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"a whole number of at least {minimum}", value)
        return value

    def optional_integer(self, where: str, value: object, *, minimum: int) -> int | None:
        return None if value is None else self.integer(where, value, minimum=minimum)

    def number(self, where: str, value: object) -> float:
        """A JSON number, as it was read (an integer stays one)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, "a number", value)
        return value

    def optional_number(self, where: str, value: object) -> float | None:
        return None if value is None else self.number(where, value)

    def figure(self, where: str, value: object) -> float:
        """A measured number; null stands for one that was not finite (written as null)."""
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, "a number or null", value)
        return value

    def figure_list(self, where: str, value: object) -> tuple[float, ...]:
        """A list of measured numbers (see ``figure``)."""
        return tuple(
            self.figure(f"{where}[{i}]", item) for i, item in enumerate(self.items(where, value))
        )
