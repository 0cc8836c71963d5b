"""Reading, checking and writing API documents: OpenAPI 2.0 or 3.0 with APIC's ``x-ibm-configuration``.

Documents are read from YAML or JSON with a strict loader (no aliases, no duplicate keys, no implicit
dates) and checked structurally; problems raise ``DocumentError`` naming where in the document they are.
The policies inside the assembly are checked when the API is published (``tokens.assembly``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from portal.untrusted import MAX_INTEGER_DIGITS, MAX_NESTING
from tokens.errors import DocumentError

MAX_DOCUMENT_BYTES = 1024 * 1024
VERBS = ("get", "put", "post", "delete", "options", "head", "patch")
CLIENT_ID_HEADER = "X-IBM-Client-Id"
CLIENT_SECRET_HEADER = "X-IBM-Client-Secret"  # noqa: S105 - a header name, not a secret
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)\Z")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?\Z")
# "/" alone is a base path too (API Connect allows it): the API answers every path no longer base path claims.
_BASE_PATH = re.compile(r"^/(?:[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*)?\Z")
_PATH = re.compile(r"^/[A-Za-z0-9._~{}/-]*\Z")


class _LimitError(yaml.MarkedYAMLError):
    """Well-formed YAML beyond what the portal reads (too deep, a number too large)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases (no "billion laughs"), duplicate keys, or implicit timestamps, with its
    nesting depth and the size of its numbers bounded."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """One node; refused before composing it if it is an alias or a collection nested too deeply.

        PyYAML's scanner and parser are iterative, but its composer recurses once per level, so the depth
        is counted here: 50,000 nested brackets end at level MAX_NESTING, not in a RecursionError.
        """
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError("while reading the document", None, "aliases are not allowed", event.start_mark)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        # Collections count, as brackets do in JSON; a scalar is not a level.
        if self._depth >= MAX_NESTING:
            raise _LimitError(
                "while reading the document",
                None,
                f"it is nested more than {MAX_NESTING} levels deep",
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> int:
        """An integer of at most MAX_INTEGER_DIGITS characters; longer ones are refused before conversion,
        whose cost grows with the square of the length (and fails past 4300 digits)."""
        digits = str(node.value).lstrip("+-").replace("_", "")
        if len(digits) > MAX_INTEGER_DIGITS:
            raise _LimitError(
                "while reading a number",
                None,
                f"the integer has {len(digits)} digits; the limit is {MAX_INTEGER_DIGITS}",
                node.start_mark,
            )
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError as e:  # '0b_' matches YAML 1.1's int pattern but holds no digit
            raise _LimitError("while reading a number", None, f"{node.value!r} is not a number", node.start_mark) from e
        return value

    def construct_yaml_float(self, node: Any) -> float:
        """A finite float: JSON, the stored form, has no NaN or Infinity (RFC 8259 section 6)."""
        try:
            value: float = super().construct_yaml_float(node)
        except ValueError as e:  # an explicit !!float tag on text
            raise _LimitError("while reading a number", None, f"{node.value!r} is not a number", node.start_mark) from e
        if not math.isfinite(value):
            raise _LimitError("while reading a number", None, f"{node.value!r} is not a finite number", node.start_mark)
        return value

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A mapping whose keys are strings. Unquoted numeric keys (``200:`` for a response code) become their
        text, as JSON and OpenAPI want; other non-string keys are refused; duplicates are refused."""
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, bool) or not isinstance(key, str | int | float):
                raise yaml.MarkedYAMLError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} is not text (quote it)",
                    key_node.start_mark,
                )
            text = key if isinstance(key, str) else key_node.value
            if text in mapping:
                raise yaml.MarkedYAMLError(
                    "while reading a mapping", node.start_mark, f"duplicate key {text!r}", key_node.start_mark
                )
            mapping[text] = self.construct_object(value_node, deep=deep)
        return mapping


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# YAML reads U+0085, U+2028 and U+2029 as line breaks, and folds them in a quoted scalar (JSON text is read by
# the YAML loader too). Written, they are escaped, so an export imports back unchanged (a script may hold one).
_YAML_BREAKS = ("\x85", "\u2028", "\u2029")
_JSON_ESCAPED_BREAKS = str.maketrans({char: f"\\u{ord(char):04x}" for char in _YAML_BREAKS})


def document_load(data: bytes | str) -> dict[str, Any]:
    """Parse YAML or JSON text into a document.

    Raises DocumentError naming the problem (and its line, for a syntax error): over 1 MiB, not UTF-8, not
    YAML or JSON, nested more than MAX_NESTING levels, an integer longer than MAX_INTEGER_DIGITS digits,
    NaN or an infinite number, or a value JSON cannot represent.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"The document is {len(raw)} bytes; the limit is {MAX_DOCUMENT_BYTES} (1 MiB).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError("The document is not UTF-8 text.") from e
    if not text.strip():
        raise DocumentError("The document is empty.")
    if text.lstrip().startswith("{") and any(char in text for char in _YAML_BREAKS):
        # JSON text (JSON.stringify writes these raw): in JSON they stand only inside strings, where YAML would
        # fold them as line breaks; their escapes keep them.
        text = text.translate(_JSON_ESCAPED_BREAKS)
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        if isinstance(e, _LimitError):
            raise DocumentError(f"The document is refused{where}: {e.problem}.") from e
        raise DocumentError(f"The document is not valid YAML or JSON{where}: {e.problem}.") from e
    except yaml.YAMLError as e:
        raise DocumentError(f"The document is not valid YAML or JSON: {e}.") from e
    except (ValueError, RecursionError) as e:  # a constructor's conversion; the bounds above should prevent it
        raise DocumentError(f"The document holds a value that cannot be read: {e}.") from e
    if not isinstance(value, dict):
        raise DocumentError("The document must be a mapping (an OpenAPI object), not a list or a scalar.")
    try:
        _check_storable(value)
    except UnicodeEncodeError:
        # YAML reads "\ud83d\ude00", JSON's escape of one emoji, as two surrogates: join such pairs.
        value = _joined_surrogate_pairs(value)
        _check_storable(value)
    return value


def _check_storable(value: dict[str, Any]) -> None:
    """Raise DocumentError unless ``value`` is JSON the database can store as UTF-8.

    Lets UnicodeEncodeError through when some text holds a surrogate, for the caller to repair or refuse.
    """
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise
    except (TypeError, ValueError) as e:
        raise DocumentError(f"The document holds a value JSON cannot represent: {e}.") from e


def _joined_surrogate_pairs(value: Any) -> Any:
    """``value`` with each surrogate pair in its text joined into one character (a value already checked
    for depth, so the recursion is bounded). Raises DocumentError for a lone surrogate."""
    if isinstance(value, str):
        try:
            return value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError as e:
            raise DocumentError(
                "The document holds text that is not valid Unicode (a lone surrogate such as \\ud800)."
            ) from e
    if isinstance(value, dict):
        joined = {_joined_surrogate_pairs(key): _joined_surrogate_pairs(item) for key, item in value.items()}
        if len(joined) != len(value):
            raise DocumentError("The document holds a mapping with a key written twice, once escaped.")
        return joined
    if isinstance(value, list):
        return [_joined_surrogate_pairs(item) for item in value]
    return value


class _Dumper(yaml.SafeDumper):
    """The safe dumper, writing a string that holds a YAML line break double-quoted (where it is escaped)."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = '"' if any(char in text for char in _YAML_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def document_dump(document: dict[str, Any], *, fmt: str) -> str:
    """Write a document as YAML or JSON, keeping its key order; ``document_load`` reads it back unchanged."""
    if fmt == "json":
        # The three breaks can only stand inside JSON strings, where their escapes mean the same.
        return json.dumps(document, indent=2, ensure_ascii=False).translate(_JSON_ESCAPED_BREAKS) + "\n"
    if fmt == "yaml":
        dumped: str = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return dumped
    raise ValueError(f"unknown format {fmt!r}")


def document_to_text(document: dict[str, Any]) -> str:
    """The stored form: JSON text, which keeps key order on every database."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Operation:
    verb: str  # upper case
    path: str
    operation_id: str | None


@dataclass(frozen=True)
class ApiDescription:
    """What the portal reads from a document: identity, routing, security and the assembly."""

    title: str
    name: str
    version: str
    base_path: str
    openapi_version: str
    operations: tuple[Operation, ...]
    client_id_required: bool
    client_secret_required: bool
    assembly: dict[str, Any]


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise DocumentError(f"{where} is missing '{key}'.")
    return mapping[key]


def _require_str(mapping: Any, key: str, where: str) -> str:
    value = _require(mapping, key, where)
    if not isinstance(value, str) or not value.strip():
        raise DocumentError(f"{where}.{key} must be a non-empty string, not {value!r}.")
    return value


def document_describe(document: dict[str, Any]) -> ApiDescription:
    """Check a document's structure and describe it. Raises DocumentError naming the place at fault."""
    if "swagger" in document:
        openapi_version = str(document["swagger"])
        if openapi_version != "2.0":
            raise DocumentError(f"swagger must be '2.0', not {document['swagger']!r}.")
    elif "openapi" in document:
        openapi_version = str(document["openapi"])
        if not re.match(r"^3\.0\.\d+\Z", openapi_version):
            raise DocumentError(f"openapi must be a 3.0.x version, not {document['openapi']!r}.")
    else:
        raise DocumentError("The document is neither OpenAPI 2.0 ('swagger: \"2.0\"') nor 3.0 ('openapi: 3.0.x').")

    info = _require(document, "info", "The document")
    title = _require_str(info, "title", "info")
    version = _require_str(info, "version", "info")
    if not _SEMVER.match(version):
        raise DocumentError(f"info.version must read MAJOR.MINOR.PATCH, e.g. 1.0.0, not {version!r}.")
    name = _require_str(info, "x-ibm-name", "info")
    if not _NAME.match(name):
        raise DocumentError(
            f"info.x-ibm-name {name!r} must be 1 to 50 lower-case letters, digits and hyphens (e.g. my-api)."
        )

    base_path = _base_path(document, openapi_version)
    operations = _operations(document)
    client_id, client_secret = _security(document, openapi_version)

    configuration = _require(document, "x-ibm-configuration", "The document")
    if not isinstance(configuration, dict):
        raise DocumentError("x-ibm-configuration must be a mapping.")
    assembly = _require(configuration, "assembly", "x-ibm-configuration")
    if not isinstance(assembly, dict) or not isinstance(assembly.get("execute"), list):
        raise DocumentError("x-ibm-configuration.assembly must be a mapping with an 'execute' list of policies.")
    return ApiDescription(
        title=title,
        name=name,
        version=version,
        base_path=base_path,
        openapi_version=openapi_version,
        operations=operations,
        client_id_required=client_id,
        client_secret_required=client_secret,
        assembly=assembly,
    )


def _base_path(document: dict[str, Any], openapi_version: str) -> str:
    if openapi_version == "2.0":
        base_path = _require_str(document, "basePath", "The document")
    else:
        servers = document.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            raise DocumentError("servers must list at least one server whose url is the base path (e.g. /securetoken).")
        base_path = _require_str(servers[0], "url", "servers[0]")
    if not _BASE_PATH.match(base_path):
        raise DocumentError(f"The base path {base_path!r} must be '/' or start with '/' and hold plain path segments.")
    return base_path


def _operations(document: dict[str, Any]) -> tuple[Operation, ...]:
    paths = _require(document, "paths", "The document")
    if not isinstance(paths, dict):
        raise DocumentError("paths must be a mapping of path to operations.")
    operations: list[Operation] = []
    for path, item in paths.items():
        if not isinstance(path, str) or not _PATH.match(path):
            raise DocumentError(f"paths: {path!r} must start with '/' and hold plain path segments.")
        if not isinstance(item, dict):
            raise DocumentError(f"paths.{path} must be a mapping of verbs to operations.")
        for verb, operation in item.items():
            if verb in VERBS:
                if not isinstance(operation, dict):
                    raise DocumentError(f"paths.{path}.{verb} must be an operation object.")
                operation_id = operation.get("operationId")
                operations.append(
                    Operation(verb.upper(), path, operation_id if isinstance(operation_id, str) else None)
                )
            elif verb != "parameters" and not str(verb).startswith("x-"):
                raise DocumentError(f"paths.{path}: '{verb}' is not an HTTP verb (use one of {', '.join(VERBS)}).")
    if not operations:
        raise DocumentError("The document defines no operation under paths.")
    return tuple(operations)


def _security(document: dict[str, Any], openapi_version: str) -> tuple[bool, bool]:
    """Whether the API asks for the client id and the client secret (APIC's apiKey schemes)."""
    if openapi_version == "2.0":
        schemes = document.get("securityDefinitions") or {}
        where = "securityDefinitions"
    else:
        schemes = (document.get("components") or {}).get("securitySchemes") or {}
        where = "components.securitySchemes"
    if not isinstance(schemes, dict):
        raise DocumentError(f"{where} must be a mapping.")
    requirements = document.get("security") or []
    if not isinstance(requirements, list):
        raise DocumentError("security must be a list of requirements.")
    client_id = client_secret = False
    for requirement in requirements:
        if not isinstance(requirement, dict):
            raise DocumentError("Each security requirement must be a mapping of scheme names.")
        for scheme_name in requirement:
            scheme = schemes.get(scheme_name)
            if not isinstance(scheme, dict):
                raise DocumentError(f"security names '{scheme_name}', which {where} does not define.")
            if scheme.get("type") != "apiKey":
                raise DocumentError(
                    f"{where}.{scheme_name}: only apiKey client id and secret schemes are supported, "
                    f"not {scheme.get('type')!r}."
                )
            header = str(scheme.get("name", "")).lower()
            if header == CLIENT_ID_HEADER.lower() or header == "client_id":
                client_id = True
            elif header == CLIENT_SECRET_HEADER.lower() or header == "client_secret":
                client_secret = True
            else:
                raise DocumentError(
                    f"{where}.{scheme_name}: the apiKey must be {CLIENT_ID_HEADER} or {CLIENT_SECRET_HEADER}, "
                    f"not {scheme.get('name')!r}."
                )
    if client_secret and not client_id:
        raise DocumentError("security asks for a client secret without a client id.")
    return client_id, client_secret
