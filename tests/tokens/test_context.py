"""tokens.context: APIC's variable names, case-insensitive headers, and $(name) interpolation."""

from __future__ import annotations

import json

import pytest

from portal.gateway_http import MAX_HEADER_VALUE_CHARS, header_value
from tokens.context import Context


def make(headers: dict[str, str] | None = None, **kwargs: object) -> Context:
    return Context(verb="get", path="/generate", headers=headers or {}, **kwargs)  # type: ignore[arg-type]


def test_request_variables_are_named_as_apic_names_them() -> None:
    context = make({"Iss-Claim": "apic"}, query={"client_id": "abc"}, body=b"{}")

    assert context.get("request.verb") == "GET"
    assert context.get("request.path") == "/generate"
    assert context.get("request.headers.iss-claim") == "apic"
    assert context.get("request.query.client_id") == "abc"
    assert context.get("message.body") == b"{}"
    assert (context.get("message.status.code"), context.get("message.status.reason")) == (200, "OK")


def test_header_names_are_case_insensitive_but_query_names_are_not() -> None:
    context = make({"X-IBM-Client-Id": "id"}, query={"Client_Id": "q"})

    assert context.get("request.headers.X-Ibm-Client-ID") == "id"
    assert context.get("request.headers.x-ibm-client-id") == "id"
    assert context.get("request.query.Client_Id") == "q"
    assert context.get("request.query.client_id") is None


def test_an_unset_variable_reads_as_none() -> None:
    context = make()
    context.set("decoded.claims", {"iss": "apic"})

    assert context.get("decoded.claims") == {"iss": "apic"}
    assert context.get("decoded.nothing") is None
    assert context.get("message.body") is None  # an empty body is no body


def test_message_headers_are_one_header_whatever_the_case_of_its_name() -> None:
    context = make()
    context.set("message.headers.X-Trace", "1")
    context.set("message.headers.x-trace", "2")
    context.set("message.headers.X-Other", "3")

    assert context.get("message.headers.X-TRACE") == "2"
    assert {name.lower(): value for name, value in context.get("message.headers").items()} == {
        "x-trace": "2",
        "x-other": "3",
    }


def test_add_folds_repeated_headers_and_sets_other_variables() -> None:
    context = make()
    context.add("message.headers.Vary", "Accept")
    context.add("message.headers.vary", "Origin")
    context.add("my.value", 1)
    context.add("my.value", 2)

    assert context.get("message.headers.Vary") == "Accept, Origin"
    assert context.get("my.value") == 2


def test_clear_removes_headers_and_variables() -> None:
    context = make({"Authorization": "Bearer x"})
    context.set("message.headers.X-A", "1")
    context.set("my.value", 1)

    for name in ("message.headers.x-a", "request.headers.AUTHORIZATION", "my.value"):
        context.clear(name)

    assert context.get("message.headers.X-A") is None
    assert context.get("request.headers.authorization") is None
    assert context.get("my.value") is None
    context.clear("never.set")  # clearing what is not set is not an error


@pytest.mark.parametrize("control", ["\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\t"])
def test_no_control_character_reaches_a_header_value(control: str) -> None:
    context = make()
    context.set("message.headers.X-A", f"one{control}Set-Cookie: evil=1")
    context.add("request.headers.X-C", f"two{control}three")
    context.set("message.headers.X-B", "plain text, with: punctuation; é")

    assert context.get("message.headers.X-A") == "one Set-Cookie: evil=1"
    assert context.get("request.headers.x-c") == "two three"
    assert context.get("message.headers.X-B") == "plain text, with: punctuation; é"


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_every_control_character_is_replaced_in_ascii_text_and_in_other_text(code: int) -> None:
    """ASCII text takes a quicker path than other text (portal.gateway_http.header_value): both replace each."""
    assert header_value(f"Bearer a.b{chr(code)}{chr(code)}c") == "Bearer a.b c"
    assert header_value(f"caf\u00e9{chr(code)}x") == "caf\u00e9 x"
    assert header_value("Bearer a.b-c_d~e") == "Bearer a.b-c_d~e"  # the positive twin: printable ASCII as it is


def test_a_header_value_is_cut_at_its_cap() -> None:
    context = make()
    context.set("message.headers.X-Long", "a" * (MAX_HEADER_VALUE_CHARS + 100))
    context.set("message.headers.X-Fits", "b" * MAX_HEADER_VALUE_CHARS)

    assert context.get("message.headers.X-Long") == "a" * MAX_HEADER_VALUE_CHARS
    assert context.get("message.headers.X-Fits") == "b" * MAX_HEADER_VALUE_CHARS


def test_a_lone_reference_keeps_its_type_and_inside_text_becomes_text() -> None:
    context = make({"Iss-Claim": "apic"})
    context.set("decoded.claims", {"iss": "apic", "n": 1})
    context.set("flag", True)
    context.set("count", 3)

    assert context.interpolate("$(decoded.claims)") == {"iss": "apic", "n": 1}
    assert context.interpolate("claims: $(decoded.claims)") == 'claims: {"iss":"apic","n":1}'
    assert context.interpolate("$(flag)/$(count)/$(request.headers.iss-claim)") == "true/3/apic"
    assert context.interpolate("[$(missing)]") == "[]"
    assert context.interpolate("$(missing)") is None
    assert context.interpolate("no reference, $ ( not one )") == "no reference, $ ( not one )"


def test_headers_are_read_from_the_wsgi_environ_on_demand() -> None:
    environ = {
        "HTTP_ISS_CLAIM": "apic",
        "HTTP_X_IBM_CLIENT_ID": "abc",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "PATH_INFO": "/not/a/header",
    }
    context = Context(verb="get", path="/generate", environ=environ)
    assert context.get("request.headers.iss-claim") == "apic"
    assert context.get("request.headers.ISS-Claim") == "apic"
    assert context.get("request.headers.content-type") == "application/json"
    assert context.get("request.headers.aud-claim") is None  # twin: a header the caller did not send
    assert context.get("request.headers") == {
        "iss-claim": "apic",
        "x-ibm-client-id": "abc",
        "content-type": "application/json",
        "content-length": "2",
    }


def test_assembly_changes_to_request_headers_lie_over_the_environ() -> None:
    context = Context(verb="get", path="/", environ={"HTTP_ISS_CLAIM": "apic", "HTTP_AUD_CLAIM": "id1"})
    context.set("request.headers.iss-claim", "other")
    context.clear("request.headers.aud-claim")
    context.set("request.headers.new-one", "x")
    assert context.get("request.headers.iss-claim") == "other"
    assert context.get("request.headers.aud-claim") is None
    assert context.get("request.headers") == {"iss-claim": "other", "new-one": "x"}


def test_json_interpolation_keeps_a_value_inside_its_string_and_writes_others_as_json() -> None:
    context = Context(verb="GET", path="/", headers={"X-User": 'bob", "admin": true, "x": "'})
    context.set("count", 3)
    text = context.interpolate_json('{"user": "$(request.headers.x-user)", "n": $(count), "s": "a\\"$(count)"}')
    assert json.loads(text) == {"user": 'bob", "admin": true, "x": "', "n": 3, "s": 'a"3'}
