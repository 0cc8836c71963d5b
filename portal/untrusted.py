"""Bounds on structured text from outside (request bodies, variables, JWKs, claims) before it is parsed.

Shared by the gateway's policies (``tokens``) and the REST API's JSON parser (``portal.api.parsers``).

Python's JSON decoder recurses once per nesting level and converts integers of any length up to the
interpreter's limit (4300 digits by default, above which it raises a bare ``ValueError``). A deeply nested
value that decodes near the recursion limit can still fail later, when it is written back out deeper in the
stack. So untrusted JSON is checked for depth before decoding, and numbers are bounded while decoding;
every refusal is a ``ValueError`` whose message names the problem, for the caller to wrap in its own error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

# Deeper than any real claim set, JWK or API document; far below the interpreter's recursion limit.
MAX_NESTING: Final = 64
# 2**256 has 78 digits; a longer integer is junk, and conversion cost grows with the square of its length.
MAX_INTEGER_DIGITS: Final = 100

# A string (to its end if unterminated, so that no match restarts inside one: that would be quadratic) or a
# bracket. The unrolled string loop never backtracks.
_STRING_OR_BRACKET: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class UntrustedTextError(ValueError):
    """Text is refused before or while parsing; ``str(error)`` is a clause such as
    ``"it is nested more than 64 levels deep"``."""


def nesting_exceeds(text: str, limit: int = MAX_NESTING) -> bool:
    """Whether the JSON text opens more than ``limit`` arrays or objects inside one another.

    Brackets inside strings do not count. Cheap when the text holds few brackets (two ``str.count`` calls);
    otherwise one linear pass over its strings and brackets. Unbalanced text may over-count, which only ever
    refuses text the decoder would refuse anyway.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        first = token.group()[0]
        if first == "[" or first == "{":
            depth += 1
            if depth > limit:
                return True
        elif first != '"':
            depth -= 1
    return False


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise UntrustedTextError(f"it holds an integer longer than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedTextError("it holds a number too large to represent")
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 section 6), though Python's decoder accepts them.
    raise UntrustedTextError(f"it holds {name}, which is not a JSON number")


_DECODER: Final = json.JSONDecoder(parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_refuse_constant)


def json_loads(data: str | bytes, *, max_nesting: int = MAX_NESTING) -> Any:
    """Decode JSON text with its nesting depth and number sizes bounded.

    Returns the value. Raises ``UntrustedTextError`` (a ``ValueError``) whose message is a clause naming
    the problem: not UTF-8, not JSON, nested more than ``max_nesting`` levels, an integer longer than
    ``MAX_INTEGER_DIGITS`` digits, a number out of float range, or NaN/Infinity.
    """
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise UntrustedTextError("it is not UTF-8 text") from e
    else:
        text = data
    if nesting_exceeds(text, max_nesting):
        raise UntrustedTextError(f"it is nested more than {max_nesting} levels deep")
    try:
        return _DECODER.decode(text)
    except UntrustedTextError:
        raise
    except RecursionError as e:  # only if the caller is already deep in the stack
        raise UntrustedTextError(f"it is nested more than {max_nesting} levels deep") from e
    except json.JSONDecodeError as e:
        raise UntrustedTextError(f"it is not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate (a ``\\ud800`` escape in a caller's JSON, valid JSON but no character)
    replaced by U+FFFD, as WHATWG's encoders do, so it can be written as UTF-8. Costs one check when there is
    none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
