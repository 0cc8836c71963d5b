"""Request body parsers that bound what a client can make the server hold: size and nesting depth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser, MultiPartParser

from portal.api.problems import PayloadTooLarge
from portal.untrusted import UntrustedTextError, json_loads

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most ``MAX_JSON_BYTES`` (else 413), decoded by ``portal.untrusted.json_loads``: nested at
    most ``MAX_JSON_DEPTH`` deep (checked before decoding), integers of at most ``MAX_INTEGER_DIGITS`` digits, no
    NaN or Infinity (else 400 naming the problem)."""

    max_bytes = MAX_JSON_BYTES
    max_depth = MAX_JSON_DEPTH

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"The JSON body is larger than {self.max_bytes} bytes.")
        try:
            return json_loads(raw, max_nesting=self.max_depth)
        except UntrustedTextError as e:
            # The clause reads "it holds ...", "it is nested ...": said of the body.
            raise exceptions.ParseError(f"The JSON body {str(e).removeprefix('it ')}.") from e


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
