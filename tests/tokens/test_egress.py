"""The invoke policy's HTTP client and egress guard, against real loopback servers (tokens/egress.py)."""

from __future__ import annotations

import gzip
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import LazySettings as SettingsWrapper
from django.core.exceptions import ImproperlyConfigured

from keyprofiles.services import keyprofile_create, keystore_import, truststore_import
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.tokens.backends import TEST_PKI, Backend, Reply, Seen, json_reply
from tests.tokens.helpers import compile_policies, make_context
from tokens import egress
from tokens.egress import EgressAllowList, EgressError, egress_request
from tokens.errors import AssemblyError
from tokens.runtime import CatalogCryptoResolver

pytestmark = pytest.mark.django_db


def allow(settings: SettingsWrapper, entries: str, **more: int) -> None:
    settings.INVOKE = {"ALLOW": entries, **more}


def get(url: str, *, timeout: float = 5, tls: ssl.SSLContext | None = None) -> egress.BackendResponse:
    return egress_request(
        method="GET", url=url, headers={"Accept": "application/json"}, body=None, timeout=timeout, tls=tls
    )


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend(json_reply(b'{"ok": true}')) as server:
        yield server


def test_an_allowed_backend_answers_status_headers_and_body(settings: SettingsWrapper, backend: Backend) -> None:
    allow(settings, f"127.0.0.1:{backend.port}")
    response = get(backend.url("/items?x=1"))
    assert (response.status, response.body) == (200, b'{"ok": true}')
    assert response.header("content-type") == "application/json"
    assert backend.seen[0].path == "/items?x=1"
    assert backend.seen[0].headers["host"] == f"127.0.0.1:{backend.port}"


def test_a_destination_not_listed_is_refused_before_connecting(settings: SettingsWrapper, backend: Backend) -> None:
    allow(settings, f"127.0.0.1:{backend.port + 1}")
    with pytest.raises(EgressError, match="not an allowed destination"):
        get(backend.url("/"))
    assert backend.seen == []


def test_nothing_is_allowed_by_default(settings: SettingsWrapper, backend: Backend) -> None:
    allow(settings, "")
    with pytest.raises(EgressError, match="not an allowed destination"):
        get(backend.url("/"))


def test_a_cidr_allows_its_addresses(settings: SettingsWrapper, backend: Backend) -> None:
    allow(settings, "127.0.0.0/8")
    assert get(backend.url("/")).status == 200


def test_a_name_allowed_alone_never_reaches_the_loopback_address_it_resolves_to(
    settings: SettingsWrapper, backend: Backend
) -> None:
    allow(settings, f"localhost:{backend.port}")
    with pytest.raises(EgressError, match="internal address that PORTAL_INVOKE_ALLOW does not list"):
        get(backend.url("/", host="localhost"))
    assert backend.seen == []
    # Twin: the loopback address listed as well.
    allow(settings, f"localhost:{backend.port},127.0.0.1")
    assert get(backend.url("/", host="localhost")).status == 200
    assert backend.seen[0].headers["host"] == f"localhost:{backend.port}"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_internal_addresses_are_refused_unless_listed(settings: SettingsWrapper, url: str) -> None:
    allow(settings, "example.com")
    with pytest.raises(EgressError, match="not an allowed destination"):
        get(url, timeout=1)


def test_a_redirect_to_a_refused_destination_fails_cleanly(settings: SettingsWrapper) -> None:
    with Backend(json_reply(b'"inside"')) as inside:
        moved = lambda seen: Reply(302, {"Location": inside.url("/secret")})  # noqa: E731
        with Backend(moved) as outside:
            allow(settings, f"127.0.0.1:{outside.port}")
            with pytest.raises(EgressError, match="not an allowed destination"):
                get(outside.url("/"))
            assert inside.seen == []
            # Twin: both listed, the redirect is followed.
            allow(settings, f"127.0.0.1:{outside.port},127.0.0.1:{inside.port}")
            response = get(outside.url("/"))
            assert (response.status, response.body, inside.seen[0].path) == (200, b'"inside"', "/secret")


def test_a_redirect_to_the_metadata_address_is_refused(settings: SettingsWrapper) -> None:
    with Backend(lambda seen: Reply(307, {"Location": "http://169.254.169.254/latest/"})) as outside:
        allow(settings, f"127.0.0.1:{outside.port}")
        with pytest.raises(EgressError, match=r"169\.254\.169\.254:80 is not an allowed destination"):
            get(outside.url("/"))


def test_redirects_are_bounded(settings: SettingsWrapper) -> None:
    with Backend(lambda seen: Reply(302, {"Location": "/again"})) as loop:
        allow(settings, f"127.0.0.1:{loop.port}", MAX_REDIRECTS=3)
        with pytest.raises(EgressError, match="redirected more than 3 times"):
            get(loop.url("/"))
        assert len(loop.seen) == 4


def test_a_see_other_redirect_turns_a_post_into_a_get(settings: SettingsWrapper) -> None:
    def answer(seen: Seen) -> Reply:
        return Reply(303, {"Location": "/done"}) if seen.path == "/form" else Reply(200, {}, seen.method.encode())

    with Backend(answer) as server:
        allow(settings, f"127.0.0.1:{server.port}")
        response = egress_request(method="POST", url=server.url("/form"), headers={}, body=b"a=1", timeout=5)
        assert response.body == b"GET"


def test_a_response_over_the_cap_fails_whether_declared_or_not(settings: SettingsWrapper) -> None:
    big = b"x" * 2048
    with Backend(lambda seen: Reply(200, {}, big)) as server:
        allow(settings, f"127.0.0.1:{server.port}", MAX_RESPONSE_KIB=1)
        with pytest.raises(EgressError, match="larger than 1024 bytes"):
            get(server.url("/"))
        allow(settings, f"127.0.0.1:{server.port}", MAX_RESPONSE_KIB=2)
        assert get(server.url("/")).body == big


def test_a_compressed_response_is_capped_by_its_decompressed_size(settings: SettingsWrapper) -> None:
    bomb = gzip.compress(b"\0" * 4 * 1024 * 1024)  # 4 MiB of zeros in about 4 KiB
    with Backend(lambda seen: Reply(200, {"Content-Encoding": "gzip"}, bomb)) as server:
        allow(settings, f"127.0.0.1:{server.port}", MAX_RESPONSE_KIB=64)
        with pytest.raises(EgressError, match="larger than 65536 bytes"):
            get(server.url("/"))


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br"])
def test_a_response_in_an_encoding_the_portal_cannot_decode_is_refused(settings: SettingsWrapper, coding: str) -> None:
    with Backend(lambda seen: Reply(200, {"Content-Encoding": coding}, b"\x8b\x00compressed")) as server:
        allow(settings, f"127.0.0.1:{server.port}")
        with pytest.raises(EgressError, match="which the portal cannot decode"):
            get(server.url("/"))


def test_a_gzip_response_is_decoded(settings: SettingsWrapper) -> None:
    """The twin: an encoding the portal decodes."""
    with Backend(lambda seen: Reply(200, {"Content-Encoding": "gzip"}, gzip.compress(b"plain"))) as server:
        allow(settings, f"127.0.0.1:{server.port}")
        assert get(server.url("/")).body == b"plain"


def test_a_slow_backend_times_out(settings: SettingsWrapper) -> None:
    def slow(seen: Seen) -> Reply:
        time.sleep(1.5)
        return Reply(200, {}, b"late")

    with Backend(slow) as server:
        allow(settings, f"127.0.0.1:{server.port}")
        with pytest.raises(EgressError, match="timed out"):
            get(server.url("/"), timeout=0.3)


def test_a_closed_port_fails_as_an_egress_error(settings: SettingsWrapper, backend: Backend) -> None:
    port = backend.port
    backend.server.server_close()
    allow(settings, f"127.0.0.1:{port}")
    with pytest.raises(EgressError, match="failed"):
        get(f"http://127.0.0.1:{port}/", timeout=2)


# -- DNS lookups within the call's deadline -----------------------------------------------------------------


class StandInResolver:
    """Stands in for the module's lookup function: ``fast.test`` answers 127.0.0.1 at once, a lookup of any
    ``*.slow.test`` name blocks until the test ends (as a resolver that never answers does)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[tuple[object, ...]]:
        self.asked.append(host)
        if host.endswith(".slow.test"):
            self.release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if host == "fast.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInResolver]:
    stand_in = StandInResolver()
    monkeypatch.setattr(egress, "_getaddrinfo", stand_in)
    yield stand_in
    stand_in.release.set()  # the blocked lookups end, and their threads go back to the pool


# The margin allows for a loaded machine; a lookup that waited for the resolver would take 30 s.
MARGIN = 1.5


def test_a_lookup_that_outlasts_the_timeout_fails_within_it(
    settings: SettingsWrapper, resolver: StandInResolver
) -> None:
    allow(settings, "api.slow.test")
    started = time.monotonic()
    with pytest.raises(EgressError, match=r"the host api\.slow\.test cannot be resolved \(DNS lookup timed out\)"):
        get("http://api.slow.test/", timeout=0.5)
    assert time.monotonic() - started < 0.5 + MARGIN
    assert resolver.asked == ["api.slow.test"]


def test_a_name_that_resolves_in_time_is_called_at_its_address(
    settings: SettingsWrapper, resolver: StandInResolver, backend: Backend
) -> None:
    allow(settings, f"fast.test:{backend.port},127.0.0.1")
    response = get(backend.url("/", host="fast.test"), timeout=0.5)
    assert response.status == 200
    assert backend.seen[0].headers["host"] == f"fast.test:{backend.port}"


def test_a_name_that_does_not_resolve_fails_at_once_naming_the_host(
    settings: SettingsWrapper, resolver: StandInResolver
) -> None:
    allow(settings, "nowhere.test")
    with pytest.raises(EgressError, match=r"^the host nowhere\.test cannot be resolved$") as failure:
        get("http://nowhere.test/", timeout=5)
    assert isinstance(failure.value.__cause__, socket.gaierror)


def test_the_system_resolver_answers_through_the_lookup_threads(settings: SettingsWrapper, backend: Backend) -> None:
    allow(settings, f"localhost:{backend.port},127.0.0.0/8,::1")
    assert get(backend.url("/", host="localhost")).status == 200


def test_a_redirect_to_a_slow_name_fails_within_the_whole_call_timeout(
    settings: SettingsWrapper, resolver: StandInResolver
) -> None:
    def slow_then_moved(seen: Seen) -> Reply:
        time.sleep(0.3)  # part of the call's time goes on the first hop
        return Reply(302, {"Location": "http://next.slow.test/"})

    with Backend(slow_then_moved) as outside:
        allow(settings, f"127.0.0.1:{outside.port},next.slow.test")
        started = time.monotonic()
        with pytest.raises(EgressError, match=r"next\.slow\.test cannot be resolved \(DNS lookup timed out\)"):
            get(outside.url("/"), timeout=0.8)
        assert time.monotonic() - started < 0.8 + MARGIN
    # Twin: the redirect names a host that resolves in time.
    with (
        Backend(json_reply(b'"there"')) as there,
        Backend(lambda seen: Reply(302, {"Location": there.url("/", host="fast.test")})) as outside,
    ):
        allow(settings, f"127.0.0.1:{outside.port},fast.test:{there.port},127.0.0.1:{there.port}")
        assert get(outside.url("/"), timeout=0.8).body == b'"there"'


def test_when_every_lookup_thread_is_busy_a_lookup_waits_within_its_deadline_then_fails_the_same_way(
    settings: SettingsWrapper, resolver: StandInResolver, backend: Backend
) -> None:
    allow(settings, f"a.slow.test,b.slow.test,c.slow.test,fast.test:{backend.port},127.0.0.1", DNS_LOOKUPS=2)
    failures: list[str] = []

    def call(host: str) -> None:
        try:
            get(f"http://{host}/", timeout=2)
        except EgressError as e:
            failures.append(str(e))

    storm = [threading.Thread(target=call, args=(host,)) for host in ("a.slow.test", "b.slow.test", "c.slow.test")]
    for caller in storm:
        caller.start()
    for _ in range(500):  # until both threads are in a lookup (at most 5 s)
        if len(resolver.asked) == 2:
            break
        time.sleep(0.01)
    # Two slow lookups hold both threads; the third caller waits for one, as does a lookup that would be fast.
    with pytest.raises(EgressError, match=r"the host fast\.test cannot be resolved \(DNS lookup timed out\)"):
        get(backend.url("/", host="fast.test"), timeout=0.3)
    assert egress._dns_lookups().threads == 2
    assert "fast.test" not in resolver.asked
    # Twin: once the slow lookups end, the threads serve the next one.
    resolver.release.set()
    for caller in storm:
        caller.join()
    assert len(failures) == 3
    assert get(backend.url("/", host="fast.test"), timeout=2).status == 200
    assert egress._dns_lookups().threads <= 2


def test_an_invoke_whose_lookup_times_out_raises_a_connection_error_a_catch_handles(
    settings: SettingsWrapper, resolver: StandInResolver, bare_resolver: CatalogCryptoResolver
) -> None:
    allow(settings, "api.slow.test")
    call = {"invoke": {"title": "call backend", "target-url": "http://api.slow.test/orders", "timeout": 1}}
    answer = {
        "set-variable": {
            "title": "answer",
            "actions": [{"set": "message.body", "value": "$(error.name): $(error.message)", "type": "string"}],
        }
    }
    context = make_context()
    compile_policies([call], bare_resolver, [{"errors": ["ConnectionError"], "execute": [answer]}]).run(context)
    assert context.get("message.body") == (
        "ConnectionError: invoke policy 'call backend': the host api.slow.test cannot be resolved "
        "(DNS lookup timed out)."
    )
    # Its twin without the catch: the error reaches the caller, as the gateway's 500 "URL Open error".
    with pytest.raises(AssemblyError) as raised:
        compile_policies([call], bare_resolver).run(make_context())
    assert (raised.value.name, raised.value.status) == ("ConnectionError", 500)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_looks_names_up_on_threads_of_its_own(
    settings: SettingsWrapper, resolver: StandInResolver, backend: Backend
) -> None:
    """As a gunicorn worker forked after preload_app: the parent's lookup threads are not in the child."""
    allow(settings, f"fast.test:{backend.port},127.0.0.1")
    assert get(backend.url("/", host="fast.test")).status == 200  # the parent's pool has a thread, idle
    child = os.fork()
    if child == 0:
        code = 3
        try:
            code = 0 if get(backend.url("/", host="fast.test"), timeout=2).status == 200 else 1
        except EgressError:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(backend.seen) == 2


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://user:pw@127.0.0.1/", "may not carry credentials"),
        ("file:///etc/passwd", "is not http or https"),
        ("gopher://127.0.0.1/", "is not http or https"),
        ("http:///nohost", "names no host"),
        ("http://127.0.0.1:99999/", "is not valid"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused(settings: SettingsWrapper, url: str, problem: str) -> None:
    allow(settings, "127.0.0.1")
    with pytest.raises(EgressError, match=problem):
        get(url)


def test_the_allow_list_reads_names_ports_addresses_and_cidrs() -> None:
    parsed = EgressAllowList.parse("api.example.com, idp.example.com:8443, 10.1.0.0/16, [::1]:8080, 192.0.2.7")
    assert parsed.name_allows("API.example.com.", 443)
    assert parsed.name_allows("idp.example.com", 8443)
    assert not parsed.name_allows("idp.example.com", 443)

    assert parsed.network_allows(ipaddress.ip_address("10.1.2.3"), 80)
    assert parsed.network_allows(ipaddress.ip_address("::1"), 8080)
    assert not parsed.network_allows(ipaddress.ip_address("::1"), 80)


@pytest.mark.parametrize("entry", ["bad host!", "host:notaport", "-x.example.com", "a:70000"])
def test_a_bad_allow_entry_is_a_configuration_error(settings: SettingsWrapper, entry: str) -> None:
    allow(settings, entry)
    with pytest.raises(ImproperlyConfigured, match=r"^INVOKE\['ALLOW'\] \(PORTAL_INVOKE_ALLOW\) lists an entry"):
        egress.egress_settings()


def test_the_allow_list_may_be_a_list_of_entries(settings: SettingsWrapper) -> None:
    settings.INVOKE = {"ALLOW": ["api.example.com", "10.0.0.0/8"]}
    assert egress.egress_settings().allow.name_allows("api.example.com", 443)
    settings.INVOKE = {"ALLOW": 7}
    with pytest.raises(
        ImproperlyConfigured, match=r"^INVOKE\['ALLOW'\] \(PORTAL_INVOKE_ALLOW\) must be text or a list"
    ):
        egress.egress_settings()


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        ({"MAX_TIMEOUT_SECONDS": 0}, "INVOKE['MAX_TIMEOUT_SECONDS'] must be a whole number from 1 to 600, not 0."),
        ({"DNS_LOOKUPS": True}, "INVOKE['DNS_LOOKUPS'] must be a whole number from 1 to 1000, not True."),
        ({"MAX_REDIRECTS": "5"}, "INVOKE['MAX_REDIRECTS'] must be a whole number from 0 to 20, not '5'."),
        ({"TIMEOUT": 5}, "Unknown INVOKE settings: TIMEOUT."),
    ],
)
def test_invoke_settings_out_of_range_or_unknown_are_refused_by_name(
    settings: SettingsWrapper, configured: dict[str, object], message: str
) -> None:
    settings.INVOKE = {"ALLOW": "", **configured}
    with pytest.raises(ImproperlyConfigured, match=f"^{re.escape(message)}$"):
        egress.egress_settings()
    # The twin: the same setting in range.
    settings.INVOKE = {"ALLOW": "", "MAX_TIMEOUT_SECONDS": 600, "DNS_LOOKUPS": 1, "MAX_REDIRECTS": 0}
    assert (egress.egress_settings().max_timeout_seconds, egress.egress_settings().dns_lookups) == (600, 1)


# -- TLS ----------------------------------------------------------------------------------------------------


def test_https_to_an_untrusted_certificate_fails_and_its_authority_makes_it_pass(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    with Backend(json_reply(b"{}"), tls=True, tmp=tmp_path) as server:
        allow(settings, f"localhost:{server.port},127.0.0.1")
        with pytest.raises(EgressError, match="not trusted"):
            get(server.url("/", host="localhost"))
        trusted = egress.tls_client_context(private_key=None, certificate_chain_pem="", trusted_pems=[TEST_PKI.ca_pem])
        assert get(server.url("/", host="localhost"), tls=trusted).status == 200


def test_the_certificate_must_name_the_host_in_the_url(settings: SettingsWrapper, tmp_path: Path) -> None:
    trusted = egress.tls_client_context(private_key=None, certificate_chain_pem="", trusted_pems=[TEST_PKI.ca_pem])
    with Backend(json_reply(b"{}"), tls=True, tmp=tmp_path, certificate=TEST_PKI.elsewhere) as server:
        allow(settings, "127.0.0.1")
        with pytest.raises(EgressError, match=r"127\.0\.0\.1. doesn.t match .other\.test."):
            get(server.url("/"), tls=trusted)
    # Twin: a certificate (from the same authority) that names 127.0.0.1.
    with Backend(json_reply(b"{}"), tls=True, tmp=tmp_path) as server:
        assert get(server.url("/"), tls=trusted).status == 200


@pytest.fixture
def mtls_profile(organization: Organization, sandbox: Catalog, actor: Actor) -> str:
    keystore = keystore_import(
        organization=organization,
        name="Invoke client",
        certificate=TEST_PKI.client.certificate_pem.encode(),
        private_key=TEST_PKI.client.key_pem.encode(),
        actor=actor,
    )
    truststore = truststore_import(
        organization=organization, name="Backend CA", data=TEST_PKI.ca_pem.encode(), actor=actor
    )
    profile = keyprofile_create(
        organization=organization,
        title="Backend Client",
        keystore=keystore,
        truststore=truststore,
        catalogs=[sandbox],
        actor=actor,
    )
    return profile.name


def test_a_tls_client_profile_presents_its_certificate_for_mutual_tls(
    settings: SettingsWrapper, tmp_path: Path, sandbox: Catalog, mtls_profile: str
) -> None:
    with Backend(json_reply(b"{}"), tls=True, require_client_certificate=True, tmp=tmp_path) as server:
        allow(settings, f"127.0.0.1:{server.port}")
        server_only = egress.tls_client_context(
            private_key=None, certificate_chain_pem="", trusted_pems=[TEST_PKI.ca_pem]
        )
        with pytest.raises(EgressError):
            get(server.url("/"), tls=server_only)
        context = egress.tls_profile_context(catalog=sandbox, reference=f"{mtls_profile}:1.0.0")
        assert egress.tls_profile_context(catalog=sandbox, reference=mtls_profile) is context
        assert get(server.url("/"), tls=context).status == 200
        subject = dict(item[0] for item in server.seen[-1].client_certificate["subject"])  # type: ignore[index]
        assert subject["commonName"] == "invoke-client"


def test_an_unknown_tls_client_profile_is_named(sandbox: Catalog, mtls_profile: str) -> None:
    with pytest.raises(LookupError, match=r"no TLS client profile 'backend-client:2\.0\.0'"):
        egress.tls_profile_context(catalog=sandbox, reference="backend-client:2.0.0")


# -- addresses that carry or neighbour an internal one (QA finding 13) ----------------------------------------------


@pytest.fixture
def partner_resolves_to(monkeypatch: pytest.MonkeyPatch, settings: SettingsWrapper) -> list[str]:
    """api.partner.test is allowed by name and resolves to the address the test puts in the list."""
    answer: list[str] = []

    def stand_in(host: str, port: int) -> list[tuple[object, ...]]:
        family = socket.AF_INET6 if ":" in answer[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer[0], port))]

    monkeypatch.setattr(egress, "_getaddrinfo", stand_in)
    allow(settings, "api.partner.test")
    return answer


def checked(address: str, resolves_to: list[str]) -> egress.Address:
    resolves_to[:] = [address]
    config = egress.egress_settings()
    return egress.checked_address("api.partner.test", 80, config.allow, deadline=time.monotonic() + 5)


@pytest.mark.parametrize(
    "address",
    [
        "192.0.0.192",  # IETF protocol assignments (RFC 6890) beyond the /29 Python knows; a cloud's metadata address
        "192.0.0.8",
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1 (stored inverted)
        "2001:0:a9fe:a9fe::1",  # Teredo whose server is 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
        "::ffff:169.254.169.254",  # IPv4-mapped
        "169.254.169.254",
    ],
)
def test_an_allowed_name_resolving_to_an_internal_or_wrapped_internal_address_is_refused(
    partner_resolves_to: list[str], address: str
) -> None:
    with pytest.raises(EgressError, match="resolves to an internal address that PORTAL_INVOKE_ALLOW does not list"):
        checked(address, partner_resolves_to)


@pytest.mark.parametrize(
    "address",
    [
        "192.0.1.1",  # just past 192.0.0.0/24
        "2002:808:808::1",  # 6to4 wrapping 8.8.8.8
        "::ffff:8.8.8.8",
        "2606:4700:4700::1111",
        "8.8.8.8",
    ],
)
def test_an_allowed_name_resolving_to_a_public_or_wrapped_public_address_is_called(
    partner_resolves_to: list[str], address: str
) -> None:
    """The twins: the same name resolving to public addresses, bare or wrapped the same ways."""
    assert checked(address, partner_resolves_to) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    ("listed", "address"),
    [
        ("192.0.0.0/24", "192.0.0.192"),
        ("2002::/16,127.0.0.1", "2002:7f00:1::1"),
        ("::/0,127.0.0.0/8", "::ffff:127.0.0.1"),
    ],
)
def test_an_ip_or_cidr_entry_allows_such_an_address(
    partner_resolves_to: list[str], settings: SettingsWrapper, listed: str, address: str
) -> None:
    """As for any internal address, an operator who lists it allows it (a wrapped one: its IPv4 address too)."""
    allow(settings, f"api.partner.test,{listed}")
    assert checked(address, partner_resolves_to) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    ("listed", "address"),
    [("2002::/16", "2002:7f00:1::1"), ("::/0", "::ffff:127.0.0.1"), ("0.0.0.0/0", "127.0.0.1"), ("::/0", "::1")],
)
def test_a_catch_all_or_a_wrapping_range_does_not_list_an_internal_address(
    partner_resolves_to: list[str], settings: SettingsWrapper, listed: str, address: str
) -> None:
    """The twins: ::/0 means the IPv6 internet, 2002::/16 the 6to4 range; neither lists loopback."""
    allow(settings, f"api.partner.test,{listed}")
    with pytest.raises(EgressError):
        checked(address, partner_resolves_to)
