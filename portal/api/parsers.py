"""Request body parsers that bound what a client can make the server hold: size and nesting depth."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser, MultiPartParser

from portal.api.problems import PayloadTooLarge

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
# 2**256 has 78 digits; a longer integer is junk, its conversion costs the square of its length, and above
# 4300 digits Python refuses with a message about sys.set_int_max_str_digits() that means nothing to a client.
MAX_JSON_INTEGER_DIGITS = 100


class _IntegerTooLong(ValueError):
    """An integer in the body has more than ``MAX_JSON_INTEGER_DIGITS`` digits."""


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (a scalar is 0); iterative, so any depth is measured."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most ``MAX_JSON_BYTES`` (else 413) nested at most ``MAX_JSON_DEPTH`` deep (else 400)."""

    max_bytes = MAX_JSON_BYTES
    max_depth = MAX_JSON_DEPTH

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"The JSON body is larger than {self.max_bytes} bytes.")
        try:
            text = raw.decode("utf-8")
            value = json.loads(text, parse_int=_bounded_int, parse_constant=_refuse_constant)
        except UnicodeDecodeError as e:
            raise exceptions.ParseError("The JSON body is not UTF-8 text.") from e
        except RecursionError as e:
            raise exceptions.ParseError(f"The JSON body nests deeper than {self.max_depth} levels.") from e
        except _IntegerTooLong as e:
            raise exceptions.ParseError(
                f"The JSON body holds an integer longer than {MAX_JSON_INTEGER_DIGITS} digits."
            ) from e
        except ValueError as e:
            raise exceptions.ParseError(f"The body is not valid JSON: {e}.") from e
        # Nesting deeper than max_depth takes more than max_depth brackets: most bodies skip the walk.
        if raw.count(b"{") + raw.count(b"[") > self.max_depth and json_depth(value) > self.max_depth:
            raise exceptions.ParseError(f"The JSON body nests deeper than {self.max_depth} levels.")
        return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INTEGER_DIGITS:
        raise _IntegerTooLong(text[:20])
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


MAX_MULTIPART_BYTES = 5 * 1024 * 1024


class BoundedMultiPartParser(MultiPartParser):
    """Multipart uploads whose declared size is at most ``MAX_MULTIPART_BYTES`` (else 413, before reading).

    Enough for the key material uploads (up to four files of at most 1 MiB each, checked again one by one).
    """

    max_bytes = MAX_MULTIPART_BYTES

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise PayloadTooLarge(f"The upload is larger than {self.max_bytes // (1024 * 1024)} MiB.")
        return super().parse(stream, media_type, parser_context)
