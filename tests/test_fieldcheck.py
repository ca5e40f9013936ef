"""The field checks both stored-file readers share (``pytest_cnnperf.fieldcheck``). Pure tests."""

from __future__ import annotations

import json
import math

import pytest

from pytest_cnnperf.fieldcheck import MISSING, FieldChecker, loads


class Refused(Exception):
    pass


PLAIN = FieldChecker("f.json", Refused)
ADVISED = FieldChecker("the file f.json", Refused, advice="Fix it.", shown_chars=20)


def refusal(check: FieldChecker, name: str, value: object, **options: int) -> str:
    with pytest.raises(Refused) as info:
        getattr(check, name)("a.b", value, **options)
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "options", "expected"),
    [
        ("mapping", [1], {}, "a JSON object"),
        ("items", {}, {}, "a list"),
        ("text", 3, {}, "a string"),
        ("optional_text", 3, {}, "a string"),
        ("boolean", 1, {}, "true or false"),
        ("integer", True, {"minimum": 0}, "a whole number of at least 0"),
        ("integer", 0, {"minimum": 1}, "a whole number of at least 1"),
        ("optional_integer", 1.5, {"minimum": 0}, "a whole number of at least 0"),
        ("number", "1", {}, "a number"),
        ("optional_number", False, {}, "a number"),
        ("figure", "1", {}, "a number or null"),
    ],
)
def test_each_check_names_the_field_the_form_and_the_value(
    name: str, value: object, options: dict[str, int], expected: str
) -> None:
    assert refusal(PLAIN, name, value, **options) == (
        f"Expected a.b in f.json to be {expected}. Received: a.b={value!r}."
    )


def test_a_list_names_the_item_that_is_wrong() -> None:
    with pytest.raises(Refused) as info:
        PLAIN.figure_list("a.b", [1.0, None, "x"])
    assert (
        str(info.value) == "Expected a.b[2] in f.json to be a number or null. Received: a.b[2]='x'."
    )
    with pytest.raises(Refused) as info:
        PLAIN.texts("a.b", ["x", 2])
    assert str(info.value) == "Expected a.b[1] in f.json to be a string. Received: a.b[1]=2."


def test_advice_follows_and_long_values_are_cut() -> None:
    assert refusal(ADVISED, "text", list(range(30))) == (
        "Expected a.b in the file f.json to be a string. "
        "Received: a.b=[0, 1, 2, 3, 4, 5.... Fix it."
    )


def test_a_missing_key_says_so() -> None:
    where, value = PLAIN.get({"a": 1}, "top", "b")
    assert (where, value) == ("top.b", MISSING)
    assert refusal(PLAIN, "text", MISSING) == (
        "Expected a.b in f.json to be a string. Received: a.b=nothing (the key is missing)."
    )
    assert PLAIN.get({"a": 1}, "", "a") == ("a", 1)


def test_values_pass_through_as_read() -> None:
    assert PLAIN.number("x", 2) == 2 and isinstance(PLAIN.number("x", 2), int)
    assert math.isnan(PLAIN.figure("x", None))
    assert PLAIN.figure_list("x", [1, None])[0] == 1
    assert PLAIN.optional_integer("x", None, minimum=0) is None
    assert PLAIN.optional_text("x", None) is None


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
def test_loads_refuses_numbers_that_are_not_finite(number: str) -> None:
    with pytest.raises(ValueError) as info:
        loads(f'{{"x": {number}}}')
    assert str(info.value) == f"{number} is not a number JSON allows"


def test_loads_reads_json() -> None:
    assert loads('{"x": [1, 2.5, null]}') == {"x": [1, 2.5, None]}
    with pytest.raises(json.JSONDecodeError):
        loads("{")
