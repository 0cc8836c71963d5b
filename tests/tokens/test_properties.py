"""Property tests (Hypothesis) over every parser of outside input in tokens: whatever comes in, the answer is a
result or the module's own clean refusal, never an unexpected exception (issue 9, finding 5).

Each property runs a bounded number of examples (a few seconds each) without a deadline, so a slow shared
machine cannot make it flaky; a failure prints the blob that reproduces it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.untrusted import UntrustedTextError, json_loads
from tests.tokens.helpers import JWK_SECRET, api_document, b64url, compact, hs256, make_context, oct_jwk
from tokens import jose
from tokens.assembly import assembly_compile
from tokens.context import Context
from tokens.documents import ApiDescription, document_describe, document_load
from tokens.errors import AssemblyError, DocumentError, PolicyConfigError, PublishError
from tokens.policies.base import SigningMaterial, VerificationMaterial

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


T = TypeVar("T")


def outcome(call: Callable[[], T], *refusals: type[Exception]) -> T | Exception:
    """What ``call`` returns, or the refusal it raises; any other exception fails the property."""
    try:
        return call()
    except refusals as e:
        return e


class _NoCryptoObjects:
    """A resolver for assemblies keyed by jws-jwk variables only: every crypto object is unknown."""

    def signing(self, name: str) -> SigningMaterial:
        raise LookupError(f"there is no crypto object {name!r} in these tests")

    def verifying(self, name: str) -> VerificationMaterial:
        raise LookupError(f"there is no crypto object {name!r} in these tests")


# -- strategies ---------------------------------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**15, max_value=10**4000),
    st.integers(min_value=-(10**4000), max_value=-(10**15)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e300, -1e15, 253402300799, 253402300800, -62135596800, -62135596801, 2**53]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=20))
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
# Characters that matter to YAML and JSON syntax, so random text reaches deep into the parsers.
_SYNTAX = "[]{}:,-?'\"!&*#|>%@`\\ \n\t0123456789.eE+xob_abcnul\ufeff\x00\x85\u2028"
_DEEP = st.builds(
    lambda depth, opener, tail: opener * depth + tail,
    st.integers(min_value=0, max_value=3000),
    st.sampled_from(["[", "{a: ", "- ", '{"a":', "["]),
    st.sampled_from(["", "1", "]" * 3000, "}" * 3000]),
)
_LONG_INTEGERS = st.builds(
    lambda sign, digits, prefix: f"a: {sign}{prefix}{digits}",
    st.sampled_from(["", "-", "+"]),
    st.integers(min_value=1, max_value=6000).map(lambda n: "7" * n),
    st.sampled_from(["", "0x", "0o", "0b1", "1:"]),
)
DOCUMENT_TEXTS = st.one_of(
    st.binary(max_size=500),
    st.text(alphabet=_SYNTAX, max_size=300),
    st.text(max_size=200),
    _DEEP,
    _LONG_INTEGERS,
    JSON_VALUES.map(lambda value: json.dumps(value)),
    JSON_VALUES.map(lambda value: yaml.safe_dump(value)),
)


def _replaced(document: Any, path: list[int], junk: Any) -> Any:
    """``document`` with the node that ``path`` picks (indices into each level's keys) replaced by ``junk``."""
    node = document
    for step in path:
        if isinstance(node, dict) and node:
            key = list(node)[step % len(node)]
            if not isinstance(node[key], dict | list) or not node[key]:
                node[key] = junk
                return document
            node = node[key]
        elif isinstance(node, list) and node:
            index = step % len(node)
            if not isinstance(node[index], dict | list) or not node[index]:
                node[index] = junk
                return document
            node = node[index]
    return junk if node is document else document


VALID_DOCUMENT = api_document(
    execute=[
        {"set-variable": {"title": "sv", "actions": [{"set": "x", "value": "1", "type": "number"}]}},
        {"jwt-generate": {"title": "g", "jws-alg": "HS256", "jws-jwk": "my.jwk", "exp-claim": 60}},
        {"jwt-validate": {"title": "v", "jwt": "generated.jwt", "jws-jwk": "my.jwk", "iss-claim": "a.*"}},
    ],
    catch=[{"errors": ["RuntimeError"], "execute": [{"throw": {"name": "Again", "message": "$(error.message)"}}]}],
)
MUTATED_DOCUMENTS = st.builds(
    lambda path, junk: _replaced(copy.deepcopy(VALID_DOCUMENT), path, junk),
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8),
    JSON_VALUES,
)


# -- the document loader ------------------------------------------------------------------------------------


@PROPERTY
@given(DOCUMENT_TEXTS)
def test_document_load_returns_a_mapping_or_a_document_error(text: str | bytes) -> None:
    document = outcome(lambda: document_load(text), DocumentError)
    if isinstance(document, DocumentError):
        assert str(document).startswith("The document ")
    else:
        assert isinstance(document, dict)
        json.dumps(document, allow_nan=False, ensure_ascii=False).encode("utf-8")


@PROPERTY
@given(MUTATED_DOCUMENTS)
def test_describe_and_compile_return_a_result_or_name_the_problem(document: Any) -> None:
    if not isinstance(document, dict):
        return
    description = outcome(lambda: document_describe(document), DocumentError)
    if isinstance(description, DocumentError):
        assert str(description)
        return
    assert isinstance(description, ApiDescription)
    assembly = description.assembly
    compiled = outcome(lambda: assembly_compile(assembly, _NoCryptoObjects()), PolicyConfigError, PublishError)
    assert str(compiled) if isinstance(compiled, Exception) else compiled.policies is not None


@PROPERTY
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), _DEEP, JSON_VALUES.map(json.dumps)))
def test_untrusted_json_is_a_value_or_a_named_refusal(text: str | bytes) -> None:
    value = outcome(lambda: json_loads(text), UntrustedTextError)
    if isinstance(value, UntrustedTextError):
        assert str(value).startswith("it ")


# -- the compact-JWS parser ---------------------------------------------------------------------------------

HS_KEY = jose.JwsKey.from_secret(JWK_SECRET)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
_HEADERS = st.one_of(
    st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "b64", "jwk", "x"]), JSON_VALUES, max_size=4).map(
        lambda header: {"alg": "HS256", **header} if "alg" not in header else header
    ),
    JSON_VALUES,
)
_PAYLOADS = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    _DEEP.map(str.encode),
    st.integers(min_value=1, max_value=6000).map(lambda n: b'{"n":' + b"9" * n + b"}"),
)


@st.composite
def _signed_tokens(draw: st.DrawFn) -> str:
    header = draw(_HEADERS)
    header_bytes = json.dumps(header).encode() if draw(st.booleans()) else draw(st.binary(max_size=60))
    return compact(header_bytes, draw(_PAYLOADS), hs256(JWK_SECRET))


@PROPERTY
@given(st.one_of(st.text(max_size=400), st.text(alphabet=_ALPHABET, max_size=400), _signed_tokens()))
def test_verify_compact_returns_header_and_claims_or_a_jose_error(token: str) -> None:
    result = outcome(lambda: jose.verify_compact(token, keys=[HS_KEY]), jose.JoseError)
    if isinstance(result, jose.JoseError):
        assert result.reason in ("size", "malformed", "algorithm", "header", "signature", "key")
        assert str(result).endswith(".")
    else:
        header, claims = result
        assert isinstance(header, dict)
        assert isinstance(claims, dict)


@PROPERTY
@given(st.one_of(st.text(max_size=300), JSON_VALUES, _DEEP))
def test_a_jwk_is_a_key_or_a_key_error(jwk: Any) -> None:
    key = outcome(lambda: jose.JwsKey.from_jwk(jwk), jose.JoseError)
    if isinstance(key, jose.JoseError):
        assert key.reason == "key"
    else:
        assert key.allowed_algorithms()


# -- claim checking -----------------------------------------------------------------------------------------

VALIDATE = assembly_compile(
    {"execute": [{"jwt-validate": {"title": "v", "jws-jwk": "my.jwk", "iss-claim": "apic", "aud-claim": "id1"}}]},
    _NoCryptoObjects(),
)
_TIME_VALUES = st.one_of(_NUMBERS, _SCALARS, JSON_VALUES)
_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "exp": _TIME_VALUES,
        "nbf": _TIME_VALUES,
        "iat": _TIME_VALUES,
        "iss": st.one_of(st.just("apic"), JSON_VALUES),
        "aud": st.one_of(st.just("id1"), st.just(["x", "id1"]), JSON_VALUES),
    },
)


def _with_jwk(context: Context) -> Context:
    context.set("my.jwk", oct_jwk())
    return context


@PROPERTY
@given(st.one_of(_CLAIMS.map(lambda claims: json.dumps(claims).encode()), _PAYLOADS))
def test_claim_checking_passes_or_fails_with_a_validation_message(payload: bytes) -> None:
    token = compact({"alg": "HS256", "typ": "JWT"}, payload, hs256(JWK_SECRET))
    context = _with_jwk(make_context({"Authorization": f"Bearer {token}"}))
    error = outcome(lambda: VALIDATE.run(context), AssemblyError)
    if isinstance(error, AssemblyError):
        assert (error.name, error.status) == ("RuntimeError", 401)
        assert error.message.startswith("JWT validation failed, because ")
        assert context.get("jwt-validate.error-message") == error.message
    else:
        assert isinstance(context.get("decoded.claims"), dict)


GENERATE = assembly_compile(
    {
        "execute": [
            {
                "jwt-generate": {
                    "title": "g",
                    "iss-claim": "request.headers.iss",
                    "aud-claim": "request.headers.aud",
                    "private-claims": "message.body",
                    "jws-alg": "HS256",
                    "jws-jwk": "my.jwk",
                }
            }
        ]
    },
    _NoCryptoObjects(),
)


@PROPERTY
@given(
    st.one_of(JSON_VALUES.map(lambda value: json.dumps(value).encode()), st.binary(max_size=300), _PAYLOADS),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40),
)
def test_generate_with_any_private_claims_signs_or_answers_400(body: bytes, aud: str) -> None:
    context = _with_jwk(Context(verb="POST", path="/", headers={"iss": "apic", "aud": aud}, body=body))
    error = outcome(lambda: GENERATE.run(context), AssemblyError)
    if isinstance(error, AssemblyError):
        assert (error.name, error.status, error.reason) == ("RuntimeError", 400, "Bad Request")
        assert error.message.startswith("jwt-generate 'g': ")
    else:
        token = context.get("generated.jwt")
        assert jose.verify_compact(token, keys=[HS_KEY])[1]["iss"] == "apic"


SET_VARIABLE_KINDS = ("any", "string", "number", "boolean", "object")
# One assembly per type: in one list, the first refusal would keep the later conversions from running.
SET_VARIABLES = {
    kind: assembly_compile(
        {
            "execute": [
                {
                    "set-variable": {
                        "title": "sv",
                        "actions": [{"set": "converted", "value": "$(request.headers.v)", "type": kind}],
                    }
                }
            ]
        },
        _NoCryptoObjects(),
    )
    for kind in SET_VARIABLE_KINDS
}
SET_VARIABLES_FROM_BODY = {
    kind: assembly_compile(
        {
            "execute": [
                {
                    "set-variable": {
                        "title": "sv",
                        "actions": [{"set": "converted", "value": "$(message.body)", "type": kind}],
                    }
                }
            ]
        },
        _NoCryptoObjects(),
    )
    for kind in SET_VARIABLE_KINDS
}


@PROPERTY
@given(
    st.one_of(st.text(max_size=100), _DEEP, JSON_VALUES.map(json.dumps), _LONG_INTEGERS),
    st.one_of(st.none(), st.binary(min_size=1, max_size=200), _PAYLOADS.filter(bool)),
)
def test_set_variable_converts_any_value_or_names_it(value: str, body: bytes | None) -> None:
    """Each type, from a header (text) or, when there is a ``body``, from the request body (bytes)."""
    assemblies = SET_VARIABLES if body is None else SET_VARIABLES_FROM_BODY
    as_text = value if body is None else body.decode("utf-8", "replace")
    for kind, assembly in assemblies.items():
        context = Context(verb="POST", path="/", headers={"v": value}, body=body or b"")
        error = outcome(lambda: assembly.run(context), AssemblyError)  # noqa: B023 - called at once
        if isinstance(error, AssemblyError):
            assert kind not in ("any", "string")
            # a request header is the caller's mistake (400); the message body may be the API's own (500)
            assert (error.name, error.status) == ("RuntimeError", 500 if body else 400)
            assert error.message.startswith("set-variable 'sv': converted ")
        elif kind == "string":
            assert context.get("converted") == as_text


def test_the_strategies_reach_both_outcomes() -> None:
    """The properties above would pass vacuously if every example were refused: one of each, by hand."""
    good = compact({"alg": "HS256"}, {"iss": "apic", "aud": "id1", "exp": 4102444800}, hs256(JWK_SECRET))
    bad = compact({"alg": "HS256"}, {"iss": "apic", "aud": "id1", "exp": 4102444800000}, hs256(JWK_SECRET))
    assert b64url(JWK_SECRET) == oct_jwk()["k"]
    passed = _with_jwk(make_context({"Authorization": f"Bearer {good}"}))
    VALIDATE.run(passed)
    assert passed.get("decoded.claims")["iss"] == "apic"
    failed = _with_jwk(make_context({"Authorization": f"Bearer {bad}"}))
    error = outcome(lambda: VALIDATE.run(failed), AssemblyError)
    assert isinstance(error, AssemblyError)
    assert "exp claim is out of range" in error.message
    assert document_load(json.dumps(VALID_DOCUMENT)) == VALID_DOCUMENT
    assert document_describe(VALID_DOCUMENT).name == "test-api"
