"""The gatewayscript policy (DESIGN.md section 3a): the IBM JWT tutorial's shapes end to end through the
gateway, the DataPower API subset, the sandbox (each escape beside a twin that works), limits, and reuse of
the compiled script."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import jwt
import pytest
from django.conf import LazySettings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from portal.console import OPERATORS
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import JWK_SECRET, api_document, b64url, make_context
from tests.wsgi import wsgi_call
from tokens import editor
from tokens.errors import AssemblyError, PolicyConfigError
from tokens.gatewayscript import GatewayScript, check_count, compile_count, script_limits
from tokens.services import api_publish, api_save

GATEWAY = "/personal/sandbox"
TUTORIAL_JWK = {"kty": "oct", "kid": "tutorial-hs256", "alg": "HS256", "k": b64url(JWK_SECRET)}

CLAIMS_SCRIPT = """
var apim = require('apim');
var claims = {
  'scope': 'read write',
  'department': apim.getvariable('request.headers.department') || 'none',
  'verb': apim.getvariable('request.verb')
};
apim.setvariable('tutorial.private-claims', JSON.stringify(claims));
"""
ANSWER_JWT_SCRIPT = """
var apim = require('apim');
apim.output('application/json');
session.output.write({"jwt": apim.getvariable('generated.jwt')});
"""
ANSWER_CLAIMS_SCRIPT = """
var apim = require('apim');
apim.output('application/json');
session.output.write(JSON.stringify(apim.getvariable('decoded.claims')));
"""
CATCH_SCRIPT = """
var apim = require('apim');
apim.output('application/json');
context.message.statusCode = 401;
session.output.write({"error": apim.getvariable('jwt-validate.error-message')});
"""


def script(title: str, source: str) -> dict[str, Any]:
    return {"gatewayscript": {"version": "2.0.0", "title": title, "source": source}}


def publish(sandbox: Catalog, actor: Actor, *, name: str, execute: list[dict[str, Any]], **options: Any) -> str:
    """Publish a small API at /<name> (paths /go unless given) and return a client id subscribed to it."""
    document = api_document(name=name, base_path=f"/{name}", execute=execute, **options)
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


def call(client: Client, client_id: str, path: str, **headers: str) -> Any:
    return client.get(f"{GATEWAY}{path}", headers={"X-IBM-Client-Id": client_id, **headers})


def tutorial_execute() -> list[dict[str, Any]]:
    jwk = {"set-variable": {"title": "jwk", "actions": [{"set": "hs256-key", "value": TUTORIAL_JWK, "type": "object"}]}}
    generate = [
        script("build claims", CLAIMS_SCRIPT),
        {
            "jwt-generate": {
                "title": "generate",
                "jwt": "generated.jwt",
                "iss-claim": "request.headers.iss-claim",
                "aud-claim": "request.headers.aud-claim",
                "exp-claim": 300,
                "private-claims": "tutorial.private-claims",
                "jws-alg": "HS256",
                "jws-jwk": "hs256-key",
            }
        },
        script("answer jwt", ANSWER_JWT_SCRIPT),
    ]
    validate = [
        {
            "jwt-validate": {
                "title": "validate",
                "jwt": "request.headers.authorization",
                "output-claims": "decoded.claims",
                "iss-claim": "^apic$",
                "aud-claim": "^id1$",
                "jws-jwk": "hs256-key",
            }
        },
        script("answer claims", ANSWER_CLAIMS_SCRIPT),
    ]
    switch = {
        "title": "route",
        "case": [
            {"operations": [{"verb": "get", "path": "/generate"}], "execute": generate},
            {"operations": [{"verb": "get", "path": "/validate"}], "execute": validate},
        ],
    }
    return [jwk, {"operation-switch": switch}]


@pytest.fixture
def tutorial(sandbox: Catalog, actor: Actor) -> str:
    return publish(
        sandbox,
        actor,
        name="tutorial",
        execute=tutorial_execute(),
        paths=("/generate", "/validate"),
        catch=[{"default": [script("explain", CATCH_SCRIPT)]}],
    )


# -- the IBM JWT tutorial, end to end -----------------------------------------------------------------------


def test_the_tutorial_generates_a_jwt_with_script_built_claims_and_answers_it_as_json(
    tutorial: str, client: Client
) -> None:
    response = call(
        client, tutorial, "/tutorial/generate", **{"iss-claim": "apic", "aud-claim": "id1"}, department="r&d"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    token = response.json()["jwt"]
    claims = jwt.decode(token, JWK_SECRET, algorithms=["HS256"], audience="id1", issuer="apic")
    assert (claims["scope"], claims["department"], claims["verb"]) == ("read write", "r&d", "GET")


def test_the_tutorial_validates_and_answers_the_decoded_claims(tutorial: str, client: Client) -> None:
    generated = call(client, tutorial, "/tutorial/generate", **{"iss-claim": "apic", "aud-claim": "id1"})
    token = generated.json()["jwt"]

    response = call(client, tutorial, "/tutorial/validate", Authorization=f"Bearer {token}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    claims = response.json()
    assert (claims["iss"], claims["aud"], claims["scope"]) == ("apic", "id1", "read write")


def test_the_tutorial_default_catch_answers_the_validation_error_as_json(tutorial: str, client: Client) -> None:
    generated = call(client, tutorial, "/tutorial/generate", **{"iss-claim": "someone", "aud-claim": "id1"})
    token = generated.json()["jwt"]

    response = call(client, tutorial, "/tutorial/validate", Authorization=f"Bearer {token}")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "JWT validation failed, because the issuer claim \"someone\" does not match '^apic$'"
    }


# -- the DataPower API subset -------------------------------------------------------------------------------


def test_apim_error_raises_a_named_error_that_a_catch_on_that_name_handles(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    raising = "require('apim').error('ConnectionError', 503, 'Service Unavailable', 'the backend is down')"
    quiet = "require('apim').setvariable('message.body', 'all good')"
    handler = {"set-variable": {"title": "say", "actions": [{"set": "message.body", "value": "$(error.message)"}]}}
    catch = [{"errors": ["ConnectionError"], "execute": [handler]}]
    client_id = publish(sandbox, actor, name="raising", execute=[script("raise", raising)], catch=catch)
    publish(sandbox, actor, name="quiet", execute=[script("raise", quiet)], catch=catch)

    raised = call(client, client_id, "/raising/go")
    calm = call(client, client_id, "/quiet/go")

    assert (raised.status_code, raised.content) == (503, b"the backend is down")
    assert (calm.status_code, calm.content) == (200, b"all good")


def test_an_uncaught_apim_error_answers_in_the_gateway_shape_with_its_status(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    source = "var apim = require('apim'); apim.error('UnauthorizedError', 401, 'Unauthorized', 'no entry')"
    client_id = publish(sandbox, actor, name="refuse", execute=[script("refuse", source)])

    response = call(client, client_id, "/refuse/go")

    assert response.status_code == 401
    assert response.json() == {"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": "no entry"}


def test_context_reads_the_request_and_writes_the_message(sandbox: Catalog, actor: Actor, client: Client) -> None:
    source = """
    var request = context.request;
    context.message.headers['X-Seen-Path'] = request.path;
    context.message.statusCode = 201;
    context.set('message.headers.x-verb', request.verb);
    session.output.write({
      path: context.get('request.path'),
      agent: request.headers['x-agent'],
      query: request.parameters.q,
      uri: request.uri
    });
    """
    client_id = publish(sandbox, actor, name="ctx", execute=[script("ctx", source)])

    response = client.get(f"{GATEWAY}/ctx/go?q=1", headers={"X-IBM-Client-Id": client_id, "X-Agent": "tests"})

    assert response.status_code == 201
    assert (response["X-Seen-Path"], response["X-Verb"]) == ("/go", "GET")
    uri = "http://testserver/personal/sandbox/ctx/go?q=1"
    assert response.json() == {"path": "/go", "agent": "tests", "query": "1", "uri": uri}


def test_a_script_cannot_set_cookies_or_security_headers(sandbox: Catalog, actor: Actor) -> None:
    source = """
    var apim = require('apim');
    apim.setvariable('message.headers.Set-Cookie', 'session=stolen');
    context.message.headers['Content-Security-Policy'] = "default-src *";
    apim.setvariable('message.headers.X-Allowed', 'yes');
    session.output.write('headers');
    """
    client_id = publish(sandbox, actor, name="cookies", execute=[script("cookies", source)])

    # Through the gateway's own handler (the test client would add the console's headers).
    answer = wsgi_call(f"{GATEWAY}/cookies/go", headers={"X-IBM-Client-Id": client_id})

    assert (answer.status, answer.body, answer.headers["x-allowed"]) == (200, b"headers", "yes")
    assert "set-cookie" not in answer.headers
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_a_script_never_sees_the_consoles_cookies(sandbox: Catalog, actor: Actor) -> None:
    source = """
    var headers = context.request.headers;
    session.output.write([require('apim').getvariable('request.headers.cookie'), headers.cookie, headers['x-note']]);
    """
    client_id = publish(sandbox, actor, name="cookie-reader", execute=[script("reader", source)])

    answer = wsgi_call(
        f"{GATEWAY}/cookie-reader/go",
        headers={"X-IBM-Client-Id": client_id, "Cookie": "sessionid=s3ss10n", "X-Note": "visible"},
    )

    assert (answer.status, json.loads(answer.body)) == (200, [None, None, "visible"])


def test_context_reject_fails_the_call_with_the_named_error(sandbox: Catalog, actor: Actor, client: Client) -> None:
    rejecting = "context.message.statusCode = 403; context.reject('ForbiddenError', 'not for you')"
    accepting = "context.message.statusCode = 403; session.output.write('not for you')"
    client_id = publish(sandbox, actor, name="reject", execute=[script("gate", rejecting)])
    publish(sandbox, actor, name="accept", execute=[script("gate", accepting)])

    rejected = call(client, client_id, "/reject/go")
    accepted = call(client, client_id, "/accept/go")

    assert rejected.json() == {"httpCode": "403", "httpMessage": "Forbidden", "moreInformation": "not for you"}
    assert (accepted.status_code, accepted.content) == (403, b"not for you")


def test_variables_cross_as_json_values_only() -> None:
    source = """
    var apim = require('apim');
    apim.setvariable('plain', {n: 1, list: [true, null, 'x'], nested: {deep: 2.5}});
    apim.setvariable('fn', function () { return 1; });
    apim.setvariable('undef', undefined);
    apim.setvariable('sub', apim.getvariable('claims.sub'));
    apim.setvariable('body', apim.getvariable('message.body'));
    apim.setvariable('missing', apim.getvariable('no.such.variable') === undefined);
    """
    context = make_context()
    context.set("claims", {"sub": "alice"})
    context.set("message.body", b"raw \xff bytes")

    GatewayScript("crossing", {"source": source}).run(context)

    assert context.get("plain") == {"n": 1, "list": [True, None, "x"], "nested": {"deep": 2.5}}
    assert (context.get("fn"), context.get("undef"), context.get("sub")) == (None, None, "alice")
    assert (context.get("body"), context.get("missing")) == ("raw \ufffd bytes", True)


@pytest.mark.parametrize(("body", "answer"), [(b'{"count": 1}', {"count": 2}), (b"not json", {"error": "SyntaxError"})])
def test_read_input_as_json_hands_the_body_or_the_parse_error_to_the_callback(body: bytes, answer: Any) -> None:
    source = """
    require('apim').readInputAsJSON(function (error, json) {
      session.output.write(error ? {error: error.name} : {count: json.count + 1});
    });
    """
    context = make_context()
    context.set("message.body", body)

    GatewayScript("reader", {"source": source}).run(context)

    assert context.get("message.body") == answer


def test_setvariable_sets_adds_and_clears_as_set_variable_does() -> None:
    source = """
    var apim = require('apim');
    apim.setvariable('message.headers.X-Trace', 'one');
    apim.setvariable('message.headers.X-Trace', 'two', 'add');
    apim.setvariable('gone', null, 'clear');
    apim.setvariable('kept', 'yes', 'set');
    """
    context = make_context()
    context.set("gone", "soon")

    GatewayScript("actions", {"source": source}).run(context)

    assert (context.get("message.headers.x-trace"), context.get("kept")) == ("one, two", "yes")
    assert "gone" not in context.variables
    with pytest.raises(AssemblyError, match="the action must be 'set', 'add' or 'clear', not 'merge'"):
        GatewayScript("actions", {"source": "require('apim').setvariable('a', 1, 'merge')"}).run(make_context())


def test_console_lines_go_to_the_log_bounded_per_call(caplog: pytest.LogCaptureFixture) -> None:
    few = GatewayScript("few", {"source": "console.log('one', {a: 1}); console.error('two')"})
    many = GatewayScript("many", {"source": "for (var i = 0; i < 30; i++) console.info('line ' + i)"})

    with caplog.at_level(logging.DEBUG, logger="tokens.gatewayscript"):
        few.run(make_context())
        few_records = list(caplog.records)
        caplog.clear()
        many.run(make_context())

    assert [(r.levelno, r.getMessage()) for r in few_records] == [
        (logging.INFO, "gatewayscript policy 'few' console: one {\"a\":1}"),
        (logging.ERROR, "gatewayscript policy 'few' console: two"),
    ]
    kept = [r for r in caplog.records if "console: line" in r.getMessage()]
    assert len(kept) == script_limits().log_lines
    assert caplog.records[-1].getMessage() == (
        "gatewayscript policy 'many': 10 console lines over the limit of 20 were dropped"
    )


# -- publishing ---------------------------------------------------------------------------------------------


def test_a_syntax_error_fails_publishing_naming_the_policy(sandbox: Catalog, actor: Actor) -> None:
    document = api_document(name="broken", base_path="/broken", execute=[script("claims", "var = ;")])
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    fixed = api_document(name="broken", base_path="/broken", execute=[script("claims", "var ok = 1;")])

    with pytest.raises(PolicyConfigError, match=r"gatewayscript policy 'claims', property 'source': is not valid Java"):
        api_publish(api=api, catalog=sandbox, actor=actor)
    assert api_publish(api=api, catalog=sandbox, actor=actor, document=fixed).api == api


@pytest.mark.parametrize(("config", "problem"), [({}, "is required"), ({"source": 42}, "must be a string")])
def test_a_gatewayscript_without_source_is_refused(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyConfigError, match=f"property 'source': {problem}"):
        GatewayScript("empty", config)
    assert GatewayScript("empty", {"source": "var x = 1;"}).title == "empty"


def test_the_script_is_compiled_once_and_reused_across_calls(sandbox: Catalog, actor: Actor, client: Client) -> None:
    source = "session.output.write('counted ' + context.get('request.verb'))"
    before, checks = compile_count(), check_count()
    client_id = publish(sandbox, actor, name="counted", execute=[script("counted", source)])
    published = (compile_count(), check_count())
    responses = [call(client, client_id, "/counted/go") for _ in range(5)]
    after_calls = (compile_count(), check_count())
    publish(sandbox, actor, name="counted", execute=[script("counted", source + ";")])

    assert [r.content for r in responses] == [b"counted GET"] * 5
    assert published == (before, checks + 1)  # publishing checked the source and built no engine
    assert after_calls == (before + 1, checks + 1)  # the first call built the engine; the gateway reused the check
    assert (compile_count(), check_count()) == (before + 1, checks + 2)  # a new source is checked, not built


def test_a_warm_call_through_a_gatewayscript_makes_no_database_query(
    tutorial: str, client: Client, django_assert_num_queries: Any, settings: LazySettings
) -> None:
    settings.PORTAL_INVALIDATION = {
        **settings.PORTAL_INVALIDATION,
        "RECHECK_SECONDS": 3600.0,
    }  # the version is re-read at most once a second
    headers = {"iss-claim": "apic", "aud-claim": "id1"}
    cold = call(client, tutorial, "/tutorial/generate", **headers)

    with django_assert_num_queries(0):
        warm = call(client, tutorial, "/tutorial/generate", **headers)

    assert (cold.status_code, warm.status_code) == (200, 200)
    assert set(warm.json()) == {"jwt"}


def test_each_thread_gets_its_own_engine_for_the_same_compiled_script() -> None:
    policy = GatewayScript("threads", {"source": "require('apim').setvariable('seen', context.get('request.path'))"})
    before = compile_count()
    contexts = [make_context(path=f"/{n}") for n in range(3)]
    threads = [threading.Thread(target=policy.run, args=(context,)) for context in contexts]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    policy.run(here := make_context(path="/main"))

    assert [c.get("seen") for c in contexts] == ["/0", "/1", "/2"]
    assert (here.get("seen"), compile_count()) == ("/main", before + 4)  # each thread's first call built one


# -- the sandbox --------------------------------------------------------------------------------------------

ESCAPES = {
    "fs": ("require('fs').readFileSync('/etc/passwd')", "require('fs') is not available"),
    "child_process": ("require('child_process').execSync('id')", "require('child_process') is not available"),
    "process": ("process.exit(1)", "ReferenceError: process is not defined"),
    "fetch": ("fetch('http://127.0.0.1/')", "ReferenceError: fetch is not defined"),
    "xhr": ("new XMLHttpRequest()", "ReferenceError: XMLHttpRequest is not defined"),
    "globalThis": ("globalThis.process.mainModule.require('fs')", "TypeError"),
    "constructor": ("[].constructor.constructor('return process')().exit()", "process is not defined"),
    "eval": ("eval('require')('os')", "require('os') is not available"),
    "endless loop": ("for (;;) {}", "ran longer than its CPU time limit of 50 ms"),
    "memory bomb": ("var bomb = new Array(1e8).fill(0);", "more than its memory limit of 32 MiB"),
    "string bomb": ("var bomb = 'x'.repeat(64 * 1024 * 1024);", "more than its memory limit of 32 MiB"),
    "deep recursion": ("function f(n) { return f(n + 1) + 1; } f(0);", "recursed deeper than its stack limit"),
    "huge output": ("session.output.write('x'.repeat(3 * 1024 * 1024))", "wrote more than 2048 KiB"),
}


@pytest.mark.parametrize("escape", ESCAPES)
def test_an_escape_fails_that_call_cleanly_and_the_worker_keeps_serving(
    escape: str, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    source, expected = ESCAPES[escape]
    client_id = publish(sandbox, actor, name="escape", execute=[script("escapee", source)])
    publish(sandbox, actor, name="calm", execute=[script("escapee", "session.output.write('still here')")])

    failed = call(client, client_id, "/escape/go")
    calm = call(client, client_id, "/calm/go")
    again = call(client, client_id, "/escape/go")

    assert failed.status_code == 500
    body = failed.json()
    assert body["moreInformation"].startswith("gatewayscript policy 'escapee' ")
    assert expected in body["moreInformation"]
    assert (calm.status_code, calm.content) == (200, b"still here")
    assert again.json() == body


def test_promise_jobs_run_but_importing_a_module_is_refused() -> None:
    importing = "import('os').then(function () { session.output.write('loaded'); }, function (e) {"
    importing += " session.output.write('refused: ' + e.message); });"
    resolving = "Promise.resolve('os').then(function (v) { session.output.write('resolved ' + v); });"
    imported, resolved = make_context(), make_context()

    GatewayScript("import", {"source": importing}).run(imported)
    GatewayScript("resolve", {"source": resolving}).run(resolved)

    assert imported.get("message.body") == "refused: could not load module 'os'"
    assert resolved.get("message.body") == "resolved os"


@pytest.mark.parametrize(("jobs", "runaway"), [(1, False), (400, True)])
def test_promise_jobs_share_the_call_cpu_time_limit(jobs: int, runaway: bool) -> None:
    # Each job alone stays under the engine's limit; together they must not.
    source = f"for (var i = 0; i < {jobs}; i++) Promise.resolve(i).then(function () {{"
    source += " var t = Date.now(); while (Date.now() - t < 5) {} session.output.write('done'); });"
    policy = GatewayScript("jobs", {"source": source})
    context = make_context()

    if runaway:
        with pytest.raises(AssemblyError, match="ran longer than its CPU time limit"):
            policy.run(context)
    else:
        policy.run(context)
        assert context.get("message.body") == "done"


@pytest.mark.parametrize(
    ("source", "built"),
    [("for (;;) {}", 2), ("new ArrayBuffer(64 * 1024 * 1024)", 2), ("throw new Error('plain failure')", 1)],
)
def test_a_call_stopped_by_a_limit_discards_its_engine_and_a_plain_failure_keeps_it(source: str, built: int) -> None:
    # A source of its own: the process's cache shares compiled scripts (and their engines) by source.
    policy = GatewayScript("limited", {"source": f"{source} // discard"})
    before = compile_count()

    for _ in range(2):
        with pytest.raises(AssemblyError):
            policy.run(make_context())

    assert compile_count() == before + built  # the first call built one; the second a new one only after a limit


def test_a_runaway_script_is_a_javascript_error_a_catch_can_handle(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    handler = {"set-variable": {"title": "say", "actions": [{"set": "message.body", "value": "$(error.name)"}]}}
    catch = [{"errors": ["JavaScriptError"], "execute": [handler]}]
    client_id = publish(sandbox, actor, name="runaway", execute=[script("spin", "while (true) {}")], catch=catch)

    response = call(client, client_id, "/runaway/go")

    assert (response.status_code, response.content) == (500, b"JavaScriptError")


def test_a_script_sees_no_host_object_only_the_bridge() -> None:
    source = """
    var found = {};
    ['require', 'process', 'fetch', 'XMLHttpRequest', 'setTimeout', 'std', 'os', '__portal', 'module', 'exports']
      .forEach(function (name) { found[name] = typeof globalThis[name]; });
    try { require('fs'); } catch (e) { found.fs = String(e.message); }
    session.output.write(found);
    """
    context = make_context()

    GatewayScript("look", {"source": source}).run(context)

    found = context.get("message.body")
    assert {name: kind for name, kind in found.items() if name != "fs"} == dict.fromkeys(
        ["require", "process", "fetch", "XMLHttpRequest", "setTimeout", "std", "os", "__portal", "module", "exports"],
        "undefined",
    )
    assert found["fs"].startswith("require('fs') is not available")


def test_no_call_leaves_anything_behind_for_the_next() -> None:
    source = """
    var apim = require('apim');
    var seen = {polluted: ({}).polluted, global: typeof leaked, forged: apim.getvariable('request.path')};
    Object.prototype.polluted = 'yes';
    globalThis.leaked = 1;
    apim.getvariable = function () { return 'forged'; };
    Array.prototype.push = function () { return 0; };
    var error = new Error('own');
    error.name = 'OwnError';
    seen.errorName = error.name;
    session.output.write(seen);
    """
    policy = GatewayScript("polluter", {"source": source})
    first, second = make_context(path="/a"), make_context(path="/b")

    policy.run(first)
    policy.run(second)

    assert first.get("message.body") == {"global": "undefined", "forged": "/a", "errorName": "OwnError"}
    assert second.get("message.body") == {"global": "undefined", "forged": "/b", "errorName": "OwnError"}


def test_the_break_out_of_the_function_body_runs_only_inside_the_sandbox() -> None:
    # QuickJS's Function constructor pastes the source into a function text; a source that closes it early
    # runs its top-level code when compiled, locked down and limited like any call.
    with pytest.raises(PolicyConfigError, match="ReferenceError: process is not defined"):
        GatewayScript("breakout", {"source": "}); process.exit(); (function () {"})
    with pytest.raises(PolicyConfigError, match="InternalError: interrupted"):
        GatewayScript("breakout", {"source": "}); for (;;) {} (function () {"})
    assert GatewayScript("breakout", {"source": "}); (function () {"}).title == "breakout"


# -- settings -----------------------------------------------------------------------------------------------


def test_limits_come_from_the_gatewayscript_settings(settings: LazySettings) -> None:
    settings.GATEWAYSCRIPT = {"CPU_MS": 20, "MEMORY_MIB": 8}
    policy = GatewayScript("tight", {"source": "var buffer = new ArrayBuffer(16 * 1024 * 1024);"})
    roomy = GatewayScript("tight", {"source": "session.output.write(new ArrayBuffer(4 * 1024 * 1024).byteLength);"})

    with pytest.raises(AssemblyError, match="more than its memory limit of 8 MiB"):
        policy.run(make_context())
    roomy.run(context := make_context())
    assert context.get("message.body") == 4 * 1024 * 1024
    assert (script_limits().cpu_ms, script_limits().memory_mib) == (20, 8)


@pytest.mark.parametrize(
    ("configured", "problem"),
    [({"CPU_SECONDS": 1}, "Unknown GATEWAYSCRIPT settings: CPU_SECONDS"), ({"CPU_MS": 0}, "CPU_MS must be")],
)
def test_bad_gatewayscript_settings_are_refused(
    configured: dict[str, Any], problem: str, settings: LazySettings
) -> None:
    settings.GATEWAYSCRIPT = {"CPU_MS": 50}
    assert script_limits().cpu_ms == 50
    settings.GATEWAYSCRIPT = configured
    with pytest.raises(ImproperlyConfigured, match=problem):
        script_limits()


# -- the console --------------------------------------------------------------------------------------------


@pytest.fixture
def operator(db: None) -> Client:
    user = get_user_model().objects.create_user(username="olivia", password=None, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS))
    client = Client()
    client.force_login(user)
    return client


def test_the_editor_adds_a_gatewayscript_and_edits_its_source_in_a_code_area(
    operator: Client, sandbox: Catalog, actor: Actor
) -> None:
    document = api_document(name="edited", base_path="/edited", execute=[])
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    added = operator.post(
        reverse("admin:tokens_api_policy_add", args=[api.pk]),
        {"tag": editor.document_tag(api), "at": "execute", "kind": "gatewayscript"},
    )
    api.refresh_from_db()
    policy_url = reverse("admin:tokens_api_policy", args=[api.pk, "execute/0"])
    page = operator.get(policy_url).content.decode()
    source = "var apim = require('apim');\nsession.output.write('edited');\n"
    form = {"tag": editor.document_tag(api), "title": "answer", "_save": "Save"}

    refused = operator.post(policy_url, {**form, "source": "var = ;"})
    saved = operator.post(policy_url, {**form, "source": source})

    assert added.status_code == 302
    assert '<textarea name="source"' in page
    assert 'class="code-area"' in page
    assert "This is not valid JavaScript: SyntaxError" in refused.content.decode()
    assert saved.status_code == 302
    api.refresh_from_db()
    assert editor.policy_get(api.document, "execute/0") == (
        "gatewayscript",
        {"version": "2.0.0", "title": "answer", "source": source},
    )
    api_page = operator.get(reverse("admin:tokens_api_change", args=[api.pk])).content.decode()
    assert "JavaScript, 2 line(s)" in api_page


def test_a_script_reads_path_query_and_header_parameters_and_the_operation(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    source = """
    var apim = require('apim');
    session.output.write({
      item: apim.getvariable('request.parameters.item'),
      q: apim.getvariable('request.parameters.q'),
      tenant: apim.getvariable('request.parameters.x-tenant'),
      fromRequest: context.request.parameters.item,
      path: apim.getvariable('api.operation.path'),
      uri: apim.getvariable('request.uri')
    });
    """
    client_id = publish(sandbox, actor, name="params", paths=("/items/{item}",), execute=[script("read", source)])

    response = client.get(
        f"{GATEWAY}/params/items/a%20b?q=1", headers={"X-IBM-Client-Id": client_id, "X-Tenant": "acme"}
    )

    assert response.json() == {
        "item": "a b",
        "q": "1",
        "tenant": "acme",
        "fromRequest": "a b",
        "path": "/items/{item}",
        "uri": "http://testserver/personal/sandbox/params/items/a%20b?q=1",
    }
