"""invoke's response cache (tokens/invoke_cache.py: cache-response, cache-ttl, cache-key) against real loopback
backends, and a backend's interim 1xx answers (tokens/egress.py). QA findings 19 and 16 (the backend's side).

Each case that goes to the backend again has a twin that differs in one thing and is answered from the cache, so
no test passes because nothing is ever cached.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured

from tests.tokens.backends import Backend, Reply, Seen
from tokens.context import Context
from tokens.egress import BackendResponse, egress_settings
from tokens.errors import AssemblyError, PolicyConfigError
from tokens.invoke_cache import RESPONSES, CacheRule, ResponseCache
from tokens.policies.invoke import Invoke

pytestmark = pytest.mark.django_db

JWKS = b'{"keys": []}'
MARGIN = 1.5  # as in tests/tokens/test_egress.py: for a loaded machine, far below what a failure takes


class _NoCatalog:
    """A resolver without a catalog: enough for an invoke without a TLS client profile."""


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    RESPONSES.clear()
    yield
    RESPONSES.clear()


@contextmanager
def backend(
    settings: LazySettings, headers: dict[str, str] | None = None, *, status: int = 200, body: bytes = JWKS
) -> Iterator[Backend]:
    """A backend answering every request with ``status``, ``headers`` (and a JSON type) and ``body``."""

    def answer(seen: Seen) -> Reply:
        return Reply(status, {"Content-Type": "application/json", **(headers or {})}, body)

    with Backend(answer) as server:
        settings.INVOKE = {**getattr(settings, "INVOKE", {}), "ALLOW": f"127.0.0.1:{server.port}"}
        yield server


def run(config: dict[str, Any], *, verb: str = "GET", **headers: str) -> Context:
    """One call of an invoke built from ``config`` (a new policy each time, as after a republish)."""
    context = Context(verb=verb, path="/go", headers={"X-IBM-Client-Id": "c" * 32, **headers})
    Invoke("fetch", {"output": "backend", **config}, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return context


def calls_made(server: Backend, config: dict[str, Any] | None = None, *, times: int = 2, **headers: str) -> int:
    """How many requests the backend got for ``times`` calls to ``/jwks`` with the same request."""
    for _ in range(times):
        context = run({"target-url": server.url("/jwks"), **(config or {})}, **headers)
        assert context.get("backend.status.code") in (200, 404)
    return len(server.seen)


def http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(UTC) + delta, usegmt=True)


# -- modes -----------------------------------------------------------------------------------------------------


def test_protocol_answers_a_fresh_response_from_the_cache(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "public, max-age=300"}) as server:
        first = run({"target-url": server.url("/jwks"), "cache-response": "protocol"})
        second = run({"target-url": server.url("/jwks"), "cache-response": "protocol"})

    assert len(server.seen) == 1
    assert second.get("backend.body") == first.get("backend.body") == {"keys": []}
    assert second.get("backend.status.code") == 200
    assert "cached" not in first.backend_calls[0]
    assert second.backend_calls[0]["cached"] is True
    assert int(second.get("backend.headers")["Age"]) >= 0


def test_no_cache_calls_the_backend_every_time(settings: LazySettings) -> None:
    """The twin: the same response with ``cache-response: no-cache``."""
    with backend(settings, {"Cache-Control": "public, max-age=300"}) as server:
        assert calls_made(server, {"cache-response": "no-cache"}) == 2


def test_protocol_is_the_default(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        assert calls_made(server) == 1


def test_time_to_live_keeps_a_response_whatever_its_headers_say(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "no-store"}) as server:
        assert calls_made(server, {"cache-response": "time-to-live", "cache-ttl": 60}) == 1


def test_protocol_does_not_keep_the_same_response(settings: LazySettings) -> None:
    """The twin: the same no-store response under ``protocol``."""
    with backend(settings, {"Cache-Control": "no-store"}) as server:
        assert calls_made(server, {"cache-response": "protocol", "cache-ttl": 60}) == 2


def test_time_to_live_keeps_a_response_for_cache_ttl_seconds(settings: LazySettings) -> None:
    with backend(settings) as server:
        run({"target-url": server.url("/jwks"), "cache-response": "time-to-live", "cache-ttl": 30})
    (key,) = RESPONSES._entries  # the one key: GET, the URL, no TLS profile, no cache-key, the calling API's
    assert key[:4] == ("GET", server.url("/jwks"), None, "")
    (entry,) = RESPONSES._entries[key]

    assert RESPONSES.find(key, {}, entry.stored_at + 29) is entry
    assert RESPONSES.find(key, {}, entry.stored_at + 30) is None
    assert RESPONSES.count == 0  # the stale entry is dropped


def test_time_to_live_defaults_to_900_seconds() -> None:
    assert run_rule({"cache-response": "time-to-live"}).ttl == 900


def run_rule(config: dict[str, Any]) -> CacheRule:
    return Invoke("fetch", {"target-url": "http://x", **config}, _NoCatalog()).cache  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "prop"),
    [
        ({"cache-response": "sometimes"}, "cache-response"),
        ({"cache-response": "time-to-live", "cache-ttl": 4}, "cache-ttl"),
        ({"cache-response": "time-to-live", "cache-ttl": 31_708_801}, "cache-ttl"),
        ({"cache-response": "time-to-live", "cache-ttl": "soon"}, "cache-ttl"),
    ],
)
def test_a_bad_cache_setting_names_the_property(config: dict[str, Any], prop: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        run_rule(config)
    assert raised.value.prop == prop


@pytest.mark.parametrize(
    "config",
    [
        {"cache-response": "no-cache"},
        {"cache-response": "time-to-live", "cache-ttl": 5},
        {"cache-response": "time-to-live", "cache-ttl": "31708800"},
        {"cache-response": "protocol", "cache-ttl": 0},  # cache-ttl counts only with time-to-live, as in APIC
    ],
)
def test_good_cache_settings_are_accepted(config: dict[str, Any]) -> None:
    """The twins: the same properties with values API Connect allows."""
    assert run_rule(config).mode == config["cache-response"]


# -- what a response's headers allow (protocol) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "no-store, max-age=300"},
        {"Cache-Control": "no-cache, max-age=300"},
        {"Cache-Control": 'max-age=300, no-cache="x-token"'},
        {"Cache-Control": "private, max-age=300"},
        {"Cache-Control": "max-age=0"},
        {"Cache-Control": "max-age=soon"},
        {"Cache-Control": "max-age=300, max-age=600"},  # conflicting: stale (RFC 9111 section 4.2.1)
        {"Cache-Control": "s-maxage=0, max-age=300"},  # a shared cache reads s-maxage
        {"Cache-Control": "max-age=300", "Age": "300"},
        {"Cache-Control": "max-age=300", "Vary": "*"},
        {"Expires": "0"},
        {"Expires": http_date(timedelta(seconds=-10))},
        {},  # no freshness at all: the portal guesses none
    ],
    ids=lambda headers: "; ".join(f"{k}: {v}" for k, v in headers.items()) or "none",
)
def test_a_response_its_headers_do_not_let_a_shared_cache_keep_is_fetched_again(
    settings: LazySettings, headers: dict[str, str]
) -> None:
    with backend(settings, headers) as server:
        assert calls_made(server) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "max-age=300"},
        {"Cache-Control": "public, max-age=300"},
        {"Cache-Control": "s-maxage=300, max-age=0"},
        {"Cache-Control": "max-age=300, must-revalidate"},
        {"Cache-Control": "max-age=300", "Age": "299"},
        {"Cache-Control": "max-age=300", "Vary": "Accept"},
        {"Expires": http_date(timedelta(seconds=300))},
        {"Expires": http_date(timedelta(seconds=300)), "Date": http_date(timedelta(0))},
    ],
    ids=lambda headers: "; ".join(f"{k}: {v}" for k, v in headers.items()),
)
def test_a_response_its_headers_let_a_shared_cache_keep_is_answered_from_the_cache(
    settings: LazySettings, headers: dict[str, str]
) -> None:
    """The twins: each differs from a case above in one thing."""
    with backend(settings, headers) as server:
        assert calls_made(server) == 1


@pytest.mark.parametrize(("status", "expected"), [(404, 1), (500, 2), (503, 2)])
def test_only_statuses_cacheable_by_default_are_kept(settings: LazySettings, status: int, expected: int) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}, status=status) as server:
        for _ in range(2):
            run({"target-url": server.url("/jwks")})

    assert len(server.seen) == expected


@pytest.mark.parametrize(("verb", "expected"), [("GET", 1), ("HEAD", 1), ("POST", 2), ("PUT", 2), ("DELETE", 2)])
def test_only_get_and_head_are_cached(settings: LazySettings, verb: str, expected: int) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for _ in range(2):
            run({"target-url": server.url("/jwks"), "verb": verb, "cache-response": "time-to-live"})

    assert len(server.seen) == expected


def test_the_answer_after_a_redirect_is_not_kept_for_the_first_url(settings: LazySettings) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.path == "/old":
            return Reply(302, {"Location": "/jwks"})
        return Reply(200, {"Content-Type": "application/json", "Cache-Control": "max-age=300"}, JWKS)

    with Backend(answer) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        for _ in range(2):
            run({"target-url": server.url("/old")})
        for _ in range(2):
            run({"target-url": server.url("/jwks")})

    assert [seen.path for seen in server.seen] == ["/old", "/jwks", "/old", "/jwks", "/jwks"]


# -- what the request asks (protocol) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [("no-cache", 2), ("no-store", 2), ("max-age=0", 2), ("min-fresh=600", 2), ("max-age=60", 1), ("", 1)],
)
def test_the_requests_cache_control_is_honoured(settings: LazySettings, cache_control: str, expected: int) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        assert calls_made(server, **headers) == expected


def test_the_requests_cache_control_does_not_count_with_time_to_live(settings: LazySettings) -> None:
    with backend(settings) as server:
        assert calls_made(server, {"cache-response": "time-to-live"}, **{"Cache-Control": "no-cache"}) == 1


# -- Authorization (RFC 9111 section 3.5) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("max-age=300", 2),
        ("public, max-age=300", 1),
        ("s-maxage=300", 1),
        ("max-age=300, must-revalidate", 1),
    ],
)
def test_a_request_with_authorization_is_cached_only_when_the_response_allows_it(
    settings: LazySettings, cache_control: str, expected: int
) -> None:
    with backend(settings, {"Cache-Control": cache_control}) as server:
        assert calls_made(server, Authorization="Bearer abc") == expected


def test_a_response_kept_without_authorization_does_not_answer_a_request_with_it(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        url = server.url("/jwks")
        run({"target-url": url})
        run({"target-url": url}, Authorization="Bearer abc")
        run({"target-url": url})

    assert len(server.seen) == 2
    assert "authorization" not in server.seen[0].headers
    assert server.seen[1].headers["authorization"] == "Bearer abc"


def test_invoke_credentials_count_as_authorization(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        assert calls_made(server, {"username": "api", "password": "secret"}) == 2


@pytest.mark.parametrize(("headers", "expected"), [({"Authorization": "Bearer abc"}, 2), ({}, 1)])
def test_time_to_live_never_caches_a_request_with_authorization(
    settings: LazySettings, headers: dict[str, str], expected: int
) -> None:
    with backend(settings, {"Cache-Control": "public, max-age=300"}) as server:
        assert calls_made(server, {"cache-response": "time-to-live"}, **headers) == expected


# -- the key: method, URL, TLS client profile, cache-key, Vary ----------------------------------------------------


def test_another_query_is_another_entry(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for path in ("/jwks?v=1", "/jwks?v=2", "/jwks?v=1"):
            run({"target-url": server.url(path)})

    assert [seen.path for seen in server.seen] == ["/jwks?v=1", "/jwks?v=2"]


def test_get_and_head_are_separate_entries(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for verb in ("GET", "HEAD", "GET", "HEAD"):
            run({"target-url": server.url("/jwks"), "verb": verb})

    assert [seen.method for seen in server.seen] == ["GET", "HEAD"]


def test_the_vary_headers_select_the_response(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300", "Vary": "Accept-Language"}) as server:
        url = server.url("/jwks")
        for language in ("en", "fr", "en", "fr", "de"):
            run({"target-url": url}, **{"Accept-Language": language})
        run({"target-url": url})
        run({"target-url": url})

    assert [seen.headers.get("accept-language") for seen in server.seen] == ["en", "fr", "de", None]


def test_a_header_vary_does_not_name_does_not_select(settings: LazySettings) -> None:
    """The twin: without Vary, another Accept-Language is answered from the cache."""
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for language in ("en", "fr"):
            run({"target-url": server.url("/jwks")}, **{"Accept-Language": language})

    assert len(server.seen) == 1


@pytest.mark.parametrize(("tenants", "expected"), [(("a", "b", "a"), 2), (("a", "a", "a"), 1)])
def test_cache_key_separates_entries(settings: LazySettings, tenants: tuple[str, ...], expected: int) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for tenant in tenants:
            run({"target-url": server.url("/jwks"), "cache-key": "$(request.headers.x-tenant)"}, **{"X-Tenant": tenant})

    assert len(server.seen) == expected


def test_cache_key_never_joins_two_urls(settings: LazySettings) -> None:
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for path in ("/a", "/b"):
            run({"target-url": server.url(path), "cache-key": "same"})

    assert [seen.path for seen in server.seen] == ["/a", "/b"]


def test_the_tls_client_profile_is_part_of_the_key() -> None:
    rule = CacheRule(mode="protocol", ttl=900, key=None)
    contexts = [None, ssl.create_default_context(), ssl.create_default_context()]
    made: list[int] = []

    def call() -> BackendResponse:
        made.append(1)
        return BackendResponse("https://idp.test/jwks", 200, "OK", (("Cache-Control", "max-age=300"),), JWKS)

    answers = [
        rule.fetch(
            Context(verb="GET", path="/go", headers={}),
            method="GET",
            url="https://idp.test/jwks",
            headers={},
            tls=tls,
            call=call,
        )
        for tls in [*contexts, *contexts]
    ]

    assert len(made) == 3
    assert [cached for _, cached in answers] == [False, False, False, True, True, True]


# -- the store's bounds -------------------------------------------------------------------------------------------


def test_the_least_recently_used_entry_goes_first(settings: LazySettings) -> None:
    settings.INVOKE = {"CACHE_ENTRIES": 2}
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        for path in ("/a", "/b", "/a", "/c", "/a", "/b"):
            run({"target-url": server.url(path)})

    assert [seen.path for seen in server.seen] == ["/a", "/b", "/c", "/b"]
    assert RESPONSES.count == 2


@pytest.mark.parametrize(("size", "expected"), [(2048, 2), (512, 1)])
def test_a_response_larger_than_the_cache_is_not_kept(settings: LazySettings, size: int, expected: int) -> None:
    settings.INVOKE = {"CACHE_KIB": 1}
    with backend(settings, {"Cache-Control": "max-age=300"}, body=b"x" * size) as server:
        assert calls_made(server) == expected
    assert RESPONSES.bytes <= 1024


def test_the_bytes_bound_evicts_the_oldest(settings: LazySettings) -> None:
    settings.INVOKE = {"CACHE_KIB": 2}
    with backend(settings, {"Cache-Control": "max-age=300"}, body=b"x" * 600) as server:
        for path in ("/a", "/b", "/c", "/c", "/a"):
            run({"target-url": server.url(path)})

    assert [seen.path for seen in server.seen] == ["/a", "/b", "/c", "/a"]
    assert RESPONSES.bytes <= 2048


@pytest.mark.parametrize(("entries", "expected"), [(0, 2), (1, 1)])
def test_no_entries_caches_nothing(settings: LazySettings, entries: int, expected: int) -> None:
    settings.INVOKE = {"CACHE_ENTRIES": entries}
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        assert calls_made(server) == expected


@pytest.mark.parametrize(("name", "value"), [("CACHE_ENTRIES", -1), ("CACHE_KIB", "16"), ("CACHE_KIB", True)])
def test_a_bad_cache_bound_is_refused(settings: LazySettings, name: str, value: Any) -> None:
    settings.INVOKE = {name: value}
    with pytest.raises(ImproperlyConfigured, match=rf"^INVOKE\['{name}'\] must be a whole number"):
        egress_settings()


def test_the_cache_is_emptied_when_the_invoke_settings_change(settings: LazySettings) -> None:
    """A destination no longer allowed is never answered from the cache."""
    with backend(settings, {"Cache-Control": "max-age=300"}) as server:
        run({"target-url": server.url("/jwks")})
        settings.INVOKE = {"ALLOW": ""}
        with pytest.raises(AssemblyError) as failure:
            run({"target-url": server.url("/jwks")})

    assert failure.value.name == "ConnectionError"
    assert len(server.seen) == 1


def test_the_store_keeps_its_bounds_under_threads(settings: LazySettings) -> None:
    settings.INVOKE = {"CACHE_ENTRIES": 16, "CACHE_KIB": 4}
    store = ResponseCache()
    rule = CacheRule(mode="time-to-live", ttl=900, key=None)

    def entry(i: int) -> Any:
        response = BackendResponse(f"http://x/{i}", 200, "OK", (), b"x" * (i % 300))
        made = rule._entry(response, response.url, {}, False, sent=time.monotonic(), received=time.monotonic())
        assert made is not None
        return made

    def work(offset: int) -> None:
        for i in range(offset, offset + 400):
            store.put(("GET", f"http://x/{i % 40}", None, ""), entry(i))
            store.find(("GET", f"http://x/{(i * 7) % 40}", None, ""), {}, time.monotonic())

    threads = [threading.Thread(target=work, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    variants = [v for vs in store._entries.values() for v in vs]
    assert 0 < store.count == len(variants) <= 16
    assert store.bytes == sum(v.size for v in variants) <= 4096


# -- a backend's interim (1xx) answers -----------------------------------------------------------------------------

FINAL = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"


@contextmanager
def raw_backend(parts: list[bytes], pause: float = 0.0) -> Iterator[str]:
    """A loopback server that reads one request head and sends ``parts``, ``pause`` seconds apart; yields its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head and (data := connection.recv(65536)):
                head += data
            for part in parts:
                if stop.is_set():
                    return
                try:
                    connection.sendall(part)
                except OSError:
                    return
                time.sleep(pause)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hinted"
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


def run_raw(settings: LazySettings, parts: list[bytes], **config: Any) -> Context:
    with raw_backend(parts) as url:
        settings.INVOKE = {"ALLOW": url.split("/")[2]}
        return run({"target-url": url, **config})


@pytest.mark.parametrize(
    "interim",
    [
        [EARLY_HINTS],
        [b"HTTP/1.1 100 Continue\r\n\r\n", EARLY_HINTS, EARLY_HINTS],
        [b"HTTP/1.1 102 Processing\r\n\r\n"],
        [b"HTTP/1.1 199 Whatever\r\nX-A: 1\r\n\r\n"],
    ],
    ids=["103", "100-103-103", "102", "199"],
)
def test_a_backends_interim_answers_are_skipped_for_its_final_answer(
    settings: LazySettings, interim: list[bytes]
) -> None:
    context = run_raw(settings, [*interim, FINAL + b'{"ok": true}'])

    assert context.get("backend.status.code") == 200
    assert context.get("backend.body") == {"ok": True}
    assert "Link" not in context.get("backend.headers")  # the hints' headers are not the answer's


def test_a_final_answer_without_interim_answers_is_read(settings: LazySettings) -> None:
    """The twin: the same answer alone."""
    context = run_raw(settings, [FINAL + b'{"ok": true}'])

    assert context.get("backend.status.code") == 200
    assert context.get("backend.body") == {"ok": True}


def test_switching_protocols_unasked_is_a_connection_error(settings: LazySettings) -> None:
    with pytest.raises(AssemblyError) as failure:
        run_raw(settings, [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", FINAL + b"{}" * 6])

    assert failure.value.name == "ConnectionError"
    assert "switched protocols (101)" in str(failure.value)


def test_interim_answers_without_end_are_stopped_at_the_deadline(settings: LazySettings) -> None:
    started = time.monotonic()
    with raw_backend([EARLY_HINTS] * 40, pause=0.1) as url:
        settings.INVOKE = {"ALLOW": url.split("/")[2]}
        with pytest.raises(AssemblyError) as failure:
            run({"target-url": url, "timeout": 1})
    elapsed = time.monotonic() - started

    assert failure.value.name == "ConnectionError"
    assert elapsed < 1 + MARGIN  # the hints alone take 4 s


@pytest.mark.parametrize("interim", [[], [EARLY_HINTS]], ids=["final only", "103 first"])
def test_a_hit_makes_no_network_call(settings: LazySettings, interim: list[bytes]) -> None:
    """The backend answers one request and is gone: only the cache can answer the second call."""
    final = FINAL.replace(b"Connection: close", b"Cache-Control: max-age=300\r\nConnection: close")
    with raw_backend([*interim, final + b'{"ok": true}']) as url:
        settings.INVOKE = {"ALLOW": url.split("/")[2]}
        run({"target-url": url})
    second = run({"target-url": url})

    assert second.get("backend.body") == {"ok": True}
    assert second.backend_calls[0]["cached"] is True


def test_a_miss_after_the_backend_is_gone_is_a_connection_error(settings: LazySettings) -> None:
    """The twin: the same answer without Cache-Control is not kept, so the second call finds no backend."""
    with raw_backend([FINAL + b'{"ok": true}']) as url:
        settings.INVOKE = {"ALLOW": url.split("/")[2]}
        run({"target-url": url})
    with pytest.raises(AssemblyError) as failure:
        run({"target-url": url, "timeout": 2})

    assert failure.value.name == "ConnectionError"
