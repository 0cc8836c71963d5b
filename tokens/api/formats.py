"""API documents in and out of the REST API as JSON or YAML (DESIGN.md section 4a).

Every parser hands the body to ``tokens.documents.document_load``, the strict loader of the console and
``import_api`` (no aliases, no duplicate keys, no implicit dates, UTF-8 only, nesting and number sizes
bounded), after the REST API's size bound: at most 1 MiB (413). A syntax error answers 400 naming its line
and column. The YAML renderer writes a document the way the console's export
does (``document_dump``), so what was imported comes back out with its key order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from portal.api.parsers import MAX_JSON_BYTES
from portal.api.problems import PayloadTooLarge
from tokens.documents import document_dump, document_load
from tokens.errors import DocumentError

YAML_MEDIA_TYPE = "application/yaml"
MAX_DOCUMENT_BYTES = MAX_JSON_BYTES


class DocumentParser(BaseParser):
    """An API document (an object) from a JSON or YAML body; ``request.data`` is the document."""

    media_type = "application/json"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        raw = stream.read(MAX_DOCUMENT_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(f"The document is larger than {MAX_DOCUMENT_BYTES} bytes (1 MiB).")
        try:
            return document_load(raw)
        except DocumentError as e:
            raise exceptions.ParseError(str(e), code=e.code) from e


class JSONDocumentParser(DocumentParser):
    """JSON, read like every other document: YAML 1.2's JSON is YAML, and one strict loader for both keeps
    duplicate keys, NaN and deep nesting refused the same way whatever the body's type."""

    media_type = "application/json"


class YAMLDocumentParser(DocumentParser):
    media_type = YAML_MEDIA_TYPE


class TextYAMLDocumentParser(DocumentParser):
    """``text/yaml``, the type many tools send YAML as."""

    media_type = "text/yaml"


DOCUMENT_PARSERS = [JSONDocumentParser, YAMLDocumentParser, TextYAMLDocumentParser]


class YAMLDocumentRenderer(BaseRenderer):
    """An API document as YAML (``Accept: application/yaml`` or ``?format=yaml``), lossless and in key order."""

    media_type = YAML_MEDIA_TYPE
    format = "yaml"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        return document_dump(data, fmt="yaml").encode("utf-8")
