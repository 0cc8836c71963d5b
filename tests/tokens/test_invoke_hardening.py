"""invoke against backends that misbehave on the wire (QA findings 3, 4 and 5 of issue 13): a backend that trickles
its answer, redirects that leave the origin, and the Authorization header the backend receives; and what invoke
sends (QA findings 11 and 14): headers http.client cannot write, the console's trace token, a parameter that would
be a dot-segment, the proxy headers.

Each failing case has a twin that differs in one thing and passes, so no test passes because every call fails.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import LazySettings

from tests.tokens.backends import Backend, RawBackend, Reply, Seen
from tokens.context import Context
from tokens.egress import EgressError, egress_request
from tokens.errors import AssemblyError
from tokens.policies.invoke import Invoke

pytestmark = pytest.mark.django_db

# As in tests/tokens/test_egress.py: a margin for a loaded machine, far below what the failures take (6 s or more).
MARGIN = 1.5
TIMEOUT = 1


class _NoCatalog:
    """A resolver without a catalog: enough for an invoke without a TLS client profile."""


def run_invoke(config: dict[str, Any], **headers: str) -> Context:
    context = Context(verb="GET", path="/go", headers={"X-IBM-Client-Id": "c" * 32, **headers})
    Invoke("backend", config, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return context


def head(length: int | None = 8, **more: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Connection: close"]
    lines += [f"Content-Length: {length}"] if length is not None else []
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in more.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# What each backend sends, one part every 0.25 s: 6 s or more in all, far beyond the call's timeout of 1 s.
TRICKLES: dict[str, list[bytes]] = {
    "body": [head(24), *one_byte_at_a_time(b"x" * 24)],
    "status line and headers": one_byte_at_a_time(head(2) + b"ok"),
    "chunk sizes": [head(None, transfer_encoding="chunked"), *one_byte_at_a_time(b"2;" + b"e" * 22 + b"\r\nok\r\n")],
    "compressed body": [
        head(None, content_encoding="gzip"),
        *one_byte_at_a_time(gzip.compress(b"ok", mtime=0)[:3] + b"\x08" + b"\0" * 6 + b"n" * 20),
    ],
}


@pytest.fixture
def allow_raw(settings: LazySettings) -> Callable[[RawBackend], None]:
    def allow(backend: RawBackend) -> None:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}

    return allow


# -- finding 3: the call's timeout holds for every read --------------------------------------------------------


@pytest.mark.parametrize("sent", TRICKLES.values(), ids=TRICKLES.keys())
def test_a_backend_that_trickles_its_answer_is_stopped_at_the_call_timeout(
    allow_raw: Callable[[RawBackend], None], sent: list[bytes]
) -> None:
    with RawBackend(sent, pause=0.25) as backend:
        allow_raw(backend)
        started = time.monotonic()
        with pytest.raises(AssemblyError) as failure:
            run_invoke({"target-url": backend.url("/slow"), "timeout": TIMEOUT})
        elapsed = time.monotonic() - started

    assert failure.value.name == "ConnectionError"
    assert "timed out" in failure.value.message
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize(
    ("sent", "body"),
    [
        ([head(24), *one_byte_at_a_time(b"x" * 24)], b"x" * 24),
        (one_byte_at_a_time(head(2) + b"ok"), b"ok"),
        ([head(None, transfer_encoding="chunked"), *one_byte_at_a_time(b"2;ext\r\nok\r\n0\r\n\r\n")], b"ok"),
        ([head(None, content_encoding="gzip"), *one_byte_at_a_time(gzip.compress(b"ok", mtime=0))], b"ok"),
    ],
    ids=TRICKLES.keys(),
)
def test_a_backend_that_trickles_its_answer_within_the_timeout_is_read_whole(
    allow_raw: Callable[[RawBackend], None], sent: list[bytes], body: bytes
) -> None:
    """The twins: the same answers sent quickly enough, a part every 5 ms, come back whole."""
    with RawBackend(sent, pause=0.005) as backend:
        allow_raw(backend)
        context = run_invoke({"target-url": backend.url("/slow"), "timeout": 10})

    assert context.get("message.body") == body


def test_a_backend_that_stalls_after_its_headers_times_out_while_reading(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    with RawBackend([head(24), b"x", b"never sent"], pause=10) as backend:
        allow_raw(backend)
        with pytest.raises(EgressError, match=r"timed out while reading the response"):
            egress_request(method="GET", url=backend.url("/"), headers={}, body=None, timeout=TIMEOUT)


def test_a_backend_that_sends_its_whole_body_after_its_headers_is_read(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    """The twin: the body arrives at once, and the next part (never read) comes too late to matter."""
    with RawBackend([head(24) + b"x" * 24, b"never read"], pause=10) as backend:
        allow_raw(backend)
        response = egress_request(method="GET", url=backend.url("/"), headers={}, body=None, timeout=TIMEOUT)

    assert response.body == b"x" * 24


# -- finding 4: credentials stay within their origin -------------------------------------------------------------

CREDENTIALS = {
    "Authorization": "Bearer the-callers-token",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
    "Cookie": "session=1",
    "X-IBM-Client-Id": "c" * 32,
}


def landed(seen: Seen) -> Reply:
    return Reply(200, {"Content-Type": "application/json"}, b'{"landed": true}')


def moved_to(location: str) -> Callable[[Seen], Reply]:
    return lambda seen: Reply(302, {"Location": location})


@pytest.fixture
def two_origins(settings: LazySettings) -> Iterator[tuple[Backend, Backend]]:
    """Two backends on two ports (two origins), both allowed; the second answers 200."""
    with Backend(landed) as other, Backend(moved_to(other.url("/landed"))) as first:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{first.port},127.0.0.1:{other.port}"}
        yield first, other


def test_a_redirect_to_another_port_drops_every_credential(two_origins: tuple[Backend, Backend]) -> None:
    first, other = two_origins
    response = egress_request(
        method="GET", url=first.url("/start"), headers={**CREDENTIALS, "X-Trace": "t1"}, body=None, timeout=5
    )

    assert response.body == b'{"landed": true}'
    assert {name.lower() for name in CREDENTIALS} <= set(first.seen[0].headers)
    assert not {name.lower() for name in CREDENTIALS} & set(other.seen[0].headers)
    assert other.seen[0].headers["x-trace"] == "t1"  # other headers follow the redirect


def test_a_redirect_within_the_origin_keeps_every_credential(settings: LazySettings) -> None:
    """The twin: the same redirect to a path of the same origin."""

    def answer(seen: Seen) -> Reply:
        return landed(seen) if seen.path == "/landed" else Reply(302, {"Location": "/landed"})

    with Backend(answer) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        egress_request(method="GET", url=backend.url("/start"), headers=CREDENTIALS, body=None, timeout=5)

    assert {name.lower(): value for name, value in CREDENTIALS.items()}.items() <= backend.seen[1].headers.items()


@pytest.mark.parametrize(("host", "kept"), [("localhost", False), ("127.0.0.1", True)])
def test_the_origin_is_the_host_as_written_not_the_server(settings: LazySettings, host: str, kept: bool) -> None:
    """One server reached as 127.0.0.1, then as localhost: another host name, another origin (and its twin)."""

    def answer(seen: Seen) -> Reply:
        return landed(seen) if seen.path == "/landed" else Reply(302, {"Location": backend.url("/landed", host)})

    with Backend(answer) as backend:
        settings.INVOKE = {"ALLOW": f"localhost:{backend.port},127.0.0.1:{backend.port}"}
        run_invoke({"target-url": backend.url("/start")}, Authorization="Bearer the-callers-token")

    assert ("authorization" in backend.seen[1].headers) is kept


@pytest.mark.parametrize(("detour", "kept"), [(True, False), (False, True)])
def test_credentials_once_dropped_stay_dropped(settings: LazySettings, detour: bool, kept: bool) -> None:
    """A chain that leaves the origin and comes back does not get them back: the other origin chose the way
    back. The twin's second redirect stays within the first origin."""

    def first_answer(seen: Seen) -> Reply:
        if seen.path == "/start":
            return Reply(302, {"Location": other.url("/back") if detour else "/back"})
        return Reply(302, {"Location": "/landed"}) if seen.path == "/back" else landed(seen)

    def other_answer(seen: Seen) -> Reply:
        return Reply(302, {"Location": first.url("/landed")})

    with Backend(other_answer) as other, Backend(first_answer) as first:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{first.port},127.0.0.1:{other.port}"}
        run_invoke({"target-url": first.url("/start")}, Authorization="Bearer the-callers-token")

    assert [seen.path for seen in first.seen] == ["/start", "/landed"] if detour else ["/start", "/back", "/landed"]
    assert ("authorization" in first.seen[-1].headers) is kept


def test_the_apis_basic_credentials_do_not_follow_a_redirect_to_another_origin(
    two_origins: tuple[Backend, Backend],
) -> None:
    first, other = two_origins
    run_invoke({"target-url": first.url("/start"), "username": "svc", "password": "s3cret"})

    assert first.seen[0].headers["authorization"] == "Basic c3ZjOnMzY3JldA=="
    assert "authorization" not in other.seen[0].headers
    assert "x-ibm-client-id" not in other.seen[0].headers


def test_the_client_id_goes_to_the_target_url_as_in_api_connect(two_origins: tuple[Backend, Backend]) -> None:
    """The twin: the backend the API names receives the client id (and the Basic credentials)."""
    _, other = two_origins
    run_invoke({"target-url": other.url("/landed"), "username": "svc", "password": "s3cret"})

    assert other.seen[0].headers["x-ibm-client-id"] == "c" * 32
    assert other.seen[0].headers["authorization"] == "Basic c3ZjOnMzY3JldA=="


# -- finding 5: one Authorization header -------------------------------------------------------------------------

OK = [head(2) + b"ok"]
BASIC = "Authorization: Basic c3ZjOnMzY3JldA=="


def test_basic_credentials_replace_the_callers_authorization_header(allow_raw: Callable[[RawBackend], None]) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        run_invoke(
            {"target-url": backend.url("/"), "username": "svc", "password": "s3cret"},
            authorization="Bearer the-callers-token",
        )

    assert backend.header_lines("authorization") == [BASIC]


def test_basic_credentials_replace_an_authorization_header_set_by_the_assembly(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        context = Context(verb="GET", path="/go", headers={"Authorization": "Bearer the-callers-token"})
        context.set("message.headers.AUTHORIZATION", "Bearer set-by-a-policy")
        config = {"target-url": backend.url("/"), "username": "svc", "password": "s3cret"}
        Invoke("backend", config, _NoCatalog()).run(context)  # type: ignore[arg-type]

    assert backend.header_lines("authorization") == [BASIC]


def test_basic_credentials_are_sent_once_without_an_authorization_header(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    """The twin: nothing to replace, one Basic header."""
    with RawBackend(OK) as backend:
        allow_raw(backend)
        run_invoke({"target-url": backend.url("/"), "username": "svc", "password": "s3cret"})

    assert backend.header_lines("authorization") == [BASIC]


def test_without_basic_credentials_the_callers_authorization_header_is_sent_once(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        run_invoke({"target-url": backend.url("/")}, authorization="Bearer the-callers-token")

    assert [line.lower() for line in backend.header_lines("authorization")] == [
        "authorization: bearer the-callers-token"
    ]


# -- QA finding 11: headers http.client cannot write are never a 500 ---------------------------------------------


def run_invoke_with_message_header(backend: RawBackend, name: str, value: str) -> Context:
    context = Context(verb="GET", path="/go", headers={"X-IBM-Client-Id": "c" * 32})
    context.set(f"message.headers.{name}", value)
    Invoke("backend", {"target-url": backend.url("/users")}, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return context


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("\u0141ukasz", b"X-User: \xc5\x81ukasz"),  # outside Latin-1: its UTF-8 bytes
        ("\u65e5\u672c", b"X-User: \xe6\x97\xa5\xe6\x9c\xac"),
        ("Jos\u00e9", b"X-User: Jos\xe9"),  # the twin: Latin-1 holds it, so it goes as Latin-1, as before
        ("Joe", b"X-User: Joe"),
    ],
)
def test_a_header_value_goes_as_latin1_when_it_can_else_as_its_utf8_bytes(
    allow_raw: Callable[[RawBackend], None], value: str, sent: bytes
) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        context = run_invoke_with_message_header(backend, "X-User", value)

    assert context.get("message.status.code") == 200
    assert sent in backend.raw_header_lines()


def test_a_callers_header_value_outside_latin1_reaches_the_backend_through_a_parameter(
    allow_raw: Callable[[RawBackend], None],
) -> None:
    """The QA shape: a set-variable copies a query parameter into message.headers before the invoke."""
    with RawBackend(OK) as backend:
        allow_raw(backend)
        context = Context(verb="GET", path="/go", query={"user": "\u0141ukasz"})
        context.set("message.headers.X-User", context.interpolate("$(request.parameters.user)"))
        Invoke("backend", {"target-url": backend.url("/")}, _NoCatalog()).run(context)  # type: ignore[arg-type]

    assert b"X-User: \xc5\x81ukasz" in backend.raw_header_lines()


@pytest.mark.parametrize("name", ["X-A:", "X-\u00e9", "X A", "X-A\u2028", "(X-A)"])
def test_a_header_name_that_is_not_a_field_name_is_dropped_and_logged(
    allow_raw: Callable[[RawBackend], None], caplog: pytest.LogCaptureFixture, name: str
) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        context = run_invoke_with_message_header(backend, name, "the-value")

    assert context.get("message.status.code") == 200
    assert not [line for line in backend.raw_header_lines() if b"the-value" in line]
    assert f"dropped the header {name!r}" in caplog.text


def test_a_header_name_that_is_a_field_name_is_sent(
    allow_raw: Callable[[RawBackend], None], caplog: pytest.LogCaptureFixture
) -> None:
    """The twin: the same header under a valid name (RFC 9110 section 5.6.2: a token)."""
    with RawBackend(OK) as backend:
        allow_raw(backend)
        run_invoke_with_message_header(backend, "X-A~1", "the-value")

    assert b"X-A~1: the-value" in backend.raw_header_lines()
    assert "dropped the header" not in caplog.text


def test_the_client_refuses_a_header_name_that_is_not_a_field_name(allow_raw: Callable[[RawBackend], None]) -> None:
    """egress_request's own guard, for callers other than invoke; the twin, a valid name, is sent."""
    with RawBackend(OK) as backend:
        allow_raw(backend)
        with pytest.raises(EgressError, match=r"the header name 'X-A\\n' is not an HTTP field name"):
            egress_request(method="GET", url=backend.url("/"), headers={"X-A\n": "1"}, body=None, timeout=5)
        egress_request(method="GET", url=backend.url("/"), headers={"X-A": "1"}, body=None, timeout=5)

    assert len(backend.heads) == 1


# -- QA finding 14: the console's trace token stays in the portal --------------------------------------------------


@pytest.mark.parametrize("set_by_the_assembly", [False, True])
def test_the_consoles_trace_token_is_never_sent_to_the_backend(
    allow_raw: Callable[[RawBackend], None], set_by_the_assembly: bool
) -> None:
    with RawBackend(OK) as backend:
        allow_raw(backend)
        context = Context(verb="GET", path="/go", headers={"X-Portal-Trace": "a-signed-token"})
        if set_by_the_assembly:
            context.set("message.headers.X-Portal-Trace", "a-signed-token")
        Invoke("backend", {"target-url": backend.url("/")}, _NoCatalog()).run(context)  # type: ignore[arg-type]

    assert backend.header_lines("x-portal-trace") == []


def test_the_request_id_and_other_headers_are_sent_to_the_backend(allow_raw: Callable[[RawBackend], None]) -> None:
    """The twin: the correlation id (which writes no trace record without the token) and an ordinary header."""
    with RawBackend(OK) as backend:
        allow_raw(backend)
        run_invoke({"target-url": backend.url("/")}, **{"X-Request-Id": "req-12345678", "X-Portal-Note": "n"})

    assert [line.lower() for line in backend.header_lines("x-request-id")] == ["x-request-id: req-12345678"]
    assert [line.lower() for line in backend.header_lines("x-portal-note")] == ["x-portal-note: n"]


# -- a request parameter cannot be a dot-segment of the backend's path --------------------------------------------


@pytest.fixture
def echo(settings: LazySettings) -> Iterator[Backend]:
    with Backend(landed) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        yield backend


def path_for(echo: Backend, target: str, value: str) -> str:
    context = Context(verb="GET", path="/go", query={"id": value})
    Invoke("backend", {"target-url": echo.url(target)}, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return echo.seen[0].path


@pytest.mark.parametrize("value", ["..", "."])
def test_a_dot_segment_parameter_in_the_path_is_refused_as_a_bad_request(echo: Backend, value: str) -> None:
    """Encoded or not (many servers decode %2E before resolving dot-segments), it would move the call."""
    with pytest.raises(AssemblyError) as refused:
        path_for(echo, "/users/$(request.parameters.id)/profile", value)
    assert (refused.value.name, refused.value.status) == ("BadRequestError", 400)
    assert f"request.parameters.id is '{value}'" in refused.value.message
    assert not echo.seen


@pytest.mark.parametrize(
    ("value", "sent"),
    [("...", "/users/.../profile"), ("a.b", "/users/a.b/profile"), ("..a", "/users/..a/profile")],
)
def test_a_parameter_with_dots_that_is_not_a_dot_segment_keeps_them(echo: Backend, value: str, sent: str) -> None:
    """The twins: a value with dots that no server reads as a dot-segment goes as it is."""
    assert path_for(echo, "/users/$(request.parameters.id)/profile", value) == sent


def test_a_dot_segment_parameter_in_the_query_is_only_a_value(echo: Backend) -> None:
    """The twin: in the query it moves nothing, and goes as it is."""
    assert path_for(echo, "/users?id=$(request.parameters.id)", "..") == "/users?id=.."


def test_the_request_path_keeps_its_slashes_and_an_encoded_question_mark_stays_in_the_path(echo: Backend) -> None:
    context = Context(verb="GET", path="/items/a?b c")  # as the server decoded /items/a%3Fb%20c
    Invoke("backend", {"target-url": echo.url("$(request.path)")}, _NoCatalog()).run(context)  # type: ignore[arg-type]
    assert echo.seen[0].path == "/items/a%3Fb%20c"


# -- inject-proxy-headers: each X-Forwarded-* once ------------------------------------------------------------------

GATEWAY_ENVIRON = {
    "REMOTE_ADDR": "198.51.100.7",
    "HTTP_HOST": "gateway.example.com",
    "wsgi.url_scheme": "https",
}
CALLERS_CLAIMS = {
    "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_X_FORWARDED_HOST": "claimed.example",
    "HTTP_X_FORWARDED_PROTO": "http",
}


def proxy_header_lines(backend: RawBackend, environ: dict[str, str]) -> list[str]:
    context = Context(verb="GET", path="/go", environ=environ)
    config = {"target-url": backend.url("/"), "inject-proxy-headers": True}
    Invoke("backend", config, _NoCatalog()).run(context)  # type: ignore[arg-type]
    return [line for name in ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto") for line in
            backend.header_lines(name)]  # fmt: skip


@pytest.mark.parametrize(
    ("trusted_proxies", "forwarded_for"),
    [(0, "198.51.100.7"), (1, "203.0.113.9, 198.51.100.7")],
    ids=["the caller's list replaced", "a trusted list appended to"],
)
def test_the_gateways_proxy_headers_are_sent_once_each(
    allow_raw: Callable[[RawBackend], None], settings: LazySettings, trusted_proxies: int, forwarded_for: str
) -> None:
    settings.PORTAL_TRUSTED_PROXIES = trusted_proxies
    with RawBackend(OK) as backend:
        allow_raw(backend)
        lines = proxy_header_lines(backend, {**GATEWAY_ENVIRON, **CALLERS_CLAIMS})

    assert lines == [
        f"X-Forwarded-For: {forwarded_for}",
        "X-Forwarded-Host: gateway.example.com",
        "X-Forwarded-Proto: https",
    ]


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_without_a_callers_list_the_proxy_headers_are_the_gateways(
    allow_raw: Callable[[RawBackend], None], settings: LazySettings, trusted_proxies: int
) -> None:
    """The twin: a call that carries no X-Forwarded-* gets the same headers, the address alone."""
    settings.PORTAL_TRUSTED_PROXIES = trusted_proxies
    with RawBackend(OK) as backend:
        allow_raw(backend)
        lines = proxy_header_lines(backend, GATEWAY_ENVIRON)

    assert lines == [
        "X-Forwarded-For: 198.51.100.7",
        "X-Forwarded-Host: gateway.example.com",
        "X-Forwarded-Proto: https",
    ]
