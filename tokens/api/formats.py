"""API documents in and out of the REST API as JSON or YAML (DESIGN.md section 4a).

Both parsers hand the body to ``tokens.documents.document_load``, the console's and ``import_api``'s strict
loader (no aliases, no duplicate keys, no implicit dates, UTF-8 only), after the same bounds as the REST
API's JSON parser: at most 1 MiB (413) and nested at most ``MAX_DOCUMENT_DEPTH`` deep (400). A syntax error
answers 400 naming its line and column. The YAML renderer writes a document the way the console's export
does (``document_dump``), so what was imported comes back out with its key order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from portal.api.parsers import MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth
from portal.api.problems import PayloadTooLarge
from tokens.documents import document_dump, document_load
from tokens.errors import DocumentError

YAML_MEDIA_TYPE = "application/yaml"
MAX_DOCUMENT_BYTES = MAX_JSON_BYTES
MAX_DOCUMENT_DEPTH = MAX_JSON_DEPTH


class DocumentParser(BaseParser):
    """An API document (an object) from a body; ``request.data`` is the document. Subclasses say how to
    read the text (``load``)."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        raw = stream.read(MAX_DOCUMENT_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(f"The document is larger than {MAX_DOCUMENT_BYTES} bytes (1 MiB).")
        try:
            document = self.load(raw)
        except DocumentError as e:
            raise exceptions.ParseError(str(e), code=e.code) from e
        except RecursionError as e:  # both loaders recurse once per level
            raise exceptions.ParseError(f"The document nests deeper than {MAX_DOCUMENT_DEPTH} levels.") from e
        if json_depth(document) > MAX_DOCUMENT_DEPTH:
            raise exceptions.ParseError(f"The document nests deeper than {MAX_DOCUMENT_DEPTH} levels.")
        return document

    def load(self, raw: bytes) -> dict[str, Any]:
        raise NotImplementedError


class JSONDocumentParser(DocumentParser):
    """JSON, read by the JSON grammar (YAML 1.1 would read ``1e3`` as text) but as strictly as the YAML
    loader: UTF-8, no duplicate keys, no NaN or Infinity, an object at the top."""

    media_type = "application/json"

    def load(self, raw: bytes) -> dict[str, Any]:
        try:
            value = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except UnicodeDecodeError as e:
            raise DocumentError("The document is not UTF-8 text.") from e
        except json.JSONDecodeError as e:
            raise DocumentError(f"The document is not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}.") from e
        if not isinstance(value, dict):
            raise DocumentError("The document must be an object (an OpenAPI object), not a list or a scalar.")
        return value


class YAMLDocumentParser(DocumentParser):
    """YAML through ``document_load``, the strict loader of the console and ``import_api``."""

    media_type = YAML_MEDIA_TYPE

    def load(self, raw: bytes) -> dict[str, Any]:
        return document_load(raw)


class TextYAMLDocumentParser(YAMLDocumentParser):
    """``text/yaml``, the type many tools send YAML as."""

    media_type = "text/yaml"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DocumentError(f"The document repeats the key {key!r} in one object.")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise DocumentError(f"The document holds {name}, which is not a JSON value.")


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
