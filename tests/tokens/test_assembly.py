"""tokens.assembly: policies compiled at publish (bad configurations named), then run against a context.

Keys come from the real crypto objects of fixed test keys (``CatalogCryptoResolver``), or from JWKs in
variables. Validation tests use tokens built byte by byte (tests/tokens/helpers.py), and attack tests
each have a positive twin that differs in the one thing the attack changes.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography import x509
from time_machine import TimeMachineFixture

from keyprofiles.models import KeyProfile
from portal.untrusted import MAX_INTEGER_DIGITS, MAX_NESTING
from tests.keyfixtures import CERT1_PEM, EC256_CERT_PEM, KEY1_PEM
from tests.tokens.helpers import (
    CERT_OBJECT,
    EC_CERT_OBJECT,
    EC_KEY_OBJECT,
    HMAC_SECRET,
    JWK_SECRET,
    KEY_OBJECT,
    NOW,
    SECRET_OBJECT,
    attacker_key,
    compact,
    compile_policies,
    ec_jwk,
    ec_private,
    flip,
    hs256,
    jbytes,
    make_context,
    oct_jwk,
    rs256,
    rsa_jwk,
    rsa_private,
    segment,
    thumbprint,
)
from tokens.assembly import CompiledAssembly
from tokens.context import Context
from tokens.documents import Operation
from tokens.errors import AssemblyError, PolicyConfigError, PublishError
from tokens.runtime import CatalogCryptoResolver

CERT1_PUBLIC = x509.load_pem_x509_certificate(CERT1_PEM.encode()).public_key()
EC256_PUBLIC = x509.load_pem_x509_certificate(EC256_CERT_PEM.encode()).public_key()
KID1 = thumbprint(rsa_jwk(rsa_private(), private=False))
GOOD_CLAIMS = {"iss": "apic", "aud": "id1", "iat": NOW, "exp": NOW + 60}
RS256_HEADER = {"alg": "RS256", "typ": "JWT"}


def one(kind: str, config: dict[str, Any], resolver: CatalogCryptoResolver) -> CompiledAssembly:
    return compile_policies([{kind: config}], resolver)


def signed(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """An RS256 token signed with fixed key 1, whose certificate is CERT_OBJECT."""
    return compact(header or RS256_HEADER, claims, rs256(rsa_private()))


def run(assembly: CompiledAssembly, context: Context | None = None) -> Context:
    context = context or make_context()
    assembly.run(context)
    return context


def failure(assembly: CompiledAssembly, context: Context) -> AssemblyError:
    with pytest.raises(AssemblyError) as excinfo:
        assembly.run(context)
    return excinfo.value


# -- configuration errors at compile time -------------------------------------------------------------------

DELETE = object()

BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "jwt-generate": ("jwt-generate", {"title": "make token", "jws-alg": "RS256", "jws-crypto": KEY_OBJECT}),
    "jwt-generate/jwk": ("jwt-generate", {"title": "make token", "jws-alg": "HS256", "jws-jwk": "my.jwk"}),
    "jwt-validate": ("jwt-validate", {"title": "check token", "jws-crypto": CERT_OBJECT}),
    "jwt-validate/jwk": ("jwt-validate", {"title": "check token", "jws-jwk": "my.jwk"}),
    "set-variable": (
        "set-variable",
        {"title": "set things", "actions": [{"set": "my.var", "value": "1", "type": "string"}]},
    ),
    "throw": ("throw", {"title": "fail loudly", "name": "MyError"}),
    "operation-switch": (
        "operation-switch",
        {
            "title": "route",
            "case": [{"operations": [{"verb": "get", "path": "/a"}], "execute": []}],
            "otherwise": [],
        },
    ),
}


def changed(config: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with ``a|0|b``-style paths set (or removed, for DELETE)."""
    result = copy.deepcopy(config)
    for path, value in changes.items():
        *parents, last = path.split("|")
        target: Any = result
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        key_or_index: Any = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[key_or_index]
        else:
            target[key_or_index] = value
    return result


def case(base: str, good: dict[str, Any], bad: dict[str, Any], prop: str, name: str, **kwargs: Any) -> Any:
    return pytest.param(base, good, bad, prop, id=f"{base}-{name}", **kwargs)


CONFIG_CASES = [
    # jwt-generate
    case("jwt-generate", {"jwt": "my.token"}, {"jwt": "not a variable!"}, "jwt", "jwt"),
    case("jwt-generate", {"iss-claim": "request.headers.iss-claim"}, {"iss-claim": "request.headers.iss claim"},
         "iss-claim", "iss"),
    case("jwt-generate", {"sub-claim": "request.headers.sub"}, {"sub-claim": "$(request.headers.sub)"},
         "sub-claim", "sub"),
    case("jwt-generate", {"aud-claim": "request.headers.aud-claim"}, {"aud-claim": ["id1"]}, "aud-claim", "aud"),
    case("jwt-generate", {"exp-claim": 1}, {"exp-claim": 0}, "exp-claim", "exp-zero"),
    case("jwt-generate", {"exp-claim": 31622400}, {"exp-claim": 31622401}, "exp-claim", "exp-too-long"),
    case("jwt-generate", {"exp-claim": "60"}, {"exp-claim": "soon"}, "exp-claim", "exp-text"),
    case("jwt-generate", {"exp-claim": " 60 "}, {"exp-claim": "6\u00b2"}, "exp-claim", "exp-superscript-digit"),
    case("jwt-generate", {"exp-claim": "31622400"}, {"exp-claim": "9" * 5000}, "exp-claim", "exp-5000-digits"),
    case("jwt-generate", {"exp-claim": 60}, {"exp-claim": True}, "exp-claim", "exp-boolean"),
    case("jwt-generate", {"jti-claim": "true"}, {"jti-claim": "maybe"}, "jti-claim", "jti-text"),
    case("jwt-generate", {"jti-claim": False}, {"jti-claim": 1}, "jti-claim", "jti-number"),
    case("jwt-generate", {"private-claims": "my.claims"}, {"private-claims": "my claims"}, "private-claims",
         "private-claims"),
    case("jwt-generate", {"jws-alg": "RS512"}, {"jws-alg": "none"}, "jws-alg", "alg-none"),
    case("jwt-generate", {"jws-alg": "PS256"}, {"jws-alg": "HS256"}, "jws-alg", "alg-hmac-for-rsa"),
    case("jwt-generate", {"jws-alg": "RS384"}, {"jws-alg": "ES256"}, "jws-alg", "alg-ec-for-rsa"),
    case("jwt-generate", {"jws-alg": "RS256"}, {"jws-alg": DELETE}, "jws-alg", "alg-missing"),
    case("jwt-generate", {"jws-crypto": KEY_OBJECT}, {"jws-crypto": "personal_sandbox_nope-key"}, "jws-crypto",
         "crypto-unknown"),
    case("jwt-generate", {"jws-crypto": KEY_OBJECT}, {"jws-crypto": CERT_OBJECT}, "jws-crypto",
         "crypto-certificate-cannot-sign"),
    case("jwt-generate", {}, {"jws-crypto": DELETE}, "jws-crypto", "no-key"),
    case("jwt-generate/jwk", {"jws-jwk": "my.jwk"}, {"jws-jwk": "my jwk"}, "jws-jwk", "jwk-name"),
    case("jwt-generate", {"custom-kid-value-jws": "kid-1"}, {"custom-kid-value-jws": 7}, "custom-kid-value-jws",
         "custom-kid"),
    case("jwt-generate", {"version": "2.0.0"}, {"jwt-id": "x"}, "jwt-id", "unknown-property"),
    # jwt-validate
    case("jwt-validate", {"jwt": "request.headers.x-token"}, {"jwt": "request.headers.x token"}, "jwt", "jwt"),
    case("jwt-validate", {"output-claims": "my.claims"}, {"output-claims": "my claims"}, "output-claims", "output"),
    case("jwt-validate", {"iss-claim": "apic|other"}, {"iss-claim": "(apic"}, "iss-claim", "iss-regex"),
    case("jwt-validate", {"iss-claim": "apic"}, {"iss-claim": 5}, "iss-claim", "iss-number"),
    case("jwt-validate", {"aud-claim": "id[0-9]"}, {"aud-claim": "[id1"}, "aud-claim", "aud-regex"),
    case("jwt-validate", {"leeway": 300}, {"leeway": 301}, "leeway", "leeway-high"),
    case("jwt-validate", {"leeway": 0}, {"leeway": -1}, "leeway", "leeway-negative"),
    case("jwt-validate", {"jws-crypto": KEY_OBJECT}, {"jws-crypto": "personal_sandbox_nope-ca-0"}, "jws-crypto",
         "crypto-unknown"),
    case("jwt-validate", {}, {"jws-crypto": DELETE}, "jws-crypto", "no-key"),
    case("jwt-validate/jwk", {"jws-jwk": "my.jwk"}, {"jws-jwk": "my jwk"}, "jws-jwk", "jwk-name"),
    case("jwt-validate", {"description": "checks"}, {"jws-alg": "RS256"}, "jws-alg", "unknown-property"),
    # set-variable
    case("set-variable", {"actions": [{"clear": "x"}]}, {"actions": []}, "actions", "actions-empty"),
    case("set-variable", {}, {"actions": "set x"}, "actions", "actions-text"),
    case("set-variable", {"actions|0": {"clear": "x"}}, {"actions|0": "set x"}, "actions[0]", "action-text"),
    case("set-variable", {}, {"actions|0|add": "my.var"}, "actions[0]", "two-verbs"),
    case("set-variable", {"actions|0": {"clear": "x"}}, {"actions|0": {"value": "1"}}, "actions[0]", "no-verb"),
    case("set-variable", {"actions|0|set": "my.var-2"}, {"actions|0|set": "my var"}, "actions[0].set", "name"),
    case("set-variable", {"actions|0|type": "number"}, {"actions|0|type": "integer"}, "actions[0].type", "type"),
    case("set-variable", {"actions|0|value": "v"}, {"actions|0|value": DELETE}, "actions[0].value", "no-value"),
    case("set-variable", {"actions|0|value": "12", "actions|0|type": "number"},
         {"actions|0|value": "twelve", "actions|0|type": "number"}, "actions[0].value", "number"),
    case("set-variable", {"actions|0|value": "true", "actions|0|type": "boolean"},
         {"actions|0|value": "yes", "actions|0|type": "boolean"}, "actions[0].value", "boolean"),
    case("set-variable", {"actions|0|value": '{"a": 1}', "actions|0|type": "object"},
         {"actions|0|value": "{a: 1", "actions|0|type": "object"}, "actions[0].value", "object"),
    case("set-variable", {"actions|0|value": True, "actions|0|type": "boolean"},
         {"actions|0|value": 5, "actions|0|type": "boolean"}, "actions[0].value", "boolean-literal"),
    case("set-variable", {"actions|0|value": "1e3", "actions|0|type": "number"},
         {"actions|0|value": "NaN", "actions|0|type": "number"}, "actions[0].value", "number-nan"),
    case("set-variable", {"actions|0|value": "-1.5", "actions|0|type": "number"},
         {"actions|0|value": "Infinity", "actions|0|type": "number"}, "actions[0].value", "number-infinity"),
    # throw
    case("throw", {"name": "OtherError"}, {"name": DELETE}, "name", "no-name"),
    case("throw", {"name": "E"}, {"name": 5}, "name", "name-number"),
    case("throw", {"message": "text $(x)"}, {"message": 5}, "message", "message-number"),
    # operation-switch
    case("operation-switch", {}, {"case": []}, "case", "case-empty"),
    case("operation-switch", {}, {"case": "get /a"}, "case", "case-text"),
    case("operation-switch", {}, {"case|0|operations": DELETE}, "case[0]", "no-operations"),
    case("operation-switch", {"case|0|operations": ["makeItem"]}, {"case|0|operations": [5]},
         "case[0].operations", "operation-number"),
    case("operation-switch", {"case|0|operations": [{"verb": "post", "path": "/a"}]},
         {"case|0|operations": [{"verb": "post"}]}, "case[0].operations", "operation-without-path"),
    case("operation-switch", {"otherwise": []}, {"otherwise": "x"}, "otherwise", "otherwise-text"),
    case("operation-switch", {"case|0|execute": []}, {"case|0|execute": "x"}, "case[0].execute", "execute-text"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "good", "bad", "prop"), CONFIG_CASES)
def test_a_bad_property_fails_at_compile_naming_the_policy_title_and_property(
    base: str, good: dict[str, Any], bad: dict[str, Any], prop: str, request: pytest.FixtureRequest
) -> None:
    kind, config = BASES[base]
    # Only the JWT policies look keys up; the others compile without key material.
    resolver = request.getfixturevalue("resolver" if kind.startswith("jwt-") else "bare_resolver")
    title = config["title"]

    one(kind, changed(config, good), resolver)
    with pytest.raises(PolicyConfigError) as excinfo:
        one(kind, changed(config, bad), resolver)

    error = excinfo.value
    assert (error.policy, error.prop) == (title, prop)
    assert str(error).startswith(f"{kind} policy '{title}', property '{prop}': ")


def test_a_bad_policy_inside_a_case_is_named_by_its_own_title(resolver: CatalogCryptoResolver) -> None:
    def switch(exp: int) -> dict[str, Any]:
        generate = {"title": "inner", "exp-claim": exp, "jws-alg": "RS256", "jws-crypto": KEY_OBJECT}
        return {"title": "route", "case": [{"operations": ["op"], "execute": [{"jwt-generate": generate}]}]}

    one("operation-switch", switch(60), resolver)
    with pytest.raises(PolicyConfigError) as excinfo:
        one("operation-switch", switch(0), resolver)
    assert (excinfo.value.policy, excinfo.value.prop) == ("inner", "exp-claim")


def test_an_empty_property_counts_as_absent(resolver: CatalogCryptoResolver) -> None:
    # APIC exports leave unused properties as '' (the demo's `jwt: ''`); they are not bad values.
    assembly = one("jwt-generate", {**BASES["jwt-generate"][1], "jwt": "", "sub-claim": None}, resolver)
    assert run(assembly).get("message.headers.Authorization").startswith("Bearer ")


# -- policies the portal does not run ----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "known"), [("xslt", True), ("proxy", True), ("frobnicate", False)])
@pytest.mark.parametrize("where", ["execute", "case", "catch"])
def test_an_unsupported_policy_is_refused_naming_its_title_and_type(
    kind: str, known: bool, where: str, bare_resolver: CatalogCryptoResolver
) -> None:
    def assembly_with(policy: dict[str, Any]) -> dict[str, Any]:
        if where == "execute":
            return {"execute": [policy]}
        if where == "case":
            switch = {"title": "route", "case": [{"operations": ["op"], "execute": [policy]}]}
            return {"execute": [{"operation-switch": switch}]}
        return {"execute": [], "catch": [{"errors": ["RuntimeError"], "execute": [policy]}]}

    supported = assembly_with({"set-variable": {"title": "my step", "actions": [{"set": "a", "value": "1"}]}})
    unsupported = assembly_with({kind: {"title": "my step", "version": "2.0.0", "source": "x"}})

    compile_policies(supported["execute"], bare_resolver, supported.get("catch"))
    with pytest.raises(PublishError) as excinfo:
        compile_policies(unsupported["execute"], bare_resolver, unsupported.get("catch"))
    message = str(excinfo.value)
    assert f"Policy 'my step' of type '{kind}'" in message
    assert ("an APIC policy" in message) is known
    assert "skipping it would change what the API does" in message


def test_an_unsupported_policy_without_a_title_is_named_by_its_type(bare_resolver: CatalogCryptoResolver) -> None:
    with pytest.raises(PublishError, match="Policy 'proxy' of type 'proxy'"):
        compile_policies([{"proxy": {"source": "x"}}], bare_resolver)


@pytest.mark.parametrize(
    ("execute", "catch", "message"),
    [
        ([{"throw": {"name": "E"}, "set-variable": {"actions": []}}], None, "mapping of one policy type"),
        (["throw"], None, "mapping of one policy type"),
        ([], [{"errors": [], "execute": []}], r"catch\[0\].errors must list error names"),
        ([], ["RuntimeError"], r"catch\[0\] must be a mapping"),
    ],
)
def test_a_malformed_assembly_is_refused_naming_the_place(
    execute: list[Any], catch: list[Any] | None, message: str, bare_resolver: CatalogCryptoResolver
) -> None:
    compile_policies([{"throw": {"name": "E"}}], bare_resolver, [{"errors": ["E"], "execute": []}, {"default": []}])
    with pytest.raises(PublishError, match=message):
        compile_policies(execute, bare_resolver, catch)


# -- set-variable -------------------------------------------------------------------------------------------


def set_variable(*actions: dict[str, Any], bare_resolver: CatalogCryptoResolver) -> CompiledAssembly:
    return one("set-variable", {"title": "sv", "actions": list(actions)}, bare_resolver)


def test_set_variable_sets_typed_literal_values(bare_resolver: CatalogCryptoResolver) -> None:
    context = run(
        set_variable(
            {"set": "a", "value": "12", "type": "number"},
            {"set": "b", "value": "1.5", "type": "number"},
            {"set": "c", "value": "TRUE", "type": "boolean"},
            {"set": "d", "value": '{"k": [1]}', "type": "object"},
            {"set": "e", "value": "text", "type": "string"},
            {"set": "f", "value": "as is"},
            {"set": "g", "value": {"literal": True}, "type": "object"},
            bare_resolver=bare_resolver,
        )
    )
    assert [context.get(name) for name in "abcdefg"] == [12, 1.5, True, {"k": [1]}, "text", "as is", {"literal": True}]


def test_set_variable_applies_the_type_to_yaml_numbers_and_booleans(bare_resolver: CatalogCryptoResolver) -> None:
    context = run(
        set_variable(
            {"set": "from-text", "value": "400", "type": "string"},
            {"set": "from-number", "value": 400, "type": "string"},
            bare_resolver=bare_resolver,
        )
    )
    assert context.get("from-text") == "400"
    assert context.get("from-number") == "400"


def test_set_variable_writes_booleans_as_json_text(bare_resolver: CatalogCryptoResolver) -> None:
    context = make_context()
    context.set("flag", True)
    run(
        set_variable(
            {"set": "inside-text", "value": "$(flag)!", "type": "string"},
            {"set": "literal", "value": False, "type": "string"},
            {"set": "alone", "value": "$(flag)", "type": "string"},
            bare_resolver=bare_resolver,
        ),
        context,
    )
    assert context.get("inside-text") == "true!"
    assert context.get("literal") == "false"
    assert context.get("alone") == "true"


def test_set_variable_refuses_a_number_json_cannot_carry_at_run_time(bare_resolver: CatalogCryptoResolver) -> None:
    assembly = set_variable(
        {"set": "n", "value": "$(request.headers.n)", "type": "number"}, bare_resolver=bare_resolver
    )
    assert run(assembly, make_context({"N": "1e3"})).get("n") == 1000

    error = failure(assembly, make_context({"N": "nan"}))

    assert "is not a number" in error.message


def test_set_variable_reads_variables_and_keeps_or_converts_their_type(bare_resolver: CatalogCryptoResolver) -> None:
    context = make_context({"Name": "bob", "N": "42"})
    context.set("decoded.claims", {"iss": "apic"})
    run(
        set_variable(
            {"set": "greeting", "value": "hello $(request.headers.name)"},
            {"set": "claims", "value": "$(decoded.claims)", "type": "any"},
            {"set": "claims-text", "value": "$(decoded.claims)", "type": "string"},
            {"set": "n", "value": "$(request.headers.n)", "type": "number"},
            bare_resolver=bare_resolver,
        ),
        context,
    )
    assert context.get("greeting") == "hello bob"
    assert context.get("claims") == {"iss": "apic"}
    assert context.get("claims-text") == '{"iss": "apic"}'
    assert context.get("n") == 42


def test_set_variable_fails_at_run_time_when_a_read_value_has_the_wrong_type(
    bare_resolver: CatalogCryptoResolver,
) -> None:
    assembly = set_variable(
        {"set": "n", "value": "$(request.headers.n)", "type": "number"}, bare_resolver=bare_resolver
    )

    assert run(assembly, make_context({"N": "7"})).get("n") == 7
    error = failure(assembly, make_context({"N": "seven"}))
    assert (error.name, error.status) == ("RuntimeError", 400)  # read from the request: the caller's mistake
    assert "set-variable 'sv': n 'seven' is not a number" in error.message


def test_set_variable_adds_to_and_clears_headers_and_variables(bare_resolver: CatalogCryptoResolver) -> None:
    context = make_context({"X-Drop": "1"})
    context.set("old", "value")
    run(
        set_variable(
            {"add": "message.headers.Vary", "value": "Accept"},
            {"add": "message.headers.Vary", "value": "Origin"},
            {"set": "message.headers.X-Gone", "value": "1"},
            {"clear": "message.headers.X-Gone"},
            {"clear": "request.headers.x-drop"},
            {"clear": "old"},
            bare_resolver=bare_resolver,
        ),
        context,
    )
    assert context.get("message.headers") == {"Vary": "Accept, Origin"}
    assert context.get("request.headers.x-drop") is None
    assert context.get("old") is None


# -- throw and catch ----------------------------------------------------------------------------------------

ANSWER_FROM_ERROR = {
    "set-variable": {
        "title": "answer",
        "actions": [{"set": "message.body", "value": "$(error.name): $(error.message)", "type": "string"}],
    }
}


def throwing(bare_resolver: CatalogCryptoResolver, catch: list[dict[str, Any]] | None) -> CompiledAssembly:
    throw = {"throw": {"title": "boom", "name": "TooBusy", "message": "busy for $(request.headers.user)"}}
    return compile_policies([throw], bare_resolver, catch)


def test_throw_is_caught_by_a_catch_naming_it(bare_resolver: CatalogCryptoResolver) -> None:
    assembly = throwing(bare_resolver, [{"errors": ["Other", "TooBusy"], "execute": [ANSWER_FROM_ERROR]}])

    context = run(assembly, make_context({"User": "ann"}))

    assert context.get("message.body") == "TooBusy: busy for ann"
    assert (context.get("message.status.code"), context.get("error.status.code")) == (500, 500)


def test_an_error_no_catch_names_propagates(bare_resolver: CatalogCryptoResolver) -> None:
    assembly = throwing(bare_resolver, [{"errors": ["Other"], "execute": [ANSWER_FROM_ERROR]}])

    error = failure(assembly, make_context({"User": "ann"}))

    assert (error.name, error.message, error.status) == ("TooBusy", "busy for ann", 500)


def test_the_default_catch_catches_any_error_after_the_named_ones(bare_resolver: CatalogCryptoResolver) -> None:
    named = {"set-variable": {"title": "named", "actions": [{"set": "handler", "value": "named"}]}}
    default = {"set-variable": {"title": "default", "actions": [{"set": "handler", "value": "default"}]}}

    by_default = run(throwing(bare_resolver, [{"errors": ["Other"], "execute": [named]}, {"default": [default]}]))
    by_name = run(throwing(bare_resolver, [{"errors": ["TooBusy"], "execute": [named]}, {"default": [default]}]))

    assert by_default.get("handler") == "default"
    assert by_name.get("handler") == "named"


def test_an_error_raised_in_a_catch_propagates(bare_resolver: CatalogCryptoResolver) -> None:
    rethrow = {"throw": {"title": "again", "name": "Rethrown", "message": "was $(error.name)"}}

    error = failure(throwing(bare_resolver, [{"default": [rethrow]}]), make_context())

    assert (error.name, error.message) == ("Rethrown", "was TooBusy")


def test_policies_after_a_thrown_error_do_not_run(bare_resolver: CatalogCryptoResolver) -> None:
    after = {"set-variable": {"title": "after", "actions": [{"set": "ran", "value": "yes"}]}}
    throw = {"throw": {"title": "boom", "name": "TooBusy"}}

    without_throw = run(compile_policies([after], bare_resolver, [{"default": []}]))
    with_throw = run(compile_policies([throw, after], bare_resolver, [{"default": []}]))

    assert without_throw.get("ran") == "yes"
    assert with_throw.get("ran") is None


# -- operation-switch ---------------------------------------------------------------------------------------


def test_operation_switch_runs_the_case_of_the_operation_or_otherwise(bare_resolver: CatalogCryptoResolver) -> None:
    def mark(value: str) -> list[dict[str, Any]]:
        return [{"set-variable": {"title": value, "actions": [{"set": "ran", "value": value}]}}]

    switch = {
        "title": "route",
        "case": [
            {"operations": [{"verb": "get", "path": "/a"}], "execute": mark("get-a")},
            {"operations": ["makeItem"], "execute": mark("make-item")},
        ],
        "otherwise": mark("otherwise"),
    }
    assembly = one("operation-switch", switch, bare_resolver)

    def ran(operation: Operation | None) -> str:
        context = make_context()
        if operation is not None:
            context.set("api.operation", operation)
        return str(run(assembly, context).get("ran"))

    assert ran(Operation("GET", "/a", None)) == "get-a"
    assert ran(Operation("POST", "/items", "makeItem")) == "make-item"
    assert ran(Operation("POST", "/a", None)) == "otherwise"
    assert ran(Operation("GET", "/b", "other")) == "otherwise"
    assert ran(None) == "otherwise"


# -- jwt-generate -------------------------------------------------------------------------------------------

GENERATE = {
    "title": "generate",
    "iss-claim": "request.headers.iss-claim",
    "sub-claim": "request.headers.sub-claim",
    "aud-claim": "request.headers.aud-claim",
    "exp-claim": 60,
    "jti-claim": True,
    "jws-alg": "RS256",
    "jws-crypto": KEY_OBJECT,
}
CLAIM_HEADERS = {"iss-claim": "apic", "sub-claim": "client-1", "aud-claim": "id1"}


def generated(resolver: CatalogCryptoResolver, headers: dict[str, str], **config: Any) -> str:
    context = run(one("jwt-generate", {**GENERATE, **config}, resolver), make_context(headers))
    token = context.get("generated.jwt")
    assert isinstance(token, str)
    return token


def test_jwt_generate_signs_the_claims_apic_signs(resolver: CatalogCryptoResolver, frozen: int) -> None:
    context = run(one("jwt-generate", GENERATE, resolver), make_context(CLAIM_HEADERS))

    token = context.get("generated.jwt")
    assert context.get("message.headers.Authorization") == f"Bearer {token}"
    assert segment(token, 0) == {"alg": "RS256", "typ": "JWT", "kid": KID1}
    claims = segment(token, 1)
    assert claims == {
        "iss": "apic",
        "sub": "client-1",
        "aud": "id1",
        "iat": frozen,
        "exp": frozen + 60,
        "jti": claims["jti"],
    }
    assert uuid.UUID(claims["jti"]).version == 4
    verified = jwt.decode(token, CERT1_PUBLIC, algorithms=["RS256"], audience="id1", issuer="apic")
    assert verified == claims


def test_jwt_generate_makes_a_new_jti_each_time_and_none_unless_asked(
    resolver: CatalogCryptoResolver, frozen: int
) -> None:
    first, second = (segment(generated(resolver, CLAIM_HEADERS), 1) for _ in range(2))
    without = segment(generated(resolver, CLAIM_HEADERS, **{"jti-claim": False}), 1)

    assert first["jti"] != second["jti"]
    assert "jti" not in without
    assert without["iat"] == frozen


def test_jwt_generate_defaults_to_an_hour_and_always_sets_iat(resolver: CatalogCryptoResolver, frozen: int) -> None:
    config = {"title": "bare", "jws-alg": "RS256", "jws-crypto": KEY_OBJECT}

    claims = segment(run(one("jwt-generate", config, resolver)).get("generated.jwt"), 1)

    assert claims == {"iat": frozen, "exp": frozen + 3600}


def test_jwt_generate_writes_to_the_jwt_variable_instead_of_the_header(resolver: CatalogCryptoResolver) -> None:
    context = run(one("jwt-generate", {**GENERATE, "jwt": "my.token"}, resolver), make_context(CLAIM_HEADERS))

    assert context.get("my.token") == context.get("generated.jwt")
    assert context.get("message.headers.Authorization") is None


def test_jwt_generate_uses_a_custom_kid_when_given(resolver: CatalogCryptoResolver) -> None:
    assert segment(generated(resolver, CLAIM_HEADERS), 0)["kid"] == KID1
    assert segment(generated(resolver, CLAIM_HEADERS, **{"custom-kid-value-jws": "my-kid"}), 0)["kid"] == "my-kid"


@pytest.mark.parametrize(
    ("value", "claim"),
    [("id1", "id1"), ("id1, id2,id3", ["id1", "id2", "id3"]), (" id1 , ", "id1")],
)
def test_jwt_generate_turns_a_comma_list_audience_into_an_array(
    value: str, claim: str | list[str], resolver: CatalogCryptoResolver
) -> None:
    assert segment(generated(resolver, {**CLAIM_HEADERS, "aud-claim": value}), 1)["aud"] == claim


@pytest.mark.parametrize(("value", "claim"), [(["id1"], "id1"), (["id1", "id2"], ["id1", "id2"])])
def test_jwt_generate_takes_an_audience_array_from_a_variable(
    value: list[str], claim: str | list[str], resolver: CatalogCryptoResolver
) -> None:
    context = make_context(CLAIM_HEADERS)
    context.set("my.audience", value)

    run(one("jwt-generate", {**GENERATE, "aud-claim": "my.audience"}, resolver), context)

    assert segment(context.get("generated.jwt"), 1)["aud"] == claim


@pytest.mark.parametrize("claim", ["iss", "sub", "aud"])
def test_a_missing_claim_variable_is_an_error_not_an_empty_claim(claim: str, resolver: CatalogCryptoResolver) -> None:
    assembly = one("jwt-generate", GENERATE, resolver)
    run(assembly, make_context(CLAIM_HEADERS))
    headers = {name: value for name, value in CLAIM_HEADERS.items() if name != f"{claim}-claim"}

    error = failure(assembly, make_context(headers))

    assert (error.name, error.status, error.reason) == ("RuntimeError", 400, "Bad Request")
    assert error.message == (
        f"jwt-generate 'generate': the {claim} claim variable 'request.headers.{claim}-claim' is not set."
    )


@pytest.mark.parametrize(
    ("claim", "value", "problem"),
    [("iss", "", "is empty"), ("sub", "", "is empty"), ("aud", "", "is empty"), ("aud", " , ", "holds no audience")],
)
def test_an_empty_claim_variable_is_an_error_not_an_empty_claim(
    claim: str, value: str, problem: str, resolver: CatalogCryptoResolver
) -> None:
    assembly = one("jwt-generate", GENERATE, resolver)
    run(assembly, make_context({**CLAIM_HEADERS, f"{claim}-claim": "x"}))

    error = failure(assembly, make_context({**CLAIM_HEADERS, f"{claim}-claim": value}))

    assert (error.status, error.reason) == (400, "Bad Request")
    assert (
        error.message
        == f"jwt-generate 'generate': the {claim} claim variable 'request.headers.{claim}-claim' {problem}."
    )


def test_an_empty_audience_array_is_an_error(resolver: CatalogCryptoResolver) -> None:
    assembly = one("jwt-generate", {**GENERATE, "aud-claim": "my.audience"}, resolver)
    full, empty = make_context(CLAIM_HEADERS), make_context(CLAIM_HEADERS)
    full.set("my.audience", ["id1", "id2"])
    empty.set("my.audience", [])

    assert segment(run(assembly, full).get("generated.jwt"), 1)["aud"] == ["id1", "id2"]
    assert "the aud claim variable 'my.audience' is empty" in failure(assembly, empty).message


def test_claim_values_that_look_like_json_are_carried_verbatim(resolver: CatalogCryptoResolver) -> None:
    headers = {"iss-claim": '{"admin":true}', "sub-claim": '["a"]', "aud-claim": '["a"]'}

    claims = segment(generated(resolver, headers), 1)

    assert (claims["iss"], claims["sub"], claims["aud"]) == ('{"admin":true}', '["a"]', '["a"]')


def test_private_claims_are_added_from_a_json_object(resolver: CatalogCryptoResolver) -> None:
    from_header = generated(resolver, {**CLAIM_HEADERS, "claims": '{"admin": true, "scope": "read"}'},
                            **{"private-claims": "request.headers.claims"})  # fmt: skip
    context = make_context(CLAIM_HEADERS)
    context.set("my.claims", {"roles": ["a", "b"]})
    run(one("jwt-generate", {**GENERATE, "private-claims": "my.claims"}, resolver), context)

    assert segment(from_header, 1)["admin"] is True
    assert segment(from_header, 1)["scope"] == "read"
    assert segment(context.get("generated.jwt"), 1)["roles"] == ["a", "b"]


@pytest.mark.parametrize("registered", ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"])
def test_private_claims_may_not_override_registered_claims(registered: str, resolver: CatalogCryptoResolver) -> None:
    assembly = one("jwt-generate", {**GENERATE, "private-claims": "request.headers.claims"}, resolver)
    run(assembly, make_context({**CLAIM_HEADERS, "claims": f'{{"x-{registered}": 1}}'}))

    error = failure(assembly, make_context({**CLAIM_HEADERS, "claims": f'{{"{registered}": 1}}'}))

    assert error.status == 400
    assert f"private claims may not set registered claims ({registered})" in error.message


@pytest.mark.parametrize("value", ["[1]", "not json", '"text"'])
def test_private_claims_must_be_a_json_object(value: str, resolver: CatalogCryptoResolver) -> None:
    assembly = one("jwt-generate", {**GENERATE, "private-claims": "request.headers.claims"}, resolver)
    run(assembly, make_context({**CLAIM_HEADERS, "claims": "{}"}))

    error = failure(assembly, make_context({**CLAIM_HEADERS, "claims": value}))

    assert "must hold a JSON object" in error.message


def test_ps256_tokens_verify_with_pyjwt(resolver: CatalogCryptoResolver, frozen: int) -> None:
    token = generated(resolver, CLAIM_HEADERS, **{"jws-alg": "PS256"})

    assert segment(token, 0)["alg"] == "PS256"
    claims = jwt.decode(token, CERT1_PUBLIC, algorithms=["PS256"], audience="id1", issuer="apic")
    assert claims["sub"] == "client-1"
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, CERT1_PUBLIC, algorithms=["RS256"], audience="id1")


def test_hs256_with_a_shared_secret_crypto_object(
    resolver: CatalogCryptoResolver, hmac_keyprofile: KeyProfile, frozen: int
) -> None:
    config = {
        "title": "hmac",
        "iss-claim": "request.headers.iss-claim",
        "jws-alg": "HS256",
        "jws-crypto": SECRET_OBJECT,
    }
    token = run(one("jwt-generate", config, resolver), make_context({"iss-claim": "apic"})).get("generated.jwt")
    validate = one("jwt-validate", {"title": "check", "jws-crypto": SECRET_OBJECT}, resolver)

    assert segment(token, 0) == {"alg": "HS256", "typ": "JWT", "kid": thumbprint(oct_jwk(HMAC_SECRET))}
    assert jwt.decode(token, HMAC_SECRET, algorithms=["HS256"])["iss"] == "apic"
    assert run(validate, make_context({"Authorization": f"Bearer {token}"})).get("decoded.claims")["iss"] == "apic"
    forged = compact(segment(token, 0), segment(token, 1), hs256(bytes(32)))
    assert "signature does not verify" in failure(validate, make_context({"Authorization": forged})).message
    with pytest.raises(PolicyConfigError, match="HS384 does not fit the oct key"):
        one("jwt-generate", {**config, "jws-alg": "HS384"}, resolver)


def test_es256_with_an_ec_keystore(resolver: CatalogCryptoResolver, ec_keyprofile: KeyProfile, frozen: int) -> None:
    config = {"title": "ec", "aud-claim": "request.headers.aud-claim", "jws-alg": "ES256", "jws-crypto": EC_KEY_OBJECT}
    token = run(one("jwt-generate", config, resolver), make_context({"aud-claim": "id1"})).get("generated.jwt")
    validate = one("jwt-validate", {"title": "check", "aud-claim": "id1", "jws-crypto": EC_CERT_OBJECT}, resolver)

    assert segment(token, 0) == {"alg": "ES256", "typ": "JWT", "kid": thumbprint(ec_jwk(ec_private(), private=False))}
    assert jwt.decode(token, EC256_PUBLIC, algorithms=["ES256"], audience="id1")["aud"] == "id1"
    assert run(validate, make_context({"Authorization": token})).get("decoded.claims")["aud"] == "id1"
    rsa_token = signed({**GOOD_CLAIMS, "aud": "id1"})
    assert "algorithm is not allowed" in failure(validate, make_context({"Authorization": rsa_token})).message
    with pytest.raises(PolicyConfigError, match="RS256 does not fit the EC key"):
        one("jwt-generate", {**config, "jws-alg": "RS256"}, resolver)


# jws-jwk: (alg, private JWK, public JWK, PyJWT verification key)
JWK_CASES = {
    "oct": ("HS256", oct_jwk(), oct_jwk(), JWK_SECRET),
    "RSA": ("RS256", rsa_jwk(rsa_private(), private=True), rsa_jwk(rsa_private(), private=False), CERT1_PUBLIC),
    "EC": ("ES256", ec_jwk(ec_private(), private=True), ec_jwk(ec_private(), private=False), EC256_PUBLIC),
}


@pytest.mark.parametrize("kty", JWK_CASES)
def test_jws_jwk_from_a_variable_signs_and_verifies(kty: str, resolver: CatalogCryptoResolver, frozen: int) -> None:
    alg, private_jwk, public_jwk, pyjwt_key = JWK_CASES[kty]
    generate = one("jwt-generate", {"title": "g", "jws-alg": alg, "jws-jwk": "my.jwk"}, resolver)
    validate = one("jwt-validate", {"title": "v", "jws-jwk": "my.jwk"}, resolver)
    signing = make_context()
    signing.set("my.jwk", private_jwk)
    token = run(generate, signing).get("generated.jwt")

    assert segment(token, 0) == {"alg": alg, "typ": "JWT", "kid": thumbprint(public_jwk)}
    assert jwt.decode(token, pyjwt_key, algorithms=[alg]) == {"iat": frozen, "exp": frozen + 3600}
    verifying = make_context({"Authorization": f"Bearer {token}"})
    verifying.set("my.jwk", public_jwk)
    assert run(validate, verifying).get("decoded.claims") == {"iat": frozen, "exp": frozen + 3600}
    other = make_context({"Authorization": f"Bearer {token}"})
    other.set("my.jwk", JWK_CASES["oct" if kty != "oct" else "RSA"][2])
    assert "JWT validation failed" in failure(validate, other).message


def test_jws_jwk_as_json_text_works_too(resolver: CatalogCryptoResolver) -> None:
    generate = one("jwt-generate", {"title": "g", "jws-alg": "HS256", "jws-jwk": "request.headers.jwk"}, resolver)
    context = run(generate, make_context({"jwk": json.dumps(oct_jwk())}))
    assert jwt.decode(context.get("generated.jwt"), JWK_SECRET, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (None, "the JWK variable 'my.jwk' is not set"),
        (rsa_jwk(rsa_private(), private=False), "cannot sign"),
        ({"kty": "oct", "k": "c2hvcnQ"}, "at least 32 bytes"),
        ({"kty": "oct", "k": oct_jwk()["k"], "use": "enc"}, "not meant for signatures"),
    ],
)
def test_jws_jwk_that_cannot_sign_is_a_runtime_error(
    jwk: dict[str, str] | None, message: str, resolver: CatalogCryptoResolver
) -> None:
    generate = one("jwt-generate", {"title": "g", "jws-alg": "RS256", "jws-jwk": "my.jwk"}, resolver)
    good = make_context()
    good.set("my.jwk", rsa_jwk(rsa_private(), private=True))
    run(generate, good)
    bad = make_context()
    if jwk is not None:
        bad.set("my.jwk", jwk)

    error = failure(generate, bad)

    assert error.status == 500
    assert message in error.message


# -- jwt-validate -------------------------------------------------------------------------------------------

VALIDATE = {"title": "validate", "iss-claim": "apic", "aud-claim": "id1", "jws-crypto": CERT_OBJECT}


def validator(resolver: CatalogCryptoResolver, **config: Any) -> CompiledAssembly:
    return one("jwt-validate", {**VALIDATE, **config}, resolver)


def bearer(token: str) -> Context:
    return make_context({"Authorization": f"Bearer {token}"})


def refusal(assembly: CompiledAssembly, context: Context) -> str:
    """The validation failure message; also checks what every validation failure carries."""
    error = failure(assembly, context)
    assert (error.name, error.status, error.reason) == ("RuntimeError", 401, "Unauthorized")
    assert error.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert context.get("jwt-validate.error-message") == error.message
    assert context.get("decoded.claims") is None
    return error.message


def test_jwt_validate_puts_the_claims_in_the_output_variable(resolver: CatalogCryptoResolver, frozen: int) -> None:
    token = signed(GOOD_CLAIMS)

    default = run(validator(resolver), bearer(token))
    custom = run(validator(resolver, **{"output-claims": "my.claims"}), bearer(token))

    assert default.get("decoded.claims") == GOOD_CLAIMS
    assert custom.get("my.claims") == GOOD_CLAIMS
    assert custom.get("decoded.claims") is None
    assert default.get("jwt-validate.error-message") is None


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER  ", ""])
def test_jwt_validate_strips_a_bearer_prefix(prefix: str, resolver: CatalogCryptoResolver, frozen: int) -> None:
    context = make_context({"Authorization": f"{prefix}{signed(GOOD_CLAIMS)}"})
    assert run(validator(resolver), context).get("decoded.claims") == GOOD_CLAIMS


def test_jwt_validate_refuses_another_authorization_scheme(resolver: CatalogCryptoResolver, frozen: int) -> None:
    token = signed(GOOD_CLAIMS)
    assert run(validator(resolver), make_context({"Authorization": f"Bearer {token}"})).get("decoded.claims")
    assert "malformed" in refusal(validator(resolver), make_context({"Authorization": f"Basic {token}"}))


def test_jwt_validate_reads_the_token_from_the_jwt_variable(resolver: CatalogCryptoResolver, frozen: int) -> None:
    context = make_context({"Authorization": "Bearer not-this-one"})
    context.set("my.token", signed(GOOD_CLAIMS))
    assert run(validator(resolver, jwt="my.token"), context).get("decoded.claims") == GOOD_CLAIMS
    assert "malformed" in refusal(validator(resolver), make_context({"Authorization": "Bearer not-this-one"}))


def _bad(claims: dict[str, Any] | None = None, **changes: Any) -> str:
    return signed({**GOOD_CLAIMS, **changes} if claims is None else claims)


FAILURES = [
    ("no-token", lambda: None, "no JWT was found in request.headers.authorization"),
    ("too-large", lambda: _bad(pad="x" * 8192), "the JWT is too large: "),
    ("malformed", lambda: "abc.def", "the JWT is malformed: "),
    ("algorithm", lambda: compact({"alg": "HS256"}, GOOD_CLAIMS, hs256(bytes(32))),
     "the JWT's algorithm is not allowed: The algorithm HS256 is not allowed for the configured key."),
    ("signature", lambda: compact(RS256_HEADER, GOOD_CLAIMS, rs256(attacker_key())),
     "the JWT signature does not verify: "),
    ("expired", lambda: _bad(exp=NOW - 1), "the JWT has expired at 2030-01-01T11:59:59Z"),
    ("expired-now", lambda: _bad(exp=NOW), "the JWT has expired at 2030-01-01T12:00:00Z"),
    ("no-exp", lambda: _bad({"iss": "apic", "aud": "id1"}), "the JWT has no exp (expiry) claim"),
    ("exp-text", lambda: _bad(exp=str(NOW + 60)), "the JWT's exp claim is not a number"),
    ("not-yet-valid", lambda: _bad(nbf=NOW + 60), "the JWT is not valid before 2030-01-01T12:01:00Z"),
    ("issuer", lambda: _bad(iss="other"), "the issuer claim \"other\" does not match 'apic'"),
    ("no-issuer", lambda: _bad({"aud": "id1", "exp": NOW + 60}), "the issuer claim (absent) does not match 'apic'"),
    ("audience", lambda: _bad(aud="id2"), "the audience claim \"id2\" does not match 'id1'"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "because"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_each_validation_failure_has_its_message(
    make: Any, because: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    assert run(assembly, bearer(signed(GOOD_CLAIMS))).get("decoded.claims") == GOOD_CLAIMS
    token = make()
    context = make_context({} if token is None else {"Authorization": f"Bearer {token}"})

    message = refusal(assembly, context)

    assert message.startswith(f"JWT validation failed, because {because}")


@pytest.mark.parametrize(
    ("token", "because"),
    [
        (lambda: compact(RS256_HEADER, {**GOOD_CLAIMS, "exp": NOW - 1}, rs256(attacker_key())), "the JWT signature"),
        (lambda: _bad(exp=NOW - 1, iss="other", aud="other"), "the JWT has expired"),
        (lambda: _bad(nbf=NOW + 1, iss="other"), "the JWT is not valid before"),
        (lambda: _bad(iss="other", aud="other"), "the issuer claim"),
    ],
    ids=["signature-before-expiry", "expiry-before-claims", "nbf-before-issuer", "issuer-before-audience"],
)
def test_checks_run_in_the_documented_order(
    token: Any, because: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    assert run(assembly, bearer(signed(GOOD_CLAIMS))).get("decoded.claims") == GOOD_CLAIMS
    assert refusal(assembly, bearer(token())).startswith(f"JWT validation failed, because {because}")


def test_a_token_valid_from_now_and_until_a_second_from_now_passes(
    resolver: CatalogCryptoResolver, frozen: int
) -> None:
    claims = {**GOOD_CLAIMS, "nbf": NOW, "exp": NOW + 1}
    assert run(validator(resolver), bearer(signed(claims))).get("decoded.claims") == claims


@pytest.mark.parametrize(("leeway", "passes"), [(30, True), (5, False)])
def test_leeway_forgives_that_many_seconds(
    leeway: int, passes: bool, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    token = signed({**GOOD_CLAIMS, "exp": NOW - 10})
    assembly = validator(resolver, leeway=leeway)
    if passes:
        assert run(assembly, bearer(token)).get("decoded.claims")["exp"] == NOW - 10
    else:
        assert "has expired" in refusal(assembly, bearer(token))


@pytest.mark.parametrize("issuer", ["apic-evil", "xapic", "APIC", "apic\n", "", "api"])
def test_the_issuer_pattern_must_match_the_whole_claim(
    issuer: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    assert run(assembly, bearer(signed({**GOOD_CLAIMS, "iss": "apic"}))).get("decoded.claims")["iss"] == "apic"
    assert "the issuer claim" in refusal(assembly, bearer(signed({**GOOD_CLAIMS, "iss": issuer})))


@pytest.mark.parametrize(
    ("audience", "passes"),
    [
        ("id1", True),
        (["other", "id1"], True),
        (["id1"], True),
        ("id10", False),
        ("xid1", False),
        (["other", "id10"], False),
        ([], False),
        (None, False),
        (1, False),
    ],
)
def test_the_audience_pattern_must_match_the_whole_claim_or_any_array_element(
    audience: Any, passes: bool, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    claims = {**GOOD_CLAIMS, "aud": audience}
    if audience is None:
        del claims["aud"]
    assembly = validator(resolver)
    if passes:
        assert run(assembly, bearer(signed(claims))).get("decoded.claims")["aud"] == audience
    else:
        assert "the audience claim" in refusal(assembly, bearer(signed(claims)))


def test_without_patterns_any_issuer_and_audience_pass(resolver: CatalogCryptoResolver, frozen: int) -> None:
    claims = {"iss": "anyone", "aud": ["x"], "exp": NOW + 1}
    assert (
        run(validator(resolver, **{"iss-claim": "", "aud-claim": ""}), bearer(signed(claims))).get("decoded.claims")
        == claims
    )


def test_a_token_from_jwt_generate_validates(resolver: CatalogCryptoResolver, frozen: int) -> None:
    token = generated(resolver, CLAIM_HEADERS)
    assert run(validator(resolver), bearer(token)).get("decoded.claims") == segment(token, 1)


def test_a_ps256_token_made_by_pyjwt_validates(resolver: CatalogCryptoResolver, frozen: int) -> None:
    token = jwt.encode(GOOD_CLAIMS, KEY1_PEM, algorithm="PS256")
    assert run(validator(resolver), bearer(token)).get("decoded.claims") == GOOD_CLAIMS


# -- attacks: one byte-built token per known attack, each with its positive twin -----------------------------


def test_attack_alg_none_is_refused(resolver: CatalogCryptoResolver, frozen: int) -> None:
    assembly = validator(resolver)
    twin = signed(GOOD_CLAIMS)
    unsigned = compact({"alg": "none", "typ": "JWT"}, GOOD_CLAIMS, None)
    with_junk_signature = compact({"alg": "none", "typ": "JWT"}, GOOD_CLAIMS, lambda data: b"x")
    lower_case_none = compact({"alg": "None"}, GOOD_CLAIMS, lambda data: b"x")

    assert run(assembly, bearer(twin)).get("decoded.claims") == GOOD_CLAIMS
    assert "malformed" in refusal(assembly, bearer(unsigned))
    assert "Unsigned tokens (algorithm 'none') are refused" in refusal(assembly, bearer(with_junk_signature))
    assert "algorithm is not allowed" in refusal(assembly, bearer(lower_case_none))


def test_attack_hs256_keyed_with_the_rsa_certificate_pem_is_refused(
    resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    pem = CERT1_PEM.encode()
    twin = compact({"alg": "RS256", "typ": "JWT"}, GOOD_CLAIMS, rs256(rsa_private()))
    attack = compact({"alg": "HS256", "typ": "JWT"}, GOOD_CLAIMS, hs256(pem))
    attack_public_pem = compact({"alg": "HS256", "typ": "JWT"}, GOOD_CLAIMS, hs256(pem.replace(b"\n", b"\r\n")))

    assert run(assembly, bearer(twin)).get("decoded.claims") == GOOD_CLAIMS
    assert "the JWT's algorithm is not allowed" in refusal(assembly, bearer(attack))
    assert "the JWT's algorithm is not allowed" in refusal(assembly, bearer(attack_public_pem))


def test_attack_embedded_jwk_header_does_not_choose_the_key(resolver: CatalogCryptoResolver, frozen: int) -> None:
    assembly = validator(resolver)
    attacker = attacker_key()
    header = {"alg": "RS256", "typ": "JWT", "jwk": rsa_jwk(attacker, private=False)}
    twin = compact(header, GOOD_CLAIMS, rs256(rsa_private()))  # the same header, signed by the real key
    attack = compact(header, GOOD_CLAIMS, rs256(attacker))

    assert run(assembly, bearer(twin)).get("decoded.claims") == GOOD_CLAIMS
    assert "the JWT signature does not verify" in refusal(assembly, bearer(attack))


@pytest.mark.parametrize(
    ("member", "value"),
    [("kid", "attacker-kid"), ("jku", "https://attacker.example/jwks.json"), ("x5u", "https://attacker.example/c")],
)
def test_attack_key_pointing_headers_do_not_choose_the_key(
    member: str, value: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    header = {"alg": "RS256", "typ": "JWT", member: value}

    assert run(assembly, bearer(compact(header, GOOD_CLAIMS, rs256(rsa_private())))).get("decoded.claims")
    assert "signature does not verify" in refusal(assembly, bearer(compact(header, GOOD_CLAIMS, rs256(attacker_key()))))


def test_attack_unknown_critical_header_is_refused(resolver: CatalogCryptoResolver, frozen: int) -> None:
    assembly = validator(resolver)
    plain = {"alg": "RS256", "typ": "JWT", "exp-hint": 1}
    critical = {"alg": "RS256", "typ": "JWT", "exp-hint": 1, "crit": ["exp-hint"]}

    assert run(assembly, bearer(compact(plain, GOOD_CLAIMS, rs256(rsa_private())))).get("decoded.claims")
    assert "the JWT header is not acceptable" in refusal(
        assembly, bearer(compact(critical, GOOD_CLAIMS, rs256(rsa_private())))
    )


@pytest.mark.parametrize(("part", "name"), [(0, "header"), (1, "payload"), (2, "signature")])
def test_attack_tampering_with_one_character_is_refused(
    part: int, name: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    token = signed(GOOD_CLAIMS)
    tampered = flip(token, part)

    assert tampered != token
    assert sum(a != b for a, b in zip(token, tampered, strict=True)) == 1
    assert run(assembly, bearer(token)).get("decoded.claims") == GOOD_CLAIMS
    assert refusal(assembly, bearer(tampered)).startswith("JWT validation failed, because the JWT")


def test_attack_payload_swapped_under_a_valid_signature_is_refused(
    resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    genuine = signed({**GOOD_CLAIMS, "sub": "user"})
    promoted = signed({**GOOD_CLAIMS, "sub": "admin"})
    header, _, signature = genuine.split(".")
    spliced = ".".join([header, promoted.split(".")[1], signature])

    assert run(assembly, bearer(promoted)).get("decoded.claims")["sub"] == "admin"
    assert "signature does not verify" in refusal(assembly, bearer(spliced))


def test_attack_expired_token_is_refused(resolver: CatalogCryptoResolver, time_machine: TimeMachineFixture) -> None:
    assembly = validator(resolver)
    token = signed(GOOD_CLAIMS)  # exp = NOW + 60
    time_machine.move_to(NOW + 59, tick=False)
    assert run(assembly, bearer(token)).get("decoded.claims") == GOOD_CLAIMS

    time_machine.move_to(NOW + 60, tick=False)
    assert refusal(assembly, bearer(token)) == (
        "JWT validation failed, because the JWT has expired at 2030-01-01T12:01:00Z"
    )


# RFC 7515 Appendix A.2: the RS256 example, and its RSA key as a JWK (public members).
RFC7515_A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9u"
    "JdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9"
    "383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWk"
    "WywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)
RFC7515_A2_JWK = {
    "kty": "RSA",
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Ql"
    "L-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs"
    "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoud"
    "F8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    "e": "AQAB",
}
RFC7515_A2_EXP = 1300819380


def test_rfc7515_a2_example_passes_before_its_expiry_and_fails_from_it(
    resolver: CatalogCryptoResolver, time_machine: TimeMachineFixture
) -> None:
    assembly = one("jwt-validate", {"title": "rfc", "iss-claim": "joe", "jws-jwk": "rfc.jwk"}, resolver)

    def context() -> Context:
        value = make_context({"Authorization": f"Bearer {RFC7515_A2_TOKEN}"})
        value.set("rfc.jwk", RFC7515_A2_JWK)
        return value

    time_machine.move_to(RFC7515_A2_EXP - 1, tick=False)
    assert run(assembly, context()).get("decoded.claims") == {
        "iss": "joe",
        "exp": RFC7515_A2_EXP,
        "http://example.com/is_root": True,
    }
    time_machine.move_to(RFC7515_A2_EXP, tick=False)
    assert refusal(assembly, context()) == "JWT validation failed, because the JWT has expired at 2011-03-22T18:43:00Z"


# -- bad input never escapes as an unexpected exception (issue 9, finding 5) --------------------------------

MS_NOW = NOW * 1000
MILLISECONDS = "looks like milliseconds; a NumericDate counts seconds since 1970"

OUT_OF_RANGE = [
    ("nbf-milliseconds", {"nbf": MS_NOW}, f"the JWT's nbf claim is out of range ({MS_NOW} {MILLISECONDS})"),
    ("nbf-1e300", {"nbf": 1e300}, "the JWT's nbf claim is out of range"),
    ("exp-minus-1e15", {"exp": -1e15}, "the JWT's exp claim is out of range"),
    ("exp-milliseconds", {"exp": MS_NOW + 60_000},
     f"the JWT's exp claim is out of range ({MS_NOW + 60_000} {MILLISECONDS})"),
    ("exp-4000-digits", {"exp": 10**3999}, "the JWT's exp claim is out of range"),
    ("exp-1e15", {"exp": 10**15}, "the JWT's exp claim is out of range"),
    ("iat-milliseconds", {"iat": MS_NOW}, f"the JWT's iat claim is out of range ({MS_NOW} {MILLISECONDS})"),
    ("iat-true", {"iat": True}, "the JWT's iat claim is not a number"),
    ("nbf-text", {"nbf": "NaN"}, "the JWT's nbf claim is not a number"),
    ("exp-false", {"exp": False}, "the JWT's exp claim is not a number"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "because"), [o[1:] for o in OUT_OF_RANGE], ids=[o[0] for o in OUT_OF_RANGE])
def test_time_claims_outside_what_a_message_can_show_are_refused_by_name(
    changes: dict[str, Any], because: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    assembly = validator(resolver)
    assert run(assembly, bearer(signed(GOOD_CLAIMS))).get("decoded.claims") == GOOD_CLAIMS

    message = refusal(assembly, bearer(signed({**GOOD_CLAIMS, **changes})))

    assert message == f"JWT validation failed, because {because}"


def test_a_time_claim_written_as_1e400_is_out_of_range(resolver: CatalogCryptoResolver, frozen: int) -> None:
    finite = jbytes(GOOD_CLAIMS)[:-1] + b',"nbf":1e3}'
    assert run(validator(resolver), bearer(compact(RS256_HEADER, finite, rs256(rsa_private())))).get("decoded.claims")
    infinite = finite.replace(b"1e3", b"1e400")

    message = refusal(validator(resolver), bearer(compact(RS256_HEADER, infinite, rs256(rsa_private()))))

    assert message == "JWT validation failed, because the JWT's nbf claim is out of range"


@pytest.mark.parametrize(
    ("exp", "passes", "shown"),
    [
        (253402300799, True, ""),
        (-1, False, "the JWT has expired at 1969-12-31T23:59:59Z"),
        (-62135596800, False, "the JWT has expired at 0001-01-01T00:00:00Z"),
        (NOW - 0.5, False, "the JWT has expired at 2030-01-01T11:59:59Z"),
    ],
    ids=["last-second-of-9999", "a-second-before-1970", "first-second-of-year-1", "fractional"],
)
def test_time_claims_anywhere_in_the_range_read_well(
    exp: float, passes: bool, shown: str, resolver: CatalogCryptoResolver, frozen: int
) -> None:
    claims = {**GOOD_CLAIMS, "exp": exp}
    if passes:
        assert run(validator(resolver), bearer(signed(claims))).get("decoded.claims") == claims
    else:
        assert refusal(validator(resolver), bearer(signed(claims))) == f"JWT validation failed, because {shown}"


def test_a_claim_of_five_thousand_digits_is_named_as_such(resolver: CatalogCryptoResolver, frozen: int) -> None:
    payload = jbytes(GOOD_CLAIMS)[:-1] + b',"n":' + b"9" * 4300 + b"}"
    accepted = run(validator(resolver), bearer(compact(RS256_HEADER, payload, rs256(rsa_private()))))
    assert accepted.get("decoded.claims")["n"] == int("9" * 4300)
    too_long = payload.replace(b"9" * 4300, b"9" * 5000)

    message = refusal(validator(resolver), bearer(compact(RS256_HEADER, too_long, rs256(rsa_private()))))

    assert message == (
        "JWT validation failed, because the JWT is malformed: The token payload holds an integer too long to read."
    )


def test_claims_nested_deeper_than_the_limit_are_refused(resolver: CatalogCryptoResolver, frozen: int) -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: Any = []
        for _ in range(depth - 2):  # the payload object and the innermost list are two levels
            value = [value]
        return {**GOOD_CLAIMS, "deep": value}

    assert run(validator(resolver), bearer(signed(nested(MAX_NESTING)))).get("decoded.claims") == nested(MAX_NESTING)

    message = refusal(validator(resolver), bearer(signed(nested(900))))

    assert message == (
        "JWT validation failed, because the JWT is malformed: "
        f"The token payload is nested more than {MAX_NESTING} levels deep."
    )


def _body_context(body: bytes) -> Context:
    return Context(verb="POST", path="/", headers=CLAIM_HEADERS, body=body)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, f"it is nested more than {MAX_NESTING} levels deep"),
        (b'{"n": ' + b"9" * 5000 + b"}", f"it holds an integer longer than {MAX_INTEGER_DIGITS} digits"),
        (b'{"n": NaN}', "it holds NaN, which is not a JSON number"),
        (b'{"n": 1e999}', "it holds a number too large to represent"),
        (b'{"n": "\xff"}', "it is not UTF-8 text"),
    ],
    ids=["5000-deep", "5000-digits", "nan", "infinite", "not-utf8"],
)
def test_a_hostile_body_read_by_private_claims_is_a_400_naming_the_problem(
    body: bytes, problem: str, resolver: CatalogCryptoResolver
) -> None:
    assembly = one("jwt-generate", {**GENERATE, "private-claims": "message.body"}, resolver)
    good = run(assembly, _body_context(b'{"a": {"b": [1]}, "n": ' + b"9" * MAX_INTEGER_DIGITS + b"}"))
    assert segment(good.get("generated.jwt"), 1)["a"] == {"b": [1]}

    error = failure(assembly, _body_context(body))

    assert (error.status, error.reason) == (400, "Bad Request")
    assert error.message == (
        f"jwt-generate 'generate': the private claims variable 'message.body' must hold a JSON object ({problem})."
    )


def test_private_claims_too_large_for_a_token_are_a_400(resolver: CatalogCryptoResolver) -> None:
    assembly = one("jwt-generate", {**GENERATE, "private-claims": "message.body"}, resolver)
    run(assembly, _body_context(jbytes({"pad": "x" * 5000})))

    error = failure(assembly, _body_context(jbytes({"pad": "x" * 9000})))

    assert (error.status, error.reason) == (400, "Bad Request")
    assert error.message == "jwt-generate 'generate': The signed token would be larger than 8192 bytes."


def test_set_variable_refuses_a_deeply_nested_object_at_run_time(bare_resolver: CatalogCryptoResolver) -> None:
    assembly = set_variable(
        {"set": "obj", "value": "$(request.headers.obj)", "type": "object"}, bare_resolver=bare_resolver
    )
    assert run(assembly, make_context({"Obj": '{"a": [1]}'})).get("obj") == {"a": [1]}

    error = failure(assembly, make_context({"Obj": "[" * 5000 + "]" * 5000}))

    assert error.name == "RuntimeError"
    assert error.message.startswith("set-variable 'sv': obj \"[[[[")
    assert error.message.endswith(f"[[... is not a JSON object: it is nested more than {MAX_NESTING} levels deep.")


def test_a_jws_jwk_variable_nested_deeply_is_a_runtime_error(resolver: CatalogCryptoResolver) -> None:
    generate = one("jwt-generate", {"title": "g", "jws-alg": "HS256", "jws-jwk": "my.jwk"}, resolver)
    good = make_context()
    good.set("my.jwk", json.dumps(oct_jwk()))
    run(generate, good)
    bad = make_context()
    bad.set("my.jwk", '{"kty": "oct", "x": ' + "[" * 5000 + "]" * 5000 + "}")

    error = failure(generate, bad)

    assert error.message == (
        f"jwt-generate 'g': the JWK in 'my.jwk' is not usable: The JWK is nested more than {MAX_NESTING} levels deep."
    )


def test_a_deeply_nested_object_value_is_refused_at_publish(bare_resolver: CatalogCryptoResolver) -> None:
    set_variable({"set": "obj", "value": '{"a": [1]}', "type": "object"}, bare_resolver=bare_resolver)

    with pytest.raises(PolicyConfigError) as excinfo:
        set_variable({"set": "obj", "value": "[" * 5000 + "]" * 5000, "type": "object"}, bare_resolver=bare_resolver)

    assert excinfo.value.prop == "actions[0].value"
    assert str(excinfo.value).endswith(f"is not a JSON object: it is nested more than {MAX_NESTING} levels deep.")


@pytest.mark.parametrize(
    ("value_type", "converted"),
    [("string", '{"n": 12}'), ("object", {"n": 12}), ("any", b'{"n": 12}')],
)
def test_set_variable_reads_the_request_body_bytes_as_text(
    value_type: str, converted: Any, bare_resolver: CatalogCryptoResolver
) -> None:
    assembly = set_variable({"set": "x", "value": "$(message.body)", "type": value_type}, bare_resolver=bare_resolver)

    context = run(assembly, Context(verb="POST", path="/", headers={}, body=b'{"n": 12}'))

    assert context.get("x") == converted


def test_a_jwk_in_the_request_body_is_read_as_text(resolver: CatalogCryptoResolver) -> None:
    generate = one("jwt-generate", {"title": "g", "jws-alg": "HS384", "jws-jwk": "message.body"}, resolver)
    good = run(generate, Context(verb="POST", path="/", headers={}, body=jbytes(oct_jwk())))
    assert segment(good.get("generated.jwt"), 0)["alg"] == "HS384"

    error = failure(generate, Context(verb="POST", path="/", headers={}, body=b"\xff{"))

    assert error.message == (
        "jwt-generate 'g': the JWK in 'message.body' is not usable: The JWK is not JSON without duplicate members."
    )
