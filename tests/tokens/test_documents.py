"""tokens.documents: the strict loader, the structural checks, and lossless YAML/JSON round trips."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from portal.gateway_http import is_header_name
from portal.models import Catalog, Organization
from portal.services import Actor, organization_create
from portal.untrusted import MAX_INTEGER_DIGITS, MAX_NESTING
from tests.tokens.helpers import api_document, demo_document, oct_jwk
from tokens.demo import API_DOCUMENT
from tokens.documents import MAX_DOCUMENT_BYTES, document_describe, document_dump, document_load
from tokens.errors import DocumentError, PolicyConfigError
from tokens.models import Api, Publication
from tokens.services import api_import, api_publish, sandbox_test_app

# -- loading ------------------------------------------------------------------------------------------------


def test_yaml_and_json_texts_of_one_document_load_to_the_same_mapping() -> None:
    yaml_text = "swagger: '2.0'\ninfo:\n  title: T\n  version: 1.0.0\nlist:\n  - 1\n  - two\n"
    json_text = '{"swagger": "2.0", "info": {"title": "T", "version": "1.0.0"}, "list": [1, "two"]}'

    from_yaml = document_load(yaml_text)

    assert from_yaml == {"swagger": "2.0", "info": {"title": "T", "version": "1.0.0"}, "list": [1, "two"]}
    assert document_load(json_text.encode()) == from_yaml


def test_a_byte_order_mark_is_allowed() -> None:
    assert document_load("\ufeffa: 1\n".encode()) == {"a": 1}


def test_aliases_are_refused_naming_the_line() -> None:
    without_alias = "a: &anchor 1\nb: 2\n"
    with_alias = "a: &anchor 1\nb: *anchor\n"

    assert document_load(without_alias) == {"a": 1, "b": 2}
    with pytest.raises(DocumentError, match=r"line 2.*aliases are not allowed"):
        document_load(with_alias)


def test_merge_keys_through_aliases_are_refused() -> None:
    plain = "base: {x: 1}\nderived:\n  x: 1\n"
    merged = "base: &b {x: 1}\nderived:\n  <<: *b\n"

    assert document_load(plain)["derived"] == {"x": 1}
    with pytest.raises(DocumentError, match="aliases are not allowed"):
        document_load(merged)


@pytest.mark.parametrize(
    ("unique", "duplicated", "line"),
    [
        ("a: 1\nb: 2\n", "a: 1\na: 2\n", 2),
        ("top:\n  x: 1\n  y: 2\n", "top:\n  x: 1\n  x: 2\n", 3),
        ('{"a": 1, "b": 2}', '{"a": 1, "a": 2}', 1),
    ],
    ids=["yaml", "nested-yaml", "json"],
)
def test_duplicate_keys_are_refused_naming_the_key_and_line(unique: str, duplicated: str, line: int) -> None:
    document_load(unique)
    with pytest.raises(DocumentError, match=rf"line {line}.*duplicate key '(a|x)'"):
        document_load(duplicated)


def test_keys_that_collide_once_written_as_json_are_refused() -> None:
    assert document_load("responses:\n  '200': a\n  '201': b\n") == {"responses": {"200": "a", "201": "b"}}
    with pytest.raises(DocumentError, match="duplicate key"):
        document_load("responses:\n  200: a\n  '200': b\n")


@pytest.mark.parametrize(
    ("quoted", "bare", "key"),
    [("'yes': a\n", "yes: a\n", "True"), ("'null': a\n", "null: a\n", "None"), ("'[1]': a\n", "[1]: a\n", r"\[.*\]")],
)
def test_keys_that_are_not_text_are_refused(quoted: str, bare: str, key: str) -> None:
    assert list(document_load(quoted)) == [quoted.split("'")[1]]
    with pytest.raises(DocumentError, match=rf"line 1, column 1: the key {key} is not text \(quote it\)"):
        document_load(bare)


def test_numeric_keys_keep_the_text_they_were_written_as() -> None:
    assert document_load("200: a\n1.50: b\n0x1F: c\n") == {"200": "a", "1.50": "b", "0x1F": "c"}


def test_unquoted_response_codes_survive_import_and_export(organization: Organization, actor: Actor) -> None:
    document = api_document()
    document["paths"]["/go"]["get"]["responses"] = {"200": {"description": "ok"}}
    text = document_dump(document, fmt="yaml").replace("'200':", "200:")
    assert "\n        200:" in text
    api, _ = api_import(organization=organization, data=text, actor=actor)

    exported = document_dump(api.document, fmt="yaml")

    assert document_load(exported) == document_load(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("released: 2024-01-01\n", "2024-01-01"),
        ("at: 2001-12-14t21:59:43.10-05:00\n", "2001-12-14t21:59:43.10-05:00"),
        ("at: 2001-12-14 21:59:43.10 -5\n", "2001-12-14 21:59:43.10 -5"),
    ],
)
def test_dates_stay_strings(text: str, expected: str) -> None:
    value = next(iter(document_load(text).values()))
    assert value == expected
    assert isinstance(value, str)


def test_numbers_and_booleans_keep_their_types() -> None:
    # The twin of the dates test: only timestamps lost their implicit type.
    assert document_load("n: 12\nf: 1.5\nb: true\nz: null\n") == {"n": 12, "f": 1.5, "b": True, "z": None}


def test_an_explicit_timestamp_tag_is_refused_as_not_json() -> None:
    assert document_load("at: !!str 2024-01-01\n") == {"at": "2024-01-01"}
    with pytest.raises(DocumentError, match="JSON cannot represent"):
        document_load("at: !!timestamp 2024-01-01\n")


def test_a_document_over_one_mebibyte_is_refused() -> None:
    head = b"a: 1\n#"
    at_limit = head + b"x" * (MAX_DOCUMENT_BYTES - len(head))
    over_limit = at_limit + b"x"

    assert len(at_limit) == MAX_DOCUMENT_BYTES
    assert document_load(at_limit) == {"a": 1}
    with pytest.raises(DocumentError, match=r"1048577 bytes; the limit is 1048576 \(1 MiB\)"):
        document_load(over_limit)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n", '["a"]'])
def test_a_document_must_be_a_mapping(text: str) -> None:
    with pytest.raises(DocumentError, match="must be a mapping"):
        document_load(text)


def test_a_mapping_is_a_document() -> None:
    assert document_load("a: [1, 2]\n") == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("text", "fixed", "line"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", "a: 1\nb: [1, 2]\nc: 3\n", 3),
        ("a: 1\nb: c: d\n", "a: 1\nb: 'c: d'\n", 2),
        ('{"a": 1,\n "b": ]}', '{"a": 1,\n "b": []}', 2),
    ],
)
def test_a_syntax_error_names_the_line(text: str, fixed: str, line: int) -> None:
    assert document_load(fixed)["a"] == 1
    with pytest.raises(DocumentError, match=rf"not valid YAML or JSON at line {line}, column \d+"):
        document_load(text)


# -- bad input: bounded before it can cost anything (issue 9, finding 5) --------------------------------------


def _nested(depth: int) -> str:
    """A one-key document whose value is ``depth - 1`` flow sequences inside one another."""
    return "a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"


def test_fifty_thousand_nested_brackets_are_refused_naming_the_depth() -> None:
    innermost: Any = document_load(_nested(MAX_NESTING))["a"]
    for _ in range(MAX_NESTING - 2):
        innermost = innermost[0]
    assert innermost == []

    with pytest.raises(DocumentError) as excinfo:
        document_load(_nested(50_000))

    assert str(excinfo.value) == (
        f"The document is refused at line 1, column {3 + MAX_NESTING}: "
        f"it is nested more than {MAX_NESTING} levels deep."
    )


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "], ids=["flow-sequence", "flow-mapping", "block-sequence"])
def test_each_kind_of_nesting_counts_towards_the_depth(opener: str) -> None:
    def nested(depth: int) -> str:
        if opener == "- ":
            return "a:\n" + "".join("  " * level + "-\n" for level in range(1, depth)) + "  " * depth + "- x\n"
        closer = "]" if opener == "[" else "}"
        return "a: " + opener * depth + ("" if opener == "[" else "x") + closer * depth + "\n"

    document_load(nested(MAX_NESTING - 1))

    with pytest.raises(DocumentError, match=f"nested more than {MAX_NESTING} levels deep"):
        document_load(nested(MAX_NESTING + 1))


@pytest.mark.parametrize("number", ["1" * 5000, "-" + "1" * 5000, "0x" + "f" * 5000, "1" + ":59" * 3000])
def test_an_integer_of_thousands_of_digits_is_refused_naming_the_limit(number: str) -> None:
    with pytest.raises(DocumentError) as excinfo:
        document_load(f"a: {number}\n")

    assert str(excinfo.value).startswith("The document is refused at line 1, column 4: the integer has ")
    assert str(excinfo.value).endswith(f" digits; the limit is {MAX_INTEGER_DIGITS}.")


def test_an_integer_of_thousands_of_digits_in_json_is_refused_too() -> None:
    assert document_load('{"a": ' + "9" * MAX_INTEGER_DIGITS + "}") == {"a": int("9" * MAX_INTEGER_DIGITS)}

    with pytest.raises(DocumentError, match=f"the integer has 5000 digits; the limit is {MAX_INTEGER_DIGITS}"):
        document_load('{"a": ' + "9" * 5000 + "}")


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", "1.0e+400"])
def test_numbers_json_cannot_carry_are_refused(number: str) -> None:
    assert document_load("a: 1.0e+300\n") == {"a": 1e300}

    with pytest.raises(DocumentError) as excinfo:
        document_load(f"a: {number}\n")

    assert str(excinfo.value) == f"The document is refused at line 1, column 4: '{number}' is not a finite number."


@pytest.mark.parametrize("text", ["0b_", "0x_", "!!int 'x'", "!!float 'x'"])
def test_yaml_numbers_without_digits_are_refused_naming_the_line(text: str) -> None:
    assert document_load("a: 0b1_0\nb: 0x_f\n") == {"a": 2, "b": 15}

    with pytest.raises(DocumentError, match=r"^The document is refused at line 2, column 4: '.*' is not a number\.$"):
        document_load(f"ok: 1\na: {text}\n")


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused_before_anything_is_stored(organization: Organization, actor: Actor) -> None:
    document = api_document()
    document["info"]["description"] = "\u00e9t\u00e9 \U0001f600"
    api, created = api_import(organization=organization, data=json.dumps(document), actor=actor)
    assert created
    # json.dumps escapes the emoji as a surrogate pair, which YAML alone would read as two lone surrogates.
    assert api.document["info"]["description"] == "\u00e9t\u00e9 \U0001f600"
    document["info"]["x-ibm-name"] = "surrogate"
    document["info"]["description"] = "\ud800"

    with pytest.raises(DocumentError) as excinfo:
        api_import(organization=organization, data=json.dumps(document), actor=actor)

    assert str(excinfo.value) == "The document holds text that is not valid Unicode (a lone surrogate such as \\ud800)."
    assert not Api.objects.filter(name="surrogate").exists()


@pytest.mark.parametrize(("data", "message"), [(b"", "empty"), (b"  \n", "empty"), (b"a: \xff\xfe\n", "not UTF-8")])
def test_empty_and_non_utf8_documents_are_refused(data: bytes, message: str) -> None:
    assert document_load("a: \u00e9t\u00e9\n".encode()) == {"a": "\u00e9t\u00e9"}
    with pytest.raises(DocumentError, match=message):
        document_load(data)


# -- describing ---------------------------------------------------------------------------------------------


def test_the_demo_document_describes_as_openapi_2() -> None:
    description = document_describe(demo_document())

    assert (description.title, description.name, description.version) == (
        "JWT Generation and Validation",
        "jwt-generation-and-validation",
        "1.0.0",
    )
    assert description.openapi_version == "2.0"
    assert description.base_path == "/securetoken"
    assert [(op.verb, op.path) for op in description.operations] == [("GET", "/generate"), ("GET", "/validate")]
    assert description.client_id_required is True
    assert description.client_secret_required is False
    assert "execute" in description.assembly


def openapi3_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Three", "x-ibm-name": "three", "version": "2.1.0"},
        "servers": [{"url": "/three/v2"}, {"url": "/ignored"}],
        "components": {
            "securitySchemes": {
                "id": {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Id"},
                "secret": {"type": "apiKey", "in": "query", "name": "client_secret"},
            }
        },
        "security": [{"id": [], "secret": []}],
        "paths": {"/items/{id}": {"post": {"operationId": "makeItem"}, "parameters": [], "x-note": 1}},
        "x-ibm-configuration": {"assembly": {"execute": []}},
    }


def test_an_openapi_3_document_takes_its_base_path_from_the_first_server() -> None:
    description = document_describe(openapi3_document())

    assert description.openapi_version == "3.0.3"
    assert description.base_path == "/three/v2"
    assert [(op.verb, op.path, op.operation_id) for op in description.operations] == [
        ("POST", "/items/{id}", "makeItem")
    ]
    assert (description.client_id_required, description.client_secret_required) == (True, True)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets (or, with value DELETE, removes) a dotted path of a document."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("|")
        target = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


DELETE = object()
SCHEMES = "securityDefinitions"


# (what, base document, bad mutation, good mutation, message naming the place)
DESCRIBE_CASES: list[tuple[str, str, Callable[..., None], Callable[..., None], str]] = [
    ("swagger-version", "2", _set("swagger", "1.2"), _set("swagger", "2.0"), "swagger must be '2.0'"),
    ("openapi-version", "3", _set("openapi", "3.1.0"), _set("openapi", "3.0.0"), "openapi must be a 3.0.x"),
    ("no-x-ibm-name", "2", _set("info|x-ibm-name", DELETE), _set("info|x-ibm-name", "ok"), "info is missing"),
    ("bad-x-ibm-name", "2", _set("info|x-ibm-name", "My API"), _set("info|x-ibm-name", "my-api"), "x-ibm-name"),
    ("bad-version", "2", _set("info|version", "1.0"), _set("info|version", "1.0.10"), "info.version"),
    ("no-title", "2", _set("info|title", ""), _set("info|title", "T"), "info.title"),
    ("base-path-no-slash", "2", _set("basePath", "securetoken"), _set("basePath", "/s"), "base path 'securetoken'"),
    ("base-path-space", "2", _set("basePath", "/secure token"), _set("basePath", "/secure-token"), "base path"),
    ("no-servers", "3", _set("servers", []), _set("servers", [{"url": "/x"}]), "servers must list"),
    ("server-url", "3", _set("servers|0|url", "http://h/x"), _set("servers|0|url", "/x/y"), "base path"),
    ("no-operations", "2", _set("paths", {"/generate": {}}), _set("paths", {"/g": {"get": {}}}), "no operation"),
    ("unknown-verb", "2", _set("paths|/generate|fetch", {}), _set("paths|/generate|x-fetch", {}), "'fetch' is not"),
    ("bad-path", "2", _set("paths|generate", {"get": {}}), _set("paths|/generate2", {"get": {}}), "'generate'"),
    ("undefined-scheme", "2", _set("security", [{"nope": []}]), _set("security", [{"clientID": []}]), "'nope'"),
    (
        "non-apikey-scheme",
        "2",
        _set(f"{SCHEMES}|clientID|type", "basic"),
        _set(f"{SCHEMES}|clientID|type", "apiKey"),
        "securityDefinitions.clientID: only apiKey",
    ),
    (
        "apikey-header",
        "2",
        _set(f"{SCHEMES}|clientID|name", "X-Api-Key"),
        _set(f"{SCHEMES}|clientID|name", "client_id"),
        "securityDefinitions.clientID: the apiKey must be",
    ),
    (
        "secret-without-id",
        "2",
        _set("security", [{"secret": []}]),
        _set("security", [{"secret": [], "clientID": []}]),
        "client secret without a client id",
    ),
    (
        "no-assembly",
        "2",
        _set("x-ibm-configuration|assembly", DELETE),
        _set("x-ibm-configuration|assembly", {"execute": []}),
        "x-ibm-configuration is missing 'assembly'",
    ),
    (
        "no-execute",
        "2",
        _set("x-ibm-configuration|assembly", {"catch": []}),
        _set("x-ibm-configuration|assembly", {"execute": [], "catch": []}),
        "assembly must be a mapping with an 'execute' list",
    ),
    ("no-configuration", "2", _set("x-ibm-configuration", DELETE), _set("x-other", 1), "x-ibm-configuration"),
]


@pytest.mark.parametrize(
    ("base", "bad", "good", "message"),
    [case[1:] for case in DESCRIBE_CASES],
    ids=[case[0] for case in DESCRIBE_CASES],
)
def test_describe_refuses_each_structural_problem_naming_the_place(
    base: str, bad: Callable[..., None], good: Callable[..., None], message: str
) -> None:
    original = demo_document() if base == "2" else openapi3_document()
    if base == "2":
        original[SCHEMES]["secret"] = {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Secret"}
    fixed, broken = copy.deepcopy(original), copy.deepcopy(original)
    good(fixed)
    bad(broken)

    document_describe(fixed)
    with pytest.raises(DocumentError) as excinfo:
        document_describe(broken)
    assert message in str(excinfo.value)


# -- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_the_demo_document_survives_dump_and_reload(fmt: str) -> None:
    original = document_load(API_DOCUMENT.read_bytes())

    reloaded = document_load(document_dump(original, fmt=fmt))

    assert reloaded == original
    assert json.dumps(reloaded) == json.dumps(original)  # key order too


def test_dump_refuses_an_unknown_format() -> None:
    assert document_dump({"a": 1}, fmt="json") == '{\n  "a": 1\n}\n'
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        document_dump({"a": 1}, fmt="xml")


def test_the_demo_api_exported_and_imported_in_another_organization_is_the_same_document(
    jwt_keyprofile: object, organization: Organization, sandbox: Catalog, actor: Actor, capsys: Any
) -> None:
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    call_command("export_api", api.name, "--format", "yaml")
    exported = capsys.readouterr().out
    elsewhere = organization_create(slug="acme", title="Acme")

    copied, created = api_import(organization=elsewhere, data=exported, actor=actor)

    assert created
    assert copied.document == api.document == document_load(API_DOCUMENT.read_bytes())
    assert json.dumps(copied.document) == json.dumps(api.document)
    # Crypto object names carry the organization (DESIGN.md section 1), so the demo's names are personal's.
    acme_sandbox = Catalog.objects.get(organization=elsewhere, slug="sandbox")
    with pytest.raises(PolicyConfigError, match="jws-crypto") as excinfo:
        api_publish(api=copied, catalog=acme_sandbox, actor=actor)
    assert excinfo.value.prop == "jws-crypto"


def self_contained_document() -> dict[str, Any]:
    """An API whose key travels with it (an oct JWK set by the assembly), so it runs in any organization."""
    set_key = {"set-variable": {"title": "key", "actions": [{"set": "jwt.key", "value": oct_jwk(), "type": "object"}]}}
    generate = {
        "jwt-generate": {
            "title": "generate",
            "iss-claim": "request.headers.iss-claim",
            "exp-claim": 300,
            "jws-alg": "HS256",
            "jws-jwk": "jwt.key",
        }
    }
    validate = {"jwt-validate": {"title": "validate", "iss-claim": "apic", "jws-jwk": "jwt.key"}}
    answer = {"set-variable": {"title": "out", "actions": [{"set": "message.body", "value": "$(decoded.claims)"}]}}
    answer_400 = {
        "set-variable": {
            "title": "400",
            "actions": [
                {"set": "message.status.code", "value": "400", "type": "number"},
                {"set": "message.body", "value": "$(error.message)", "type": "string"},
            ],
        }
    }
    switch = {
        "operation-switch": {
            "title": "switch",
            "case": [
                {"operations": [{"verb": "get", "path": "/generate"}], "execute": [generate]},
                {"operations": [{"verb": "get", "path": "/validate"}], "execute": [validate, answer]},
            ],
        }
    }
    return api_document(
        name="portable",
        base_path="/portable",
        paths=("/generate", "/validate"),
        execute=[set_key, switch],
        catch=[{"errors": ["RuntimeError"], "execute": [answer_400]}],
    )


def test_import_export_import_elsewhere_and_publish_keeps_document_and_behaviour(
    organization: Organization, sandbox: Catalog, actor: Actor, client: Any, frozen: int
) -> None:
    api, _ = api_import(
        organization=organization, data=document_dump(self_contained_document(), fmt="yaml"), actor=actor
    )
    api_publish(api=api, catalog=sandbox, actor=actor)
    elsewhere = organization_create(slug="acme", title="Acme")
    copied, _ = api_import(organization=elsewhere, data=document_dump(api.document, fmt="json"), actor=actor)
    acme_sandbox = Catalog.objects.get(organization=elsewhere, slug="sandbox")
    publication = api_publish(api=copied, catalog=acme_sandbox, actor=actor)
    assert publication.document == api.document == self_contained_document()

    def call(org: str, path: str, headers: dict[str, str]) -> Any:
        catalog = Catalog.objects.get(organization__slug=org, slug="sandbox")
        client_id = sandbox_test_app(catalog=catalog, actor=actor).client_id
        return client.get(f"/{org}/sandbox/portable{path}", headers={"X-IBM-Client-Id": client_id, **headers})

    token_here = call("personal", "/generate", {"iss-claim": "apic"})["Authorization"]
    token_there = call("acme", "/generate", {"iss-claim": "apic"})["Authorization"]
    # Same document, same key, same frozen clock: the same claims (no jti), hence the same token.
    assert token_here == token_there
    accepted = call("acme", "/validate", {"Authorization": token_here})
    assert (accepted.status_code, accepted.json()) == (200, {"iss": "apic", "iat": frozen, "exp": frozen + 300})
    other_issuer = call("personal", "/generate", {"iss-claim": "apic2"})["Authorization"]
    refused_here = call("personal", "/validate", {"Authorization": other_issuer})
    refused_there = call("acme", "/validate", {"Authorization": other_issuer})
    assert refused_here.status_code == refused_there.status_code == 400
    assert refused_here.content == refused_there.content
    assert b"the issuer claim \"apic2\" does not match 'apic'" in refused_there.content
    assert Publication.objects.filter(api__name="portable").count() == 2


@pytest.mark.parametrize(
    ("place", "value"),
    [("name", "orders\n"), ("version", "1.0.0\n"), ("basePath", "/orders\n"), ("path", "/go\n")],
)
def test_a_name_version_or_path_ending_in_a_newline_is_refused(place: str, value: str) -> None:
    """'$' also matches before a final newline: every shape check anchors at the very end of the text."""
    document = api_document(name="orders", base_path="/orders")
    if place == "name":
        document["info"]["x-ibm-name"] = value
    elif place == "version":
        document["info"]["version"] = value
    elif place == "basePath":
        document["basePath"] = value
    else:
        document["paths"] = {value: document["paths"]["/go"]}
    document_describe(api_document(name="orders", base_path="/orders"))  # the twin: without the newline

    with pytest.raises(DocumentError):
        document_describe(document)


def test_a_response_header_name_ending_in_a_newline_is_not_a_header_name() -> None:
    assert is_header_name("X-Trace")
    assert not is_header_name("X-Trace\n")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("text", ['var s = "a\x85b";\n', "caf\u00e9 \u2028 z\u2029", "caf\u00e9\tb"])
def test_a_string_with_a_yaml_line_break_exports_and_imports_back_unchanged(fmt: str, text: str) -> None:
    document = api_document(execute=[{"gatewayscript": {"title": "s", "source": text}}])
    assert document_load(document_dump(document, fmt=fmt)) == document


def test_json_text_with_a_raw_line_separator_in_a_string_keeps_it() -> None:
    """JSON.stringify writes U+2028 raw; YAML, which reads JSON here, would fold it."""
    assert document_load('{"a": "x\u2028y", "b": "z\x85"}') == {"a": "x\u2028y", "b": "z\x85"}
