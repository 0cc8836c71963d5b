"""QA findings against issue 13 (the API Connect APIs people really have: gatewayscript, invoke, API properties,
switch, log), found by driving the product from outside. Each failing test is marked ``xfail(strict=True)``
with the finding in its reason, so main stays green and a fix turns it into an XPASS failure; each has a passing
twin that differs in one thing, so no test passes because everything fails. A fixed finding keeps its tests,
without the marker, and its section says "(fixed)"."""

from __future__ import annotations

import runpy
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.backends import Backend, RawBackend, Reply, Seen
from tests.tokens.helpers import api_document
from tests.tokens.test_invoke_shapes import GATEWAY, invoke, publish, script
from tests.wsgi import WsgiAnswer, wsgi_call
from tokens.context import Context
from tokens.errors import AssemblyError, PublishError
from tokens.gatewayscript import GatewayScript, check_count
from tokens.policies.invoke import Invoke
from tokens.services import api_publish, api_save


def call(client_id: str, path: str, **headers: str) -> WsgiAnswer:
    """A call through the product's own WSGI application (the gateway's handler, as gunicorn runs it)."""
    return wsgi_call(f"{GATEWAY}{path}", headers={"X-IBM-Client-Id": client_id, **headers})


def run_script(source: str, path: str, **headers: str) -> Context:
    context = Context(verb="GET", path=path, headers=headers)
    GatewayScript("probe", {"source": source}).run(context)
    return context


# -- 1. (fixed) a call leaves state behind for the next one (unfrozen intrinsics) -----------------------------------
#
# README "gatewayscript": "every object reachable from the global object is frozen, so no call can leave anything
# behind for the next (globals, prototype pollution)". The intrinsics reachable only through a value (the
# prototype of an array iterator, of generator functions, of async functions, of string, map and regexp
# iterators) and the compiled script function itself (``arguments.callee``) are not frozen: one call stores a
# value there, the next call (another caller's) reads it.

STASH_IN_ITERATOR_PROTOTYPE = """
var apim = require('apim');
var shared = Object.getPrototypeOf([].values());
var seen = shared.stash;
try { shared.stash = apim.getvariable('request.headers.authorization'); } catch (e) {}
session.output.write({seen: seen === undefined ? null : seen});
"""
ITERATOR_PROTOTYPE = "Object.getPrototypeOf([].values())"
STASH_IN_OBJECT_PROTOTYPE = STASH_IN_ITERATOR_PROTOTYPE.replace(ITERATOR_PROTOTYPE, "Object.prototype")
STASH_IN_SCRIPT_FUNCTION = STASH_IN_ITERATOR_PROTOTYPE.replace(ITERATOR_PROTOTYPE, "arguments.callee")


@pytest.mark.parametrize("source", [STASH_IN_ITERATOR_PROTOTYPE, STASH_IN_SCRIPT_FUNCTION], ids=["iterator", "callee"])
def test_a_call_cannot_hand_another_callers_data_to_the_next_call(source: str) -> None:
    policy = GatewayScript("stash", {"source": source})
    first, second = (
        Context(verb="GET", path="/a", headers={"Authorization": "Bearer alice"}),
        Context(verb="GET", path="/b", headers={"Authorization": "Bearer mallory"}),
    )

    policy.run(first)
    policy.run(second)

    assert second.get("message.body") == {"seen": None}


def test_a_call_cannot_stash_data_on_a_prototype_reachable_from_the_globals() -> None:
    """The twin: the same script on ``Object.prototype`` (frozen) leaves nothing behind."""
    policy = GatewayScript("stash", {"source": STASH_IN_OBJECT_PROTOTYPE})
    first, second = (
        Context(verb="GET", path="/a", headers={"Authorization": "Bearer alice"}),
        Context(verb="GET", path="/b", headers={"Authorization": "Bearer mallory"}),
    )

    policy.run(first)
    policy.run(second)

    assert second.get("message.body") == {"seen": None}


RESOLVE_LATER = """
var apim = require('apim');
var shared = Object.getPrototypeOf(function* () {});
if (typeof shared.pending === 'function') shared.pending(apim.getvariable('request.path'));
new Promise(function (resolve) { try { shared.pending = resolve; } catch (e) {} }).then(function (path) {
  apim.setvariable('message.body', 'written by the call before, with ' + path);
});
"""


def test_code_of_one_call_does_not_run_inside_the_next() -> None:
    policy = GatewayScript("later", {"source": RESOLVE_LATER})
    first, second = Context(verb="GET", path="/a"), Context(verb="GET", path="/b")

    policy.run(first)
    policy.run(second)

    assert second.get("message.body") is None


def test_a_promise_resolved_in_its_own_call_runs_in_that_call() -> None:
    """The twin: the promise resolved within the call runs its continuation there (the bridge runs the jobs)."""
    source = """
    var apim = require('apim');
    new Promise(function (resolve) { resolve(apim.getvariable('request.path')); }).then(function (path) {
      apim.setvariable('message.body', 'resolved with ' + path);
    });
    """
    context = run_script(source, "/a")

    assert context.get("message.body") == "resolved with /a"


# -- 2. (fixed) a response header name ending in a newline is a 500 --------------------------------------------------
#
# portal/gateway_http.py checks names with ``^[token]+$``: ``$`` also matches before a trailing newline, so
# ``"X-Trace\n"`` passes as a token, and Django then refuses the header (BadHeaderError) with an unexpected 500.


def header_script(name: str) -> str:
    return f"""
    var apim = require('apim');
    apim.setvariable('message.headers.' + {name!r}, 'yes');
    apim.output('text/plain');
    session.output.write('ok');
    """


def test_a_header_name_ending_in_a_newline_is_dropped(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    client_id = publish(sandbox, actor, name="hdr", execute=[script("set header", header_script("X-Trace\n"))])

    answer = call(client_id, "/hdr/go")

    assert answer.status == 200
    assert answer.body == b"ok"


def test_a_header_name_with_a_newline_inside_is_dropped(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    """The twin: the newline in the middle of the name is caught, the header dropped, the answer served."""
    client_id = publish(
        sandbox, actor, name="hdr", execute=[script("set header", header_script("X-Trace\nSet-Cookie: a"))]
    )

    answer = call(client_id, "/hdr/go")

    assert answer.status == 200
    assert answer.body == b"ok"
    assert "set-cookie" not in answer.headers


# -- raw loopback backends: what exactly went over the wire, and backends that answer slowly ------------------


def ok_reply(body: bytes = b'{"ok": true}') -> Any:
    return lambda head: [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(body)
        + body
    ]


class _NoCatalog:
    """A resolver without a catalog: enough for an invoke without a TLS client profile."""


def run_invoke(config: dict[str, Any], **headers: str) -> Context:
    context = Context(verb="GET", path="/go", headers={"X-IBM-Client-Id": "c" * 32, **headers})
    Invoke("backend", config, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return context


# -- 3. (fixed) the whole-call timeout does not hold while a backend trickles its body -------------------------------
#
# README "invoke": "`timeout` (seconds for the whole call, redirects included ...)". egress._read checks the
# deadline only between reads of 64 KiB, and each read waits for 64 KiB or the end: a backend that sends a byte
# now and then (each within the socket timeout) holds the gateway's worker for as long as it likes. Over HTTP
# (runserver, a document with `timeout: 1` and a backend sending 20 bytes 0.3 s apart) the call took 5.7 s.
# The test measures the time as tests/tokens/test_egress.py does for its DNS deadline.

TRICKLE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
# As in tests/tokens/test_egress.py: a margin for a loaded machine, far below what the failure takes.
MARGIN = 1.5


def test_a_backend_that_trickles_its_body_times_out_within_the_call_timeout(settings: LazySettings) -> None:
    with RawBackend(lambda head: [TRICKLE_HEAD, *[b"x"] * 24], pause=0.25) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        started = time.monotonic()
        with pytest.raises(AssemblyError) as failure:
            run_invoke({"target-url": backend.url("/slow"), "timeout": 1})
        elapsed = time.monotonic() - started

    assert failure.value.name == "ConnectionError"
    assert elapsed < 1 + MARGIN  # the whole trickle takes 6 s


def test_a_backend_that_stalls_after_its_headers_times_out(settings: LazySettings) -> None:
    """The twin: the same backend sending nothing after its headers is stopped by the timeout."""
    with RawBackend(lambda head: [TRICKLE_HEAD, b""], pause=2.5) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        started = time.monotonic()
        with pytest.raises(AssemblyError) as failure:
            run_invoke({"target-url": backend.url("/slow"), "timeout": 1})
        elapsed = time.monotonic() - started

    assert failure.value.name == "ConnectionError"
    assert elapsed < 1 + MARGIN


# -- 4. (fixed) credentials follow a redirect to another origin ------------------------------------------------------
#
# egress.egress_request sends the same headers on every hop. A backend (or whoever controls its redirects) that
# answers 302 to another allowed origin receives the caller's Authorization header and the Basic credentials of
# the invoke's username/password (often API properties). Browsers, requests, httpx and urllib3's own redirect
# handling drop Authorization when the origin changes.


def redirecting_to(target: str) -> Any:
    return lambda seen: Reply(302, {"Location": target}, b"")


def landed(seen: Seen) -> Reply:
    return Reply(200, {"Content-Type": "application/json"}, b'{"landed": true}')


@pytest.mark.parametrize("credentials", ["caller", "basic"])
def test_a_redirect_to_another_origin_does_not_carry_the_credentials(settings: LazySettings, credentials: str) -> None:
    with Backend(landed) as other, Backend(redirecting_to(other.url("/landed"))) as first:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{first.port},127.0.0.1:{other.port}"}
        config: dict[str, Any] = {"target-url": first.url("/start")}
        headers = {"Authorization": "Bearer the-callers-token"} if credentials == "caller" else {}
        if credentials == "basic":
            config.update(username="svc", password="s3cret")
        context = run_invoke(config, **headers)

    assert context.get("message.body") == {"landed": True}
    assert "authorization" not in other.seen[0].headers


@pytest.mark.parametrize("credentials", ["caller", "basic"])
def test_a_redirect_within_the_origin_keeps_the_credentials(settings: LazySettings, credentials: str) -> None:
    """The twin: a redirect to the same origin carries them, as every HTTP client does."""

    def answer(seen: Seen) -> Reply:
        return landed(seen) if seen.path == "/landed" else Reply(302, {"Location": "/landed"}, b"")

    with Backend(answer) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        config: dict[str, Any] = {"target-url": backend.url("/start")}
        headers = {"Authorization": "Bearer the-callers-token"} if credentials == "caller" else {}
        if credentials == "basic":
            config.update(username="svc", password="s3cret")
        context = run_invoke(config, **headers)

    assert context.get("message.body") == {"landed": True}
    assert "authorization" in backend.seen[1].headers


# -- 5. (fixed) username/password adds a second Authorization header beside the caller's -----------------------------
#
# invoke._headers forwards the request's headers under their lower-case names and then sets "Authorization"
# (capitalised) for Basic: a caller who sends an Authorization header makes the backend receive two, the
# caller's first. Backends that read the first one see the caller's value, not the API's credentials.


def authorization_lines(backend: RawBackend) -> list[str]:
    return [line for line in backend.header_lines() if line.lower().startswith("authorization:")]


def test_basic_credentials_replace_the_callers_authorization_header(settings: LazySettings) -> None:
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        run_invoke(
            {"target-url": backend.url("/go"), "username": "svc", "password": "s3cret"},
            Authorization="Bearer the-callers-token",
        )

    assert authorization_lines(backend) == ["Authorization: Basic c3ZjOnMzY3JldA=="]


def test_basic_credentials_are_sent_once_without_a_callers_authorization_header(settings: LazySettings) -> None:
    """The twin: no Authorization from the caller, one Basic header."""
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        run_invoke({"target-url": backend.url("/go"), "username": "svc", "password": "s3cret"})

    assert authorization_lines(backend) == ["Authorization: Basic c3ZjOnMzY3JldA=="]


# -- 6. (fixed) a request parameter reaches the URL unencoded through an API property ---------------------------------
#
# README "invoke": "a request parameter's value is percent-encoded where it lands, so a caller cannot add path
# segments or a query". When the URL is an API property that reads the parameter (README "API properties": "one
# that reads the request (`$(request.parameters.region)`) is read per call"), ApiScope.enter interpolates the
# property as plain text and invoke._url encodes only references named request.parameters.*, so the caller's
# `../` and `?` land in the backend URL. Over HTTP: `?region=eu/../../admin?x=1` reached the backend as
# `/regions/eu/../../admin?x=1`.

REGION_TARGET = "/regions/$(request.parameters.region)/items"


def publish_with_property(sandbox: Catalog, actor: Actor, backend: Backend, *, through_property: bool) -> str:
    target = backend.url(REGION_TARGET)
    execute = [invoke("regional service", "$(region-url)" if through_property else target)]
    document = api_document(name="regions", base_path="/regions", execute=execute)
    document["x-ibm-configuration"]["properties"] = {"region-url": {"value": target}}
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


@pytest.fixture
def echo_backend(settings: LazySettings) -> Iterator[Backend]:
    def answer(seen: Seen) -> Reply:
        return Reply(200, {"Content-Type": "text/plain"}, seen.path.encode())

    with Backend(answer) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        yield backend


def test_a_request_parameter_through_a_property_cannot_change_the_backend_path(
    sandbox: Catalog, actor: Actor, demo: Any, echo_backend: Backend
) -> None:
    client_id = publish_with_property(sandbox, actor, echo_backend, through_property=True)

    answer = wsgi_call(
        f"{GATEWAY}/regions/go", query="region=eu/../../admin%3Fx%3D1", headers={"X-IBM-Client-Id": client_id}
    )

    assert answer.status == 200
    assert echo_backend.seen[0].path == "/regions/eu%2F..%2F..%2Fadmin%3Fx%3D1/items"


def test_a_request_parameter_in_the_target_url_cannot_change_the_backend_path(
    sandbox: Catalog, actor: Actor, demo: Any, echo_backend: Backend
) -> None:
    """The twin: the same URL written in target-url itself encodes the parameter."""
    client_id = publish_with_property(sandbox, actor, echo_backend, through_property=False)

    answer = wsgi_call(
        f"{GATEWAY}/regions/go", query="region=eu/../../admin%3Fx%3D1", headers={"X-IBM-Client-Id": client_id}
    )

    assert answer.status == 200
    assert echo_backend.seen[0].path == "/regions/eu%2F..%2F..%2Fadmin%3Fx%3D1/items"


# -- 7. (fixed) the v5-compatible activity-log policy is refused -------------------------------------------------------
#
# Issue 13 ("Neighbours"): "`activity-log` and `log` accepted (they set what is logged)". Documents written for
# the v5-compatible gateway (`gateway: datapower-gateway`) carry activity logging as an `activity-log` policy in
# the assembly (`content`, `error-content`); publishing refuses it as "a policy type the portal does not run".
# Only `x-ibm-configuration.activity-log` and the `log` policy are accepted.


def activity_document(*, as_policy: bool) -> dict[str, Any]:
    answer = {"set-variable": {"title": "answer", "actions": [{"set": "message.body", "value": "ok"}]}}
    execute: list[dict[str, Any]] = [answer]
    if as_policy:
        execute.insert(
            0,
            {"activity-log": {"version": "1.0.0", "title": "activity-log", "content": "activity",
                              "error-content": "payload"}},
        )  # fmt: skip
    document = api_document(name="v5-logged", base_path="/v5-logged", execute=execute)
    document["x-ibm-configuration"]["gateway"] = "datapower-gateway"
    if not as_policy:
        document["x-ibm-configuration"]["activity-log"] = {
            "enabled": True,
            "success-content": "activity",
            "error-content": "payload",
        }
    return document


def test_a_v5_document_with_an_activity_log_policy_publishes(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    api, _ = api_save(organization=sandbox.organization, document=activity_document(as_policy=True), actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    answer = call(demo.client_id, "/v5-logged/go")

    assert (answer.status, answer.body) == (200, b"ok")


def test_a_v5_document_with_activity_log_settings_publishes(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    """The twin: the same logging written as `x-ibm-configuration.activity-log` is accepted."""
    api, _ = api_save(organization=sandbox.organization, document=activity_document(as_policy=False), actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    answer = call(demo.client_id, "/v5-logged/go")

    assert (answer.status, answer.body) == (200, b"ok")


# -- 8. (fixed) one document of many small gatewayscripts takes the worker's memory and minutes of CPU ----------------
#
# Each gatewayscript policy compiles its own QuickJS engine (the bridge loaded and every reachable object
# frozen: about 0.4 MiB and 10-50 ms each), one per distinct source, kept for as long as the publication is
# served, and again in every thread and process that serves it. Nothing bounds how many one document may hold.
# Over HTTP (runserver): a 180 KB document of 2,000 one-line scripts published in 32 s, and the server grew from
# 415 MB to 1.8 GB; the REST API's 1 MiB body holds some 11,000 of them. Worse, every fresh gunicorn worker
# compiles the catalog before its first answer: with that API published in sandbox, the first call to the demo's
# unrelated /securetoken/generate on a new worker ran past GUNICORN_TIMEOUT=120 (worker at 805 MB, "WORKER
# TIMEOUT", a 500), so with the default 30 s every worker is killed while warming up and the whole catalog
# stays down. The test stands in a cheap engine (so it runs in a second either way) and checks only that such
# a document is refused before it is compiled.


class _CheapEngine:
    """Stands in for tokens.gatewayscript._Engine: counts the engines a publish would build."""

    built = 0

    def __init__(self, source: str, limits: Any) -> None:
        self.limits = limits
        _CheapEngine.built += 1


def save_and_publish(sandbox: Catalog, actor: Actor, document: dict[str, Any]) -> None:
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)


@pytest.fixture
def cheap_engines(monkeypatch: pytest.MonkeyPatch, settings: LazySettings) -> None:
    """Cheap engines for this test only: changing GATEWAYSCRIPT empties the process's compiled scripts now and
    again when the test ends, so no later test gets a script compiled with a stand-in engine."""
    settings.GATEWAYSCRIPT = {}
    monkeypatch.setattr("tokens.gatewayscript._Engine", _CheapEngine)
    _CheapEngine.built = 0


def scripts_document(count: int) -> dict[str, Any]:
    execute = [script(f"step {n}", f"/* qa finding 8 */ session.output.write({n});") for n in range(count)]
    return api_document(name="many-scripts", base_path="/many-scripts", execute=execute)


def test_a_document_of_thousands_of_scripts_is_refused_before_compiling_them(
    sandbox: Catalog, actor: Actor, cheap_engines: None
) -> None:
    document = scripts_document(5000)

    with pytest.raises(PublishError):
        save_and_publish(sandbox, actor, document)
    assert _CheapEngine.built < 5000


def test_a_document_of_a_few_scripts_publishes(sandbox: Catalog, actor: Actor, cheap_engines: None) -> None:
    """The twin: 20 scripts publish, each checked; no engine is built until a call needs one."""
    checked = check_count()

    save_and_publish(sandbox, actor, scripts_document(20))

    assert check_count() - checked == 20
    assert _CheapEngine.built == 0


# -- 9. (fixed) the API gateway's message idioms fail with a bare TypeError -------------------------------------------
#
# DESIGN.md 3a: "Unsupported calls fail naming the call." IBM's DataPower API gateway documents a message
# object with `header.get/set/remove` and `body.readAsJSON/readAsBuffer/write`, on `context.message` and
# `context.request` ("context object for the API gateway"), and says its gatewayscript "emulates the behavior of
# the session object and the header-metadata module ... without modification". Scripts written that way fail
# here with "TypeError: cannot read property 'set' of undefined" (or "... of null"), which names neither the
# call nor the fact that the portal does not offer it. `require('header-metadata')` is refused by name.
# Either running them or naming them would meet the contract; today neither happens.

API_GATEWAY_IDIOMS = {
    "message.header.set": "context.message.header.set('X-Checked', 'yes');",
    "request.header.get": "session.output.write(String(context.request.header.get('x-note')));",
    "message.body.readAsJSON": "context.message.body.readAsJSON(function (e, json) { session.output.write(json); });",
    "message.body.write": "context.message.body.write({checked: true});",
    "session.input.readAsJSON": "session.input.readAsJSON(function (e, json) { session.output.write(json); });",
}


def outcome_of(source: str) -> str:
    """'ran' or the JavaScriptError's message."""
    context = Context(verb="POST", path="/go", headers={"X-Note": "n"}, body=b'{"a": 1}')
    try:
        GatewayScript("idiom", {"source": source}).run(context)
    except AssemblyError as e:
        return str(e)
    return "ran"


@pytest.mark.parametrize("idiom", list(API_GATEWAY_IDIOMS))
def test_an_api_gateway_message_idiom_runs_or_fails_naming_the_call(idiom: str) -> None:
    outcome = outcome_of(API_GATEWAY_IDIOMS[idiom])

    assert outcome == "ran" or idiom.rsplit(".", 1)[0] in outcome


def test_an_unsupported_module_fails_naming_the_call() -> None:
    """The twin: another unsupported DataPower call, require('header-metadata'), is named."""
    outcome = outcome_of("var hm = require('header-metadata'); hm.response.set('X-Checked', 'yes');")

    assert "require('header-metadata') is not available" in outcome


# -- 10. (fixed) path parameters are percent-decoded twice ---------------------------------------------------------
#
# The server decodes the path once (PATH_INFO); tokens.context.Context.path_parameters unquotes each parameter
# again. A caller's `/items/%2541` gives `request.parameters.id` = "A" (not "%41"), and `/items/%252F` gives "/",
# a path parameter holding a slash, which a path segment cannot hold. Whatever checked the path before the
# gateway (a WAF, an allow list in a script) saw another value than the API reads (CWE-174).

READ_ID = "var apim = require('apim'); session.output.write({id: apim.getvariable('request.parameters.id')});"


def publish_items(sandbox: Catalog, actor: Actor) -> str:
    return publish(sandbox, actor, name="items", paths=("/items/{id}",), execute=[script("read id", READ_ID)])


@pytest.mark.parametrize(("sent", "read"), [("%2541", "%41"), ("%252F", "%2F")])
def test_a_path_parameter_is_decoded_once(sandbox: Catalog, actor: Actor, demo: Any, sent: str, read: str) -> None:
    client_id = publish_items(sandbox, actor)

    # PATH_INFO as the server hands it: the path decoded once.
    answer = wsgi_call(f"{GATEWAY}/items/items/{read}", headers={"X-IBM-Client-Id": client_id})

    assert answer.status == 200
    assert answer.body == b'{"id": "%s"}' % read.encode()


def test_a_query_parameter_is_decoded_once(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    """The twin: the same value sent as a query parameter reads as sent, decoded once."""
    source = "var apim = require('apim'); session.output.write({id: apim.getvariable('request.parameters.key')});"
    client_id = publish(sandbox, actor, name="items", paths=("/items/{id}",), execute=[script("read", source)])

    answer = wsgi_call(f"{GATEWAY}/items/items/x", query="key=%2541", headers={"X-IBM-Client-Id": client_id})

    assert answer.status == 200
    assert answer.body == b'{"id": "%41"}'


# -- 11. (fixed) invoke sends message.headers unchecked: a caller's non-Latin-1 value is a 500 ------------------------
#
# A set-variable (or a script) that copies a request parameter into message.headers before an invoke is a common
# shape. http.client encodes header values as Latin-1, so a caller who sends `?user=Łukasz` makes the invoke raise
# UnicodeEncodeError, which is not an EgressError: the answer is the gateway's unexpected 500 ("The gateway could
# not answer this call"), not a ConnectionError a catch can handle (DESIGN.md 4: "Never a 500 for bad input").
# The same happens for a header name that is not a token (a script's `message.headers.X-A\n`, `X-A:`, `X-é`).


def publish_user_header(sandbox: Catalog, actor: Actor, backend: RawBackend) -> str:
    copy = {"set-variable": {"title": "user header", "actions": [
        {"set": "message.headers.X-User", "value": "$(request.parameters.user)", "type": "string"}]}}  # fmt: skip
    return publish(sandbox, actor, name="users", execute=[copy, invoke("user service", backend.url("/users"))])


def test_a_callers_non_latin1_value_in_a_forwarded_header_is_not_a_500(
    sandbox: Catalog, actor: Actor, demo: Any, settings: LazySettings
) -> None:
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        client_id = publish_user_header(sandbox, actor, backend)

        answer = wsgi_call(f"{GATEWAY}/users/go", query="user=%C5%81ukasz", headers={"X-IBM-Client-Id": client_id})

    assert answer.status != 500 or b"could not answer this call" not in answer.body


def test_a_callers_latin1_value_in_a_forwarded_header_is_sent(
    sandbox: Catalog, actor: Actor, demo: Any, settings: LazySettings
) -> None:
    """The twin: a value that Latin-1 can hold (`Jos%C3%A9`) goes to the backend."""
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        client_id = publish_user_header(sandbox, actor, backend)

        answer = wsgi_call(f"{GATEWAY}/users/go", query="user=Jos%C3%A9", headers={"X-IBM-Client-Id": client_id})

    assert answer.status == 200
    assert "X-User: Jos\xe9" in backend.header_lines()


# -- 12. (fixed) invoke may wait longer than gunicorn lets a worker live ----------------------------------------------
#
# README "invoke": `timeout` defaults to 60 s and may be up to PORTAL_INVOKE_MAX_TIMEOUT_SECONDS (60); the API
# Connect editor writes `timeout: 60` on every invoke. gunicorn.conf.py kills a sync worker after
# GUNICORN_TIMEOUT, 30 s by default. A backend answering in 30 to 60 s gets the worker killed: no
# ConnectionError, no catch, and the worker's queued call-log lines lost (README "Running in production": "only
# a worker killed outright (SIGKILL, or gunicorn's timeout) loses what it still held"). Seen on gunicorn with
# GUNICORN_TIMEOUT=3 and an invoke with `timeout: 10` and a ConnectionError catch: "WORKER TIMEOUT", and the
# caller got gunicorn's HTML "Internal Server Error" page, not the gateway's JSON shape.

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def gunicorn_timeout(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> int:
    for name in ("GUNICORN_TIMEOUT", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return int(runpy.run_path(str(GUNICORN_CONF))["timeout"])


def test_the_longest_invoke_ends_before_gunicorn_kills_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from tokens.egress import DEFAULTS

    assert DEFAULTS["MAX_TIMEOUT_SECONDS"] < gunicorn_timeout(monkeypatch, {})


def test_with_a_longer_worker_timeout_the_longest_invoke_ends_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin: GUNICORN_TIMEOUT=90 leaves room for the longest invoke."""
    from tokens.egress import DEFAULTS

    assert DEFAULTS["MAX_TIMEOUT_SECONDS"] < gunicorn_timeout(monkeypatch, {"GUNICORN_TIMEOUT": "90"})


# -- 13. (fixed) an allowed name that resolves to an IETF-reserved or 6to4-wrapped internal address is called ---------
#
# README "Egress guard": a name "that resolves or rebinds to an internal address gets nowhere: loopback, private,
# link-local (cloud metadata), shared and reserved addresses are refused". egress.is_internal_address leans on
# Python's `is_global`, which counts 192.0.0.0/24 beyond its first /29 (IANA: not globally reachable; 192.0.0.192
# is Oracle Cloud's legacy metadata address) and 6to4 addresses (2002::/16) wrapping 169.254.169.254 or
# 127.0.0.1 as global. NAT64 (64:ff9b::/96) wrappings are refused, as they should be.


@pytest.fixture
def partner_resolves_to(monkeypatch: pytest.MonkeyPatch, settings: LazySettings) -> Any:
    from tokens import egress

    def stand_in(address: str) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        answer = [(family, socket.SOCK_STREAM, 6, "", (address, 80))]
        monkeypatch.setattr(egress, "_getaddrinfo", lambda host, port: answer)

    settings.INVOKE = {"ALLOW": "api.partner.test"}
    return stand_in


def refusal_for(resolved: str, stand_in: Any) -> str | None:
    from tokens import egress

    stand_in(resolved)
    try:
        egress.checked_address("api.partner.test", 80, egress.egress_settings().allow, deadline=time.monotonic() + 5)
    except egress.EgressError as e:
        return str(e)
    return None


@pytest.mark.parametrize("resolved", ["192.0.0.192", "2002:a9fe:a9fe::1", "2002:7f00:1::1"])
def test_an_allowed_name_resolving_to_a_wrapped_internal_address_is_refused(
    partner_resolves_to: Any, resolved: str
) -> None:
    refusal = refusal_for(resolved, partner_resolves_to)

    assert refusal is not None
    assert "internal address" in refusal


@pytest.mark.parametrize("resolved", ["169.254.169.254", "64:ff9b::a9fe:a9fe", "::ffff:169.254.169.254"])
def test_an_allowed_name_resolving_to_the_metadata_address_is_refused(partner_resolves_to: Any, resolved: str) -> None:
    """The twin: the metadata address itself, and its NAT64 and IPv4-mapped forms, are refused."""
    refusal = refusal_for(resolved, partner_resolves_to)

    assert refusal is not None
    assert "internal address" in refusal


# -- 14. (fixed) the console's trace token goes to the backend ------------------------------------------------------
#
# tokens/trace.py: the Test page sends a signed trace token (valid 8 hours) in X-Portal-Trace, and "without a
# token issued by the console, a gateway call writes nothing: an outside caller cannot fill the cache". invoke
# forwards every request header it does not list in _NOT_SENT, the trace token and the X-Request-Id with it, so
# the backend (often a third party's) holds a console-issued token for a working day, and can write trace
# records (what the operator's Test page then shows as the call's backend calls) under request ids of its choice.


def test_the_consoles_trace_token_is_not_forwarded_to_the_backend(settings: LazySettings) -> None:
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        run_invoke({"target-url": backend.url("/go")}, **{"X-Portal-Trace": "signed-console-token"})

    assert not [line for line in backend.header_lines() if line.lower().startswith("x-portal-trace")]


def test_an_ordinary_request_header_is_forwarded_to_the_backend(settings: LazySettings) -> None:
    """The twin: another request header goes to the backend, as in API Connect."""
    with RawBackend(ok_reply()) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        run_invoke({"target-url": backend.url("/go")}, **{"X-Portal-Note": "signed-console-token"})

    assert [line for line in backend.header_lines() if line.lower().startswith("x-portal-note")]


# -- 15. (fixed) a script's U+0085 or U+2028 does not survive export and import ------------------------------------
#
# DESIGN.md 2: "the document is the source of truth, so YAML import and export are lossless". Documents are read
# with the YAML loader (tokens.documents.document_load, also behind the REST API's JSON parser), and YAML folds
# the line breaks U+0085, U+2028 and U+2029 inside a quoted scalar. document_dump writes them raw (as
# `export_api --format json|yaml` and JavaScript's JSON.stringify do), so `var s = "a\x85b";` comes back as
# `var s = "a b";` from either format, and in JSON `"café \u2028 z"` comes back `"café\u2028z"`. A gatewayscript
# whose string literal holds one changes what it does.


def round_trip(source: str, fmt: str) -> str:
    from tokens.documents import document_dump, document_load

    document = api_document(name="lossless", base_path="/lossless", execute=[script("s", source)])
    back = document_load(document_dump(document, fmt=fmt))
    return str(back["x-ibm-configuration"]["assembly"]["execute"][0]["gatewayscript"]["source"])


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_export_of_a_script_with_a_next_line_character_imports_back_unchanged(fmt: str) -> None:
    source = 'var s = "a\x85b";\n'

    assert round_trip(source, fmt) == source


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_export_of_a_script_with_other_characters_imports_back_unchanged(fmt: str) -> None:
    """The twin: a tab and non-ASCII letters instead of the next-line character come back as they were."""
    source = 'var s = "caf\u00e9\tb";\n'

    assert round_trip(source, fmt) == source


# -- 16. (fixed) an informational (1xx) status becomes the final answer ---------------------------------
#
# http.client skips only `100 Continue`; a backend that sends `103 Early Hints` (nginx, HAProxy and CDNs do)
# before its answer gets the 103 taken as the response: invoke sets message.status.code to 103, the real 200 and
# its body are lost. And any 1xx in message.status.code (from a backend or a script) is sent as the gateway's
# final answer: on gunicorn `HTTP/1.1 101 Switching Protocols` or `100 Continue` with `Content-Length: 0`, which a
# client reads as an interim answer and keeps waiting for the real one, or as a protocol switch. README "Gateway
# contract" answers a status "no HTTP answer can carry" with the gateway's error; 1xx are not refused.

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
FINAL_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"


def test_a_backends_early_hints_are_skipped_for_its_answer(settings: LazySettings) -> None:
    with RawBackend(lambda head: [EARLY_HINTS, FINAL_ANSWER + b'{"ok": true}']) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        context = run_invoke({"target-url": backend.url("/hinted")})

    assert context.get("message.status.code") == 200
    assert context.get("message.body") == {"ok": True}


def test_a_backends_answer_without_early_hints_is_read(settings: LazySettings) -> None:
    """The twin: the same answer without the 103 before it."""
    with RawBackend(lambda head: [FINAL_ANSWER + b'{"ok": true}']) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        context = run_invoke({"target-url": backend.url("/hinted")})

    assert context.get("message.status.code") == 200
    assert context.get("message.body") == {"ok": True}


def status_script(code: int) -> str:
    return f"var apim = require('apim'); apim.setvariable('message.status.code', {code}); session.output.write('x');"


@pytest.mark.parametrize("code", [100, 101, 103])
def test_an_informational_status_is_never_the_final_answer(
    sandbox: Catalog, actor: Actor, demo: Any, code: int
) -> None:
    client_id = publish(sandbox, actor, name="informational", execute=[script("status", status_script(code))])

    answer = call(client_id, "/informational/go")

    assert answer.status >= 200


def test_a_no_content_status_is_the_final_answer(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    """The twin: 204 from the same script is answered as it is."""
    client_id = publish(sandbox, actor, name="informational", execute=[script("status", status_script(204))])

    answer = call(client_id, "/informational/go")

    assert answer.status == 204


# -- 17. (fixed) API Connect's request.search / request.querystring read as empty -------------------------------------
#
# The proxy idiom of API Connect documents, `target-url: $(target-url)$(request.path)$(request.search)`, uses
# the context variable request.search (the query string with its `?`; request.querystring without it). The
# portal does not know them and reads any unknown variable as "": the document publishes, and every call goes
# to the backend without the caller's query, silently (DESIGN.md 3: "silently skipping a policy would change
# what the API does"; the same holds for a variable).


def test_the_proxy_idiom_forwards_the_query_string(
    sandbox: Catalog, actor: Actor, demo: Any, echo_backend: Backend
) -> None:
    target = echo_backend.url("") + "$(request.path)$(request.search)"
    client_id = publish(sandbox, actor, name="proxy", paths=("/items/{id}",), execute=[invoke("proxy", target)])

    answer = wsgi_call(f"{GATEWAY}/proxy/items/7", query="q=1&r=2", headers={"X-IBM-Client-Id": client_id})

    assert answer.status == 200
    assert echo_backend.seen[0].path == "/items/7?q=1&r=2"


def test_the_proxy_idiom_forwards_a_named_query_parameter(
    sandbox: Catalog, actor: Actor, demo: Any, echo_backend: Backend
) -> None:
    """The twin: the query written out with request.parameters reaches the backend."""
    target = echo_backend.url("") + "$(request.path)?q=$(request.parameters.q)&r=$(request.parameters.r)"
    client_id = publish(sandbox, actor, name="proxy", paths=("/items/{id}",), execute=[invoke("proxy", target)])

    answer = wsgi_call(f"{GATEWAY}/proxy/items/7", query="q=1&r=2", headers={"X-IBM-Client-Id": client_id})

    assert answer.status == 200
    assert echo_backend.seen[0].path == "/items/7?q=1&r=2"


# -- 18. (fixed) a lone surrogate from the caller's JSON makes the answer a 500 ----------------------------------------
#
# `{"name": "\ud800"}` is valid JSON (RFC 8259 allows the escape; JSON.parse and Python's json read it). A script
# that answers a field of the request body (`apim.readInputAsJSON`, then `session.output.write(json.name)`)
# hands the gateway a string it cannot encode as UTF-8: the answer is the unexpected 500 ("The gateway could not
# answer this call"), for the caller's input (DESIGN.md 4: "Never a 500 for bad input"). The same string in a
# header value (apim.setvariable of message.headers) is a 500 too.

ECHO_NAME = """
var apim = require('apim');
apim.readInputAsJSON(function (error, json) { session.output.write(json.name); });
"""


def echo_name(sandbox: Catalog, actor: Actor, body: bytes) -> WsgiAnswer:
    client_id = publish(sandbox, actor, name="echo-name", execute=[script("echo name", ECHO_NAME)])
    return wsgi_call(
        f"{GATEWAY}/echo-name/go",
        headers={"X-IBM-Client-Id": client_id, "Content-Type": "application/json"},
        body=body,
    )


def test_a_lone_surrogate_from_the_callers_json_is_not_a_500(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    answer = echo_name(sandbox, actor, b'{"name": "\\ud800"}')

    assert answer.status != 500


def test_an_escaped_letter_from_the_callers_json_is_answered(sandbox: Catalog, actor: Actor, demo: Any) -> None:
    """The twin: a valid escape (é) in the same place is answered."""
    answer = echo_name(sandbox, actor, b'{"name": "\\u00e9"}')

    assert answer.status == 200
    assert answer.body == "é".encode()


# -- 19. (fixed) `cache-response: protocol` is accepted but nothing is cached ------------------------------------------
#
# README "invoke": the editor's settings "are accepted where the portal behaves the same". API Connect's
# `cache-response: protocol` (the editor's default) caches a GET response as its Cache-Control says; the portal
# accepts the setting and calls the backend every time. The JWKS shape (worked example 3) then fetches the
# identity provider's key set on every call, whatever its `Cache-Control: max-age`.


def jwks_backend() -> Backend:
    def answer(seen: Seen) -> Reply:
        return Reply(200, {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}, b'{"keys": []}')

    return Backend(answer)


def test_a_cacheable_response_is_not_fetched_again_with_protocol_caching(settings: LazySettings) -> None:
    with jwks_backend() as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        policy = Invoke("fetch jwks", {"target-url": backend.url("/jwks"), "verb": "GET", "cache-response": "protocol",
                                       "output": "idp"}, _NoCatalog())  # type: ignore[arg-type]  # fmt: skip
        for _ in range(2):
            policy.run(Context(verb="GET", path="/go", headers={}))

    assert len(backend.seen) == 1


def test_a_response_is_fetched_every_time_with_no_cache(settings: LazySettings) -> None:
    """The twin: with `cache-response: no-cache` each call goes to the backend."""
    with jwks_backend() as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        policy = Invoke("fetch jwks", {"target-url": backend.url("/jwks"), "verb": "GET", "cache-response": "no-cache",
                                       "output": "idp"}, _NoCatalog())  # type: ignore[arg-type]  # fmt: skip
        for _ in range(2):
            policy.run(Context(verb="GET", path="/go", headers={}))

    assert len(backend.seen) == 2
