"""QA findings against issue 13 (the API Connect APIs people really have: gatewayscript, invoke, API properties,
switch, log), found by driving the product from outside. Each failing test is marked ``xfail(strict=True)``
with the finding in its reason, so main stays green and a fix turns it into an XPASS failure; each has a passing
twin that differs in one thing, so no test passes because everything fails."""

from __future__ import annotations

from typing import Any

import pytest

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document
from tests.wsgi import WsgiAnswer, wsgi_call
from tokens.context import Context
from tokens.gatewayscript import GatewayScript

GATEWAY = "/personal/sandbox"


def script(title: str, source: str) -> dict[str, Any]:
    return {"gatewayscript": {"version": "2.0.0", "title": title, "source": source}}


def invoke(title: str, target: str, **more: Any) -> dict[str, Any]:
    return {"invoke": {"version": "2.0.0", "title": title, "target-url": target, **more}}


def publish(sandbox: Catalog, actor: Actor, *, name: str, execute: list[dict[str, Any]], **options: Any) -> str:
    """Save and publish a small API at ``/<name>`` in sandbox; answers the Sandbox Test App's client id."""
    from tokens.services import api_publish, api_save

    document = api_document(name=name, base_path=f"/{name}", execute=execute, **options)
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


def call(client_id: str, path: str, **headers: str) -> WsgiAnswer:
    """A call through the product's own WSGI application (the gateway's handler, as gunicorn runs it)."""
    return wsgi_call(f"{GATEWAY}{path}", headers={"X-IBM-Client-Id": client_id, **headers})


def run_script(source: str, path: str, **headers: str) -> Context:
    context = Context(verb="GET", path=path, headers=headers)
    GatewayScript("probe", {"source": source}).run(context)
    return context


# -- 1. a call leaves state behind for the next one (unfrozen intrinsics) -----------------------------------
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


@pytest.mark.xfail(
    strict=True,
    reason="finding 1 (medium): intrinsics reachable only through values (%ArrayIteratorPrototype%, the generator, "
    "async-function and iterator prototypes) and the script function itself are not frozen, so one call's data "
    "(here another caller's Authorization header) is read by the next call of the same API",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="finding 1 (medium): a promise left pending on an unfrozen intrinsic by one call is resolved by the "
    "next, and the first call's code then runs inside the second call",
)
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


# -- 2. a response header name ending in a newline is a 500 --------------------------------------------------
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


@pytest.mark.xfail(
    strict=True,
    reason="finding 2 (low): a header name with a trailing newline passes is_header_name ('$' matches before a "
    "final newline) and the answer is a 500 instead of the header being dropped",
)
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
