"""tokens.forms: how the console's set-variable editor types the values it is given, hostile ones included."""

from __future__ import annotations

from typing import Any

import pytest

from tokens.editor import EditorError, split_policy_address
from tokens.forms import typed_value


@pytest.mark.parametrize(
    ("text", "value_type", "typed"),
    [
        ("42", "number", 42),
        ("1.5", "number", 1.5),
        ("1e3", "number", 1000),
        ("true", "boolean", True),
        ('{"a": [1]}', "object", {"a": [1]}),
        ("$(request.headers.x)", "number", "$(request.headers.x)"),
    ],
)
def test_values_are_typed_as_the_document_stores_them(text: str, value_type: str, typed: Any) -> None:
    assert typed_value(text, value_type) == typed


@pytest.mark.parametrize(
    ("text", "value_type"),
    [
        ("[" * 5000 + "]" * 5000, "object"),
        ('{"n": ' + "9" * 5000 + "}", "object"),
        ("1" * 5000, "number"),
        ("1e400", "number"),
        ("nan", "number"),
    ],
    ids=["5000-deep-object", "5000-digit-integer-in-object", "5000-digit-number", "infinite", "nan"],
)
def test_values_json_cannot_carry_stay_text_for_publishing_to_refuse(text: str, value_type: str) -> None:
    assert typed_value(text, value_type) == text


def test_a_large_whole_number_stays_a_float_rather_than_a_300_digit_integer() -> None:
    assert typed_value("1e20", "number") == 10**20
    assert isinstance(typed_value("1e20", "number"), int)
    assert typed_value("1e300", "number") == 1e300
    assert isinstance(typed_value("1e300", "number"), float)


@pytest.mark.parametrize("address", ["execute/0/operation-switch/case/0/execute/²", "execute/" + "9" * 5000])
def test_a_policy_address_with_odd_or_huge_digits_is_refused_by_name(address: str) -> None:
    with pytest.raises(EditorError, match="does not name a policy"):
        split_policy_address(address)


def test_a_plain_policy_address_is_split() -> None:
    assert split_policy_address("execute/0/operation-switch/case/1/execute/12") == (
        "execute/0/operation-switch/case/1/execute",
        12,
    )
