"""portal.untrusted: JSON from outside decoded with its depth and numbers bounded, refusals named."""

from __future__ import annotations

import pytest

from portal.gateway_http import header_value
from portal.untrusted import (
    MAX_INTEGER_DIGITS,
    MAX_NESTING,
    UntrustedTextError,
    json_loads,
    nesting_exceeds,
    well_formed,
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_decodes_and_one_more_level_is_refused() -> None:
    assert json_loads(_nested(MAX_NESTING)) is not None

    with pytest.raises(UntrustedTextError, match=f"^it is nested more than {MAX_NESTING} levels deep$"):
        json_loads(_nested(MAX_NESTING + 1))


def test_five_thousand_levels_are_refused_before_decoding() -> None:
    assert json_loads('{"a": {"b": [1]}}') == {"a": {"b": [1]}}

    with pytest.raises(UntrustedTextError, match="nested more than"):
        json_loads('{"a": ' * 5000 + "1" + "}" * 5000)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '["' + "[" * 5000 + '\\"' + "{" * 5000 + '"]'
    assert not nesting_exceeds(text)
    assert json_loads(text) == ["[" * 5000 + '"' + "{" * 5000]
    assert nesting_exceeds("[" + text + "]", limit=1)


def test_an_integer_longer_than_the_limit_is_refused_before_conversion() -> None:
    assert json_loads("-" + "9" * MAX_INTEGER_DIGITS) == -int("9" * MAX_INTEGER_DIGITS)

    with pytest.raises(UntrustedTextError, match=f"an integer longer than {MAX_INTEGER_DIGITS} digits"):
        json_loads("9" * 5000)


@pytest.mark.parametrize(("text", "problem"), [
    ("NaN", "it holds NaN, which is not a JSON number"),
    ("-Infinity", "it holds -Infinity, which is not a JSON number"),
    ("1e400", "it holds a number too large to represent"),
    ("{", "it is not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    (b"\xff", "it is not UTF-8 text"),
])  # fmt: skip
def test_each_refusal_names_its_problem(text: str | bytes, problem: str) -> None:
    assert json_loads(b"1e300") == 1e300

    with pytest.raises(UntrustedTextError) as excinfo:
        json_loads(text)

    assert str(excinfo.value) == problem
    assert isinstance(excinfo.value, ValueError)


def test_an_unterminated_string_hides_the_brackets_after_it() -> None:
    assert nesting_exceeds('["x"' + "[" * (MAX_NESTING + 1))

    assert not nesting_exceeds('["x' + "[" * (MAX_NESTING + 1))


def test_escaped_quotes_do_not_restart_the_scan_inside_a_string() -> None:
    # A string of 100,000 escaped quotes, left open: a scan that restarted at each of its quotes would take
    # quadratic time (minutes) over one request body; this one reads it once.
    hostile = '"' + '\\"' * 100_000 + "[" * (MAX_NESTING + 1)
    assert not nesting_exceeds(hostile)

    assert nesting_exceeds('"' + '\\"' * 100_000 + '"' + "[" * (MAX_NESTING + 1))


def test_a_lone_surrogate_becomes_the_replacement_character_and_other_text_stays() -> None:
    assert well_formed("a\ud800b") == "a\ufffdb"
    assert well_formed("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"  # the twin: a real pair stays


def test_a_header_value_with_a_lone_surrogate_can_be_sent() -> None:
    assert header_value("x\udfffy").encode("utf-8") == "x\ufffdy".encode()
