"""QA findings of session 5 (API properties in each publication's scope, property values over REST, commands
and the console, rotation through properties, invoke's response cache and hardening, gatewayscript engines),
found by driving the product from outside. Each failing test is marked ``xfail(strict=True)`` with the finding
and its severity in the reason, so main stays green and a fix turns it into an XPASS failure; each has a
passing twin that differs in one thing, so no test passes because everything fails. A fixed finding keeps its
tests, without the marker, and its section says "(fixed)"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from portal.console import AUDITORS
from portal.models import AuditEvent, Catalog
from portal.services import Actor
from tests.api import bearer
from tests.qa.test_issue13_findings import run_invoke
from tests.tokens.backends import Backend, RawBackend, Reply, Seen
from tests.tokens.helpers import answer, open_api
from tests.tokens.test_console import staff
from tests.tokens.test_invoke_shapes import invoke, script
from tokens import gatewayscript
from tokens.errors import ApiError, AssemblyError, PolicyConfigError
from tokens.models import Api
from tokens.properties import api_property_set
from tokens.services import api_publish, api_save

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recheck_always")]

SECRET = "TOPSECRET-backend-key-4711"


def published(catalog: Catalog, actor: Actor, name: str, execute: list[dict[str, Any]], **properties: Any) -> Api:
    """An API at /<name>/go that any caller may call, declaring ``properties`` (name to declaration), published
    in ``catalog``."""
    api, _ = api_save(organization=catalog.organization, document=open_api(name, execute, properties), actor=actor)
    api_publish(api=api, catalog=catalog, actor=actor)
    return api


def gateway_get(path: str, **headers: str) -> Any:
    return Client().get(f"/personal/sandbox{path}", headers=headers)


@pytest.fixture
def backend(settings: LazySettings) -> Iterator[Backend]:
    """A loopback backend answering 200 ``ok`` to everything, allowed for invoke."""
    with Backend(lambda seen: Reply(200, {"Content-Type": "text/plain"}, b"ok")) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        yield server


# -- 1. (fixed) an auditor reads an operator's property value in the console --
#
# README "API properties": "REST auditors and `list_api_properties` without `--show-values` see names and sources
# only"; "Console ... *API property values* ... (operators; the list shows names, never values)". The list does,
# but ApiPropertyValueAdmin makes every field read-only (``readonly_fields = fields``, value included) and the
# Auditors group has ``view_apipropertyvalue``: an auditor who clicks a row (or guesses
# /admin/tokens/apipropertyvalue/<id>/change/) reads the value, a backend's credential as often as not.


@pytest.fixture
def secret_value(sandbox: Catalog, actor: Actor) -> int:
    """The primary key of an operator's value ``SECRET`` of property ``backend-key`` in sandbox."""
    api = published(sandbox, actor, "vault", [answer("ok")], **{"backend-key": {"description": "the backend's key"}})
    return api_property_set(api=api, catalog=sandbox, name="backend-key", value=SECRET, actor=actor).pk


def test_an_auditor_cannot_read_a_property_value_on_its_console_page(secret_value: int) -> None:
    console = Client()
    console.force_login(staff("aldo", AUDITORS))

    page = console.get(f"/admin/tokens/apipropertyvalue/{secret_value}/change/")

    assert page.status_code in (200, 403)
    assert SECRET.encode() not in page.content


def test_an_auditor_cannot_read_a_property_value_in_the_console_list(secret_value: int) -> None:
    """The twin: the list page, which the same auditor reads, names the property without its value."""
    console = Client()
    console.force_login(staff("aldo", AUDITORS))

    page = console.get("/admin/tokens/apipropertyvalue/")

    assert page.status_code == 200
    assert b"backend-key" in page.content
    assert SECRET.encode() not in page.content


# -- 2. (fixed) a refused publish writes an operator's property value into the audit trail --
#
# README: "no log or audit event holds it". A constant property is written into the policies before they are
# checked, so a policy property that refuses the value quotes it ("must be a whole number from 1 to 60, not
# 'http://...key=...'"), and api_publish audits its refusals with the message (``detail.error``), which auditors
# read (REST audit-events, console). Reproduce: publish an API whose invoke reads $(backend); an operator sets
# backend to a URL holding a key; save a new document of the same version that also reads $(backend) in
# ``timeout``; publishing is refused and the api.publish failure event holds the key.


@pytest.fixture
def backend_value_then_refused_publish(sandbox: Catalog, actor: Actor, backend: Backend) -> None:
    declared = {"backend": {"description": "the backend's URL, with its key"}}
    api = published(sandbox, actor, "keyed", [invoke("call", "$(backend)")], **declared)
    api_property_set(api=api, catalog=sandbox, name="backend", value=backend.url(f"/x?key={SECRET}"), actor=actor)
    changed = open_api("keyed", [invoke("call", backend.url("/x"), timeout="$(backend)")], declared)
    api, _ = api_save(organization=sandbox.organization, document=changed, actor=actor)
    with pytest.raises(ApiError):
        api_publish(api=api, catalog=sandbox, actor=actor)


def audited(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


@pytest.mark.usefixtures("backend_value_then_refused_publish")
def test_the_refused_publishs_audit_event_holds_no_property_value() -> None:
    refused = [event for event in audited("api.publish") if event.outcome == "failure"]

    assert refused
    assert all(SECRET not in json.dumps(event.detail) for event in refused)


@pytest.mark.usefixtures("backend_value_then_refused_publish")
def test_the_property_set_audit_event_holds_no_property_value() -> None:
    """The twin: the event of setting that same value, in the same audit trail, names the property only."""
    events = audited("api.property.set")

    assert events
    assert all(SECRET not in json.dumps(event.detail) for event in events)


# -- 3. (fixed) a request header or query value lands unencoded in invoke's target-url path --
#
# README "invoke": "a request parameter's value is percent-encoded where it lands, so a caller cannot add path
# segments or a query; a value that is `.` or `..` where it would be a whole path segment is refused".
# tokens/policies/invoke.py ``_url`` encodes only ``request.parameters.*`` (and ``request.path``); the same value
# read as ``$(request.headers.x-user)`` or ``$(request.query.id)`` (context variables of the README and of
# tokens/context.py) goes into the URL as the caller wrote it: ``X-User: ../admin`` makes the backend see
# ``/users/../admin/profile`` (``/admin/profile`` once resolved) and ``X-User: x?admin=1#`` cuts the path and
# adds a query.


def users_path(seen: Seen) -> list[str]:
    return seen.path.split("?", 1)[0].split("/")


@pytest.mark.parametrize(
    ("variable", "path", "headers"),
    [
        ("request.headers.x-user", "/hop/go", {"X-User": "../admin"}),
        ("request.headers.x-user", "/hop/go", {"X-User": "x?admin=1#"}),
        ("request.query.user", "/hop/go?user=..%2Fadmin", {}),
    ],
    ids=["header-dot-segment", "header-query", "query-dot-segment"],
)
def test_a_request_value_cannot_add_segments_to_the_backend_path(
    sandbox: Catalog, actor: Actor, backend: Backend, variable: str, path: str, headers: dict[str, str]
) -> None:
    published(sandbox, actor, "hop", [invoke("users", backend.url(f"/users/$({variable})/profile"))])

    called = gateway_get(path, **headers)

    assert called.status_code in (200, 400)
    if called.status_code == 200:
        segments = users_path(backend.seen[-1])
        assert (segments[1], segments[-1], len(segments)) == ("users", "profile", 4)
        assert segments[2] not in (".", "..")


def test_a_request_parameter_cannot_add_segments_to_the_backend_path(
    sandbox: Catalog, actor: Actor, backend: Backend
) -> None:
    """The twin: the same header read as ``$(request.parameters.x-user)`` is encoded into one segment."""
    published(sandbox, actor, "hop", [invoke("users", backend.url("/users/$(request.parameters.x-user)/profile"))])

    called = gateway_get("/hop/go", **{"X-User": "x?admin=1#/../admin"})

    assert called.status_code == 200
    segments = users_path(backend.seen[-1])
    assert (segments[1], segments[-1], len(segments)) == ("users", "profile", 4)


# -- 4. (fixed) one API's scripts evict every engine, so each call rebuilds them all --
#
# README "gatewayscript": engines are built on a thread's first call and kept in its LRU of ENGINES_PER_THREAD
# (64); MAX_SCRIPTS_PER_API is 64 too. An API running as many scripts as the LRU holds, called in turn with any
# other script (another caller's API), evicts in LRU's worst order: each engine is evicted just before it is
# needed, and every call of both APIs rebuilds every engine (tens of milliseconds each: some 64 builds a call at
# the defaults, for any caller that alternates two such calls). Shown at ENGINES_PER_THREAD = MAX_SCRIPTS_PER_API
# = 4 and counted with ``compile_count``.


def engine_builds_in_rounds(sandbox: Catalog, actor: Actor, scripts: int) -> int:
    """Engines built by three rounds of calls to an API of ``scripts`` scripts and one of another script, after
    two rounds of warming up."""
    many = [script(f"step {index}", f"var step = {index};") for index in range(scripts)]
    published(sandbox, actor, "many", many)
    published(sandbox, actor, "other", [script("other", "var other = true;")])
    for _ in range(2):
        gateway_get("/many/go")
        gateway_get("/other/go")
    before = gatewayscript.compile_count()
    for _ in range(3):
        assert gateway_get("/many/go").status_code == 200
        assert gateway_get("/other/go").status_code == 200
    return gatewayscript.compile_count() - before


@pytest.fixture
def small_engine_bounds(settings: LazySettings) -> None:
    # Engines per thread at least twice the scripts per API (fewer is refused as a misconfiguration).
    settings.GATEWAYSCRIPT = {"ENGINES_PER_THREAD": 8, "MAX_SCRIPTS_PER_API": 4}


@pytest.mark.usefixtures("small_engine_bounds")
def test_an_api_with_the_most_scripts_allowed_does_not_evict_the_engines_of_others(
    sandbox: Catalog, actor: Actor
) -> None:
    assert engine_builds_in_rounds(sandbox, actor, scripts=4) == 0


@pytest.mark.usefixtures("small_engine_bounds")
def test_warm_engines_are_reused_when_the_scripts_fit_the_lru(sandbox: Catalog, actor: Actor) -> None:
    """The twin: one script fewer, and both APIs' engines stay warm."""
    assert engine_builds_in_rounds(sandbox, actor, scripts=3) == 0


# -- 5. (fixed) a property may be named like a context variable the policies set --
#
# README: "Names may not shadow context variables (`request.*`, `api.*`, ...)". ``_RESERVED_PREFIXES`` holds
# request., message., api., client., plan., system., session.; the variables policies and catches set are
# missing (``decoded.claims``, ``generated.jwt``, ``jwt-validate.error-message``, ``error.message``), as is
# ``message`` itself (``apim.getvariable('message')``). A constant property is written into the policies at
# compile time, so with a property ``decoded.claims.sub`` a policy's ``$(decoded.claims.sub)`` reads the
# property, never the validated token's subject.


@pytest.mark.parametrize(
    "name", ["decoded.claims.sub", "generated.jwt", "jwt-validate.error-message", "error.message", "message"]
)
def test_a_property_named_like_a_policys_variable_is_refused(sandbox: Catalog, actor: Actor, name: str) -> None:
    with pytest.raises(ApiError):
        published(sandbox, actor, "shadow", [answer(f"$({name})")], **{name: {"value": "from the property"}})


def test_a_property_named_like_a_request_variable_is_refused(sandbox: Catalog, actor: Actor) -> None:
    """The twin: a name under ``request.`` is refused."""
    with pytest.raises(ApiError):
        published(sandbox, actor, "shadow", [answer("$(request.headers.x)")], **{"request.headers.x": {"value": "p"}})


# -- 6. (fixed) a target-url that is not a valid URL shows the public caller the backend's path --
#
# Every other invoke failure names only the destination's host and port to the caller ("the call to
# 127.0.0.1:9 failed: connection refused"), since a backend URL's path may hold a key (webhook URLs do). A
# target-url (here from a property) that starts with http:// but does not parse, such as an unclosed IPv6
# bracket, is accepted at publish, and every call answers the anonymous caller a 500 whose moreInformation quotes
# the URL's path: "the URL 'http://[::1/services/<key>' is not valid (Invalid IPv6 URL)".

HOOK_KEY = "T00000000-B00000000-hookkey"


def hook_answer(sandbox: Catalog, actor: Actor, settings: LazySettings, url: str) -> bytes:
    settings.INVOKE = {"ALLOW": "127.0.0.1:9"}
    published(sandbox, actor, "hook", [invoke("notify", "$(hook)")], hook={"value": url})
    called = gateway_get("/hook/go")
    assert called.status_code == 500
    return bytes(called.content)


def test_an_unparsable_target_url_is_refused_at_publish(sandbox: Catalog, actor: Actor) -> None:
    """Fixed twice: a target-url that is constant once its properties are written in is parsed at publish..."""
    with pytest.raises(PolicyConfigError, match=r"target-url.*is not a valid URL"):
        published(sandbox, actor, "hook", [invoke("notify", "$(hook)")], hook={"value": f"http://[::1/s/{HOOK_KEY}"})


def test_an_unparsable_target_url_does_not_show_its_path_to_the_caller(
    sandbox: Catalog, actor: Actor, settings: LazySettings
) -> None:
    """...and one that only a call makes (here from the caller's header) shows the caller its host only."""
    settings.INVOKE = {"ALLOW": "127.0.0.1:9"}
    url = f"http://[::1$(request.headers.x-zone)/services/{HOOK_KEY}"
    published(sandbox, actor, "hook", [invoke("notify", "$(hook)")], hook={"value": url})
    called = gateway_get("/hook/go", **{"X-Zone": "x"})

    assert called.status_code == 500
    assert HOOK_KEY.encode() not in called.content


def test_a_refused_target_url_does_not_show_its_path_to_the_caller(
    sandbox: Catalog, actor: Actor, settings: LazySettings
) -> None:
    """The twin: a well-formed URL whose backend refuses the connection names its host and port only."""
    assert HOOK_KEY.encode() not in hook_answer(sandbox, actor, settings, f"http://127.0.0.1:9/services/{HOOK_KEY}")


# -- 7. (fixed) a response cached for one catalog's backend credential is served to another catalog --
#
# README "invoke": cache-response ``protocol`` keeps a response "as its caching headers let a shared cache keep
# it", keyed by method, URL, TLS client profile and cache-key; only ``Authorization`` marks a request as carrying
# credentials. The same API published in two catalogs sends each catalog's own key (a property, as the README's
# properties section suggests for a backend's credential) in a header such as X-Api-Key to the same URL: the
# answer fetched with sandbox's key, when it carries max-age, is the answer production's callers get, without
# production's key ever reaching the backend. RFC 9111 lets a shared cache do this when the backend sends no
# Vary, and API Connect keys on the URL too; but the portal, not the backend, chose to add a per-catalog
# credential the cache then ignores. The same holds for the X-IBM-Client-Id the portal sends ("backends tell apps
# apart by it"). Severity low: it takes a backend that caches per key without Vary.


def per_key_answer(vary: bool) -> Any:
    def handler(seen: Seen) -> Reply:
        headers = {"Content-Type": "application/json", "Cache-Control": "max-age=60"}
        if vary:
            headers["Vary"] = "X-Api-Key"
        return Reply(200, headers, json.dumps({"for": seen.headers.get("x-api-key")}).encode())

    return handler


def answers_per_catalog(
    sandbox: Catalog, production: Catalog, actor: Actor, settings: LazySettings, *, vary: bool
) -> tuple[Any, Any]:
    with Backend(per_key_answer(vary)) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        send_key = {
            "set-variable": {"title": "key", "actions": [{"set": "message.headers.X-Api-Key", "value": "$(key)"}]}
        }
        api = published(sandbox, actor, "tenant", [send_key, invoke("data", server.url("/data"))], key={"value": "x"})
        api_publish(api=api, catalog=production, actor=actor)
        api_property_set(api=api, catalog=sandbox, name="key", value="sandbox-key", actor=actor)
        api_property_set(api=api, catalog=production, name="key", value="production-key", actor=actor)
        in_sandbox = Client().get("/personal/sandbox/tenant/go").json()
        in_production = Client().get("/personal/production/tenant/go").json()
    return in_sandbox, in_production


def test_a_cached_answer_for_one_catalogs_key_is_not_served_to_another_catalog(
    sandbox: Catalog, production: Catalog, actor: Actor, settings: LazySettings
) -> None:
    in_sandbox, in_production = answers_per_catalog(sandbox, production, actor, settings, vary=False)

    assert in_sandbox == {"for": "sandbox-key"}
    assert in_production == {"for": "production-key"}


def test_a_cached_answer_that_varies_on_the_key_is_not_served_to_another_catalog(
    sandbox: Catalog, production: Catalog, actor: Actor, settings: LazySettings
) -> None:
    """The twin: the backend names the header in Vary, and each catalog gets its own answer."""
    in_sandbox, in_production = answers_per_catalog(sandbox, production, actor, settings, vary=True)

    assert in_sandbox == {"for": "sandbox-key"}
    assert in_production == {"for": "production-key"}


# -- 8. (fixed) a caller's header value injects members into a JSON object built from a property --
#
# set-variable with ``type: object`` reads ``$(...)`` by pasting each value's text into the JSON text, then parses
# the result. A property holding a JSON template that reads the request (``{"admin": false, "user":
# "$(request.headers.x-user)"}``, read per call as the README says) lets a caller close the string and add members:
# ``X-User: bob", "admin": true, "x": "`` makes the object ``{"admin": true, "user": "bob", "x": ""}`` (JSON's
# last duplicate wins). The value should land as a JSON string, as invoke encodes a parameter where it lands.

PROFILE_TEMPLATE = '{"admin": false, "user": "$(request.headers.x-user)"}'


def profile_for(sandbox: Catalog, actor: Actor, user: str) -> Any:
    build = {
        "set-variable": {
            "title": "profile",
            "actions": [{"set": "message.body", "value": "$(profile)", "type": "object"}],
        }
    }
    published(sandbox, actor, "profile", [build], profile={"value": PROFILE_TEMPLATE})
    called = gateway_get("/profile/go", **{"X-User": user})
    assert called.status_code == 200
    return called.json()


def test_a_callers_value_cannot_add_members_to_an_object_built_from_a_property(sandbox: Catalog, actor: Actor) -> None:
    injected = 'bob", "admin": true, "x": "'

    assert profile_for(sandbox, actor, injected) == {"admin": False, "user": injected}


def test_a_callers_plain_value_lands_in_an_object_built_from_a_property(sandbox: Catalog, actor: Actor) -> None:
    """The twin: a value without quotes is the member's value."""
    assert profile_for(sandbox, actor, "bob") == {"admin": False, "user": "bob"}


# -- 9. (fixed) a property value set while a publish compiles is never checked against the new snapshot --
#
# README: "a value the API would not run with ... is refused ... and nothing is stored". ``api_publish`` compiles
# the new document with the operator's values it reads first, and only then locks the publication row
# (tokens/services.py ``_publish``); ``api_property_set`` checks a value against the snapshot served when it
# locks that row. On PostgreSQL (READ COMMITTED, one transaction per request) a set that commits between the
# publish's compile and its lock is checked against the old document, the publish against the old value, and
# the new document is published with a value nobody checked it with: the gateway cannot compile it, and every
# call answers 404 "No API is published at /limited/go" (replayed so). (SQLite serializes the two.)
# The test replays that order in one thread: the set runs right after the publish's compile.


def limit_call(timeout: str) -> dict[str, Any]:
    return invoke("call", "http://127.0.0.1:9/", timeout=timeout)


@pytest.fixture
def limited(sandbox: Catalog, actor: Actor) -> Api:
    """``limited`` published reading $(limit) only as text (any value runs), with a limit of 5."""
    return published(sandbox, actor, "limited", [answer("limit $(limit)")], limit={"value": "5"})


def publish_v2_reading_limit_as_timeout(sandbox: Catalog, actor: Actor, api: Api) -> None:
    """Save and publish a document that reads $(limit) as invoke's timeout (1 to 60)."""
    changed = open_api("limited", [answer("limit $(limit)"), limit_call("$(limit)")], {"limit": {"value": "5"}})
    api, _ = api_save(organization=sandbox.organization, document=changed, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serializes writers: no row locks to take")
def test_a_publish_and_a_value_set_lock_the_api_row_before_anything_else(
    sandbox: Catalog, actor: Actor, limited: Api
) -> None:
    """Fixed by one lock: publishing takes the API's row before it compiles, and setting a value takes it first,
    so a value set while a publish compiles waits for it, and is then checked against what it published."""
    changed = open_api("limited", [answer("limit $(limit)"), limit_call("$(limit)")], {"limit": {"value": "5"}})
    api, _ = api_save(organization=sandbox.organization, document=changed, actor=actor)

    def first_lock(work: Any) -> str:
        with CaptureQueriesContext(connection) as queries:
            work()
        locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
        return locks[0]

    publish_lock = first_lock(lambda: api_publish(api=api, catalog=sandbox, actor=actor))
    set_lock = first_lock(lambda: api_property_set(api=api, catalog=sandbox, name="limit", value="7", actor=actor))

    assert 'FROM "tokens_api"' in publish_lock
    assert 'FROM "tokens_api"' in set_lock


def test_a_value_set_before_a_publish_is_checked_by_the_publish(sandbox: Catalog, actor: Actor, limited: Api) -> None:
    """The twin: the same value set before the publish starts makes the publish refuse the document."""
    api_property_set(api=limited, catalog=sandbox, name="limit", value="500", actor=actor)

    with pytest.raises(ApiError):
        publish_v2_reading_limit_as_timeout(sandbox, actor, limited)


# -- 10. (fixed) the 64 KiB header cap does not count a backend's interim 1xx answers --
#
# README "invoke": "A response is capped at 4 MiB after decompression ... and 64 KiB of headers"; "a backend's
# interim 1xx answers (103 Early Hints) are skipped for its final one". Each interim answer's headers are measured
# on their own, and there is no bound on how many come: a backend (allowed, but answering what it likes) sends
# 200 interim answers of 60 KB headers each, some 12 MB the gateway reads and parses, and the call succeeds. Only
# the call's timeout bounds it. Severity low: the backend is on the allow-list, and the timeout still holds.

FINAL_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
PADDING = b"X-Pad: " + b"a" * 60_000 + b"\r\n"


def invoke_raw(settings: LazySettings, answer_bytes: list[bytes]) -> Any:
    with RawBackend(answer_bytes) as raw:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{raw.port}"}
        return run_invoke({"target-url": raw.url("/hints"), "timeout": 5})


def test_interim_answers_count_toward_the_header_cap(settings: LazySettings) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\n" + PADDING + b"\r\n"

    with pytest.raises(AssemblyError):
        invoke_raw(settings, [interim * 200, FINAL_OK])


def test_a_final_answer_over_the_header_cap_is_refused(settings: LazySettings) -> None:
    """The twin: the same padding, twice, in the final answer's own headers is refused as a ConnectionError."""
    final = FINAL_OK.replace(b"Connection: close\r\n", b"Connection: close\r\n" + PADDING * 2)

    with pytest.raises(AssemblyError):
        invoke_raw(settings, [final])


# -- 11. (fixed) an auditor reads the document's property values through the API document --
#
# ``GET catalogs/{catalog}/apis/{name}/{version}/properties`` hides every value from auditors, the document's own
# included ("always null for auditors, since a value may hold a backend's credentials"), yet ``GET
# apis/{name}/{version}`` answers the same auditor the whole document, ``x-ibm-configuration.properties.<name>.value``
# and ``catalogs.<catalog>.properties`` with it. Either the document's values are not secret (and the listing
# could show them) or they are (and the README's advice to keep credentials in properties should say: only as
# an operator's value). Severity low: an inconsistency that misleads, not a new reader.

DOCUMENT_SECRET = "document-held-backend-password"
APIS = "/api/v1/orgs/personal/apis"


@pytest.fixture
def declared_in_document(sandbox: Catalog, actor: Actor) -> Api:
    return published(sandbox, actor, "declared", [answer("ok")], password={"value": DOCUMENT_SECRET})


@pytest.mark.usefixtures("declared_in_document")
def test_an_auditor_reads_the_documents_values_alike_in_the_document_and_the_listing(make_key: Any) -> None:
    """Resolved by consistency: the document's values are the document's, which auditors read; the listing shows
    them too, and only an operator's values (where credentials belong) are hidden (the test above)."""
    auditor = bearer(make_key("auditor"))
    document = APIClient().get(f"{APIS}/declared/1.0.0", **auditor)
    listing = APIClient().get("/api/v1/orgs/personal/catalogs/sandbox/apis/declared/1.0.0/properties", **auditor)

    assert DOCUMENT_SECRET in document.content.decode()
    assert listing.json()["results"][0]["value"] == DOCUMENT_SECRET


# -- 12. (fixed) an IPv6 catch-all in PORTAL_INVOKE_ALLOW reaches IPv4 loopback through the mapped form --
#
# README "Egress guard": IPv6 addresses that carry an internal IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) "are
# refused unless an IP or CIDR entry lists them". An operator who allows "the IPv6 internet" as ``::/0`` (common
# in egress lists) has listed ``::ffff:0:0/96`` without meaning to: ``http://[::ffff:127.0.0.1]:<port>/`` reaches a
# loopback service, and ``[::ffff:169.254.169.254]`` would reach a cloud's metadata service, though no entry names
# an IPv4 range. The carried address is not checked against IPv4 entries once the IPv6 entry matches. (Likewise
# ``0.0.0.0/0`` or ``0.0.0.0/1`` allow loopback, private and link-local ranges by covering them: the README's letter,
# but a catch-all rarely means that.) Severity medium for the mapped form.

MAPPED_LOOPBACK = "[::ffff:127.0.0.1]"


def reached_mapped_loopback(settings: LazySettings, allow: str) -> Any:
    with Backend(lambda seen: Reply(200, {"Content-Type": "text/plain"}, b"loopback")) as server:
        settings.INVOKE = {"ALLOW": allow}
        return run_invoke({"target-url": server.url("/internal", host=MAPPED_LOOPBACK), "timeout": 2})


def test_an_ipv6_catch_all_does_not_reach_ipv4_loopback(settings: LazySettings) -> None:
    with pytest.raises(AssemblyError):
        reached_mapped_loopback(settings, "::/0")


def test_the_ipv6_internet_does_not_reach_ipv4_loopback(settings: LazySettings) -> None:
    """The twin: the global unicast range (2000::/3), not covering the mapped addresses, is refused."""
    with pytest.raises(AssemblyError):
        reached_mapped_loopback(settings, "2000::/3")


# -- 13. (fixed) a property referenced many times multiplies a document past every size bound --
#
# Documents are capped at 1 MiB (``MAX_DOCUMENT_BYTES``) so that what each gateway process compiles is bounded. A
# constant property is written into every reference at compile time, with no bound on the result: a 100 KB value
# referenced 100 times in one set-variable (a 101 KB document) compiles to a 10 MB string in every gateway process
# and answers 10 MB. Within the 1 MiB cap, a 500 KB value referenced some 80,000 times would compile to some 40 GB:
# one publish (or one operator value over REST, referenced so) exhausts the memory of every gateway process, each
# compiling it on its next request. Severity medium (it takes an operator's rights, and takes down every worker).

BIG_VALUE = "x" * 100_000


def amplified(sandbox: Catalog, actor: Actor, references: int) -> Any:
    published(sandbox, actor, "amplified", [answer("$(big)" * references)], big={"value": BIG_VALUE})
    return gateway_get("/amplified/go")


def test_a_property_cannot_multiply_a_document_past_its_size_bound(sandbox: Catalog, actor: Actor) -> None:
    with pytest.raises(ApiError):
        amplified(sandbox, actor, references=100)


def test_a_property_referenced_within_the_size_bound_is_published(sandbox: Catalog, actor: Actor) -> None:
    """The twin: five references (500 KB compiled, under the 1 MiB a document may hold) publish and answer."""
    called = amplified(sandbox, actor, references=5)

    assert called.status_code == 200
    assert len(called.content) == 5 * len(BIG_VALUE)
