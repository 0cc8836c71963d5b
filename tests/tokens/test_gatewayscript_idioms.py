"""The gatewayscript bridge's DataPower API gateway idioms (DESIGN.md section 3a, QA finding 9): the message
objects on ``context.message`` and ``context.request`` (``header.get/set/remove``, ``body.readAsJSON``,
``readAsBuffer``, ``write``), ``session.input``, error-first callbacks, and every other DataPower call failing
with a JavaScriptError that names it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document, make_context
from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.gatewayscript import GatewayScript
from tokens.services import api_publish, api_save

GATEWAY = "/personal/sandbox"


def run(source: str, context: Context | None = None) -> Context:
    context = context or make_context()
    GatewayScript("idiom", {"source": source}).run(context)
    return context


def posted(body: bytes, headers: dict[str, str] | None = None) -> Context:
    return Context(verb="POST", path="/go", headers=headers or {}, body=body)


def test_message_header_gets_sets_and_removes_case_insensitively() -> None:
    source = """
    var header = context.message.header;
    header.set('X-Checked', 'yes');
    header.set('x-count', 2);
    header.remove('X-GONE');
    session.output.write([header.get('x-checked'), header.get('X-Count'), header.get('x-gone'), header.get('X-Kept')]);
    """
    context = make_context()
    context.set("message.headers.X-Gone", "soon")
    context.set("message.headers.X-Kept", "kept")

    run(source, context)

    assert context.get("message.body") == ["yes", "2", None, "kept"]
    assert context.get("message.headers") == {"X-Kept": "kept", "X-Checked": "yes", "x-count": "2"}


def test_request_header_reads_the_request_and_writes_its_headers() -> None:
    source = """
    var header = context.request.header;
    var before = context.request.headers['x-added'];
    header.set('X-Added', 'added');
    header.remove('x-gone');
    session.output.write({
      note: header.get('X-NOTE'), added: header.get('x-added'), gone: header.get('x-gone') === undefined,
      before: before === undefined, after: context.request.headers['x-added']
    });
    """
    context = run(source, make_context({"X-Note": "n", "X-Gone": "soon"}))

    read = {"note": "n", "added": "added", "gone": True, "before": True, "after": "added"}
    assert context.get("message.body") == read
    assert (context.get("request.headers.x-added"), context.get("request.headers.x-gone")) == ("added", None)


READ_AS_JSON = """
var seen = [];
%s.readAsJSON(function (error, json) {
  seen.push(arguments.length, error === null ? null : error.name, json === undefined ? 'none' : json);
});
context.set('seen', seen);
"""


@pytest.mark.parametrize("reader", ["context.message.body", "context.request.body", "session.input"])
@pytest.mark.parametrize(
    ("body", "seen"),
    [(b'{"a": 1}', [2, None, {"a": 1}]), (b"not json", [1, "SyntaxError", "none"]), (b"", [1, "SyntaxError", "none"])],
)
def test_read_as_json_calls_back_error_first(reader: str, body: bytes, seen: list[Any]) -> None:
    """DataPower's callbacks: (error) when the body is not JSON, (null, json) when it is."""
    context = run(READ_AS_JSON % reader, posted(body))

    assert context.get("seen") == seen


@pytest.mark.parametrize("reader", ["context.message.body", "context.request.body", "session.input"])
def test_read_as_buffer_hands_the_body_as_text(reader: str) -> None:
    source = f"{reader}.readAsBuffer(function (error, buffer) {{ context.set('seen', [error, buffer.toString()]); }});"
    context = posted(b"raw \xff bytes")

    run(source, context)

    assert context.get("seen") == [None, "raw \ufffd bytes"]


def test_read_as_buffer_hands_an_object_body_as_its_json_text() -> None:
    context = make_context()
    context.set("message.body", {"a": [1, 2]})

    run("session.input.readAsBuffer(function (error, buffer) { context.set('text', buffer); });", context)

    assert context.get("text") == '{"a":[1,2]}'


def test_the_message_body_reads_what_the_script_wrote_and_the_request_body_stays() -> None:
    source = """
    context.message.body.write({checked: true});
    context.message.body.readAsJSON(function (error, json) { context.set('message.read', json); });
    context.request.body.readAsJSON(function (error, json) { context.set('request.read', json); });
    """
    context = run(source, posted(b'{"a": 1}'))

    assert context.get("message.body") == {"checked": True}
    assert (context.get("message.read"), context.get("request.read")) == ({"checked": True}, {"a": 1})


def test_a_callback_that_throws_fails_the_call_naming_the_policy() -> None:
    source = "session.input.readAsJSON(function (error, json) { throw new Error('bad ' + json.a); });"

    with pytest.raises(AssemblyError, match="gatewayscript policy 'idiom' failed: Error: bad 1"):
        run(source, posted(b'{"a": 1}'))


UNOFFERED = {
    "context.createMessage": "context.createMessage('reply');",
    "context.getMessage": "context.getMessage('reply').body.write('x');",
    "context.swagger.readAsJSON": "context.swagger.readAsJSON(function (e, doc) {});",
    "context.message.body.readAsXML": "context.message.body.readAsXML(function (e, doc) {});",
    "context.request.body.write": "context.request.body.write('replaced');",
    "context.message.header.getAll": "context.message.header.getAll();",
    "session.reject": "session.reject('no');",
    "session.input.readAsXML": "session.input.readAsXML(function (e, doc) {});",
    "require('apim').getvariables": "require('apim').getvariables();",
}


@pytest.mark.parametrize("call", list(UNOFFERED))
def test_a_datapower_call_the_portal_does_not_offer_fails_naming_it(call: str) -> None:
    with pytest.raises(AssemblyError) as failure:
        run(UNOFFERED[call])

    assert failure.value.name == "JavaScriptError"
    assert f"{call}() is not available: the portal's gatewayscript does not offer it" in str(failure.value)


def test_its_twin_the_bridges_objects_still_behave_as_plain_objects() -> None:
    """What Promise resolution and JSON.stringify probe (then, toJSON) stays absent; names the bridge offers and
    the Object prototype's resolve as before."""
    source = """
    Promise.resolve(context.message).then(function (message) { context.set('resolved', message.statusCode); });
    context.set('shown', JSON.stringify(context.message.header));
    context.set('owns', context.hasOwnProperty('get') && typeof context.message.header.get === 'function');
    """
    context = make_context()
    context.set("message.status.code", 202)

    run(source, context)

    assert (context.get("resolved"), context.get("shown"), context.get("owns")) == (202, "{}", True)


def test_the_message_objects_are_frozen_and_a_call_leaves_nothing_for_the_next() -> None:
    source = """
    var objects = [context.message.header, context.message.body, context.request.header, context.request.body,
                   session.input, session.output];
    var frozen = objects.every(function (o) { return Object.isFrozen(o); });
    try { context.message.header.get = function () { return 'forged'; }; } catch (e) {}
    context.set('seen', [frozen, context.message.header.get('x-first'), context.request.header.get('x-note')]);
    context.message.header.set('X-First', 'one');
    context.request.header.set('X-Note', 'changed');
    """
    policy = GatewayScript("idiom", {"source": source})
    first, second = make_context({"X-Note": "n"}), make_context({"X-Note": "n"})

    policy.run(first)
    policy.run(second)

    assert first.get("seen") == second.get("seen") == [True, None, "n"]
    assert second.get("message.headers.x-first") == "one"


API_GATEWAY_SCRIPT = """
var note = context.request.header.get('X-Note');
context.request.body.readAsJSON(function (error, order) {
  if (error) {
    context.message.statusCode = 400;
    context.message.body.write({error: 'the order is not JSON'});
    return;
  }
  context.message.header.set('Content-Type', 'application/json');
  context.message.header.set('X-Checked', 'yes');
  context.message.header.remove('X-Internal');
  context.message.statusCode = 201;
  context.message.body.write({order: order.id, note: note, via: context.get('request.verb')});
});
"""


def publish_posting(sandbox: Catalog, actor: Actor) -> str:
    """An API whose POST /go runs a script written the API gateway way, after a set-variable the script undoes."""
    internal = {"set-variable": {"title": "internal", "actions": [{"set": "message.headers.X-Internal", "value": "x"}]}}
    execute = [internal, {"gatewayscript": {"version": "2.0.0", "title": "check", "source": API_GATEWAY_SCRIPT}}]
    document = api_document(name="orders", base_path="/orders", execute=execute)
    document["paths"]["/go"] = {"post": {"responses": {"201": {"description": "created"}}}}
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


@pytest.mark.parametrize(
    ("body", "status", "answer", "headers"),
    [
        (b'{"id": 7}', 201, {"order": 7, "note": "urgent", "via": "POST"}, ("yes", False)),
        (b"{", 400, {"error": "the order is not JSON"}, (None, True)),
    ],
)
def test_an_api_gateway_script_runs_unchanged_through_the_gateway(
    sandbox: Catalog,
    actor: Actor,
    client: Client,
    body: bytes,
    status: int,
    answer: dict[str, Any],
    headers: tuple[str | None, bool],
) -> None:
    client_id = publish_posting(sandbox, actor)

    response = client.post(
        f"{GATEWAY}/orders/go",
        data=body,
        content_type="application/json",
        headers={"X-IBM-Client-Id": client_id, "X-Note": "urgent"},
    )

    assert response.status_code == status
    assert json.loads(response.content) == answer
    assert (response.get("X-Checked"), response.has_header("X-Internal")) == headers
