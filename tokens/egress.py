"""Outbound HTTP for the ``invoke`` policy: a pooled client behind an egress guard (DESIGN.md section 3a).

An API's assembly chooses the URLs it calls (``target-url`` with ``$(...)`` from the request), so every call is
a potential server-side request forgery. The guard:

- **Allowed destinations** come from ``PORTAL_INVOKE_ALLOW`` (the ``INVOKE`` setting ``ALLOW``): comma-separated
  host names, ``host:port``, IP addresses and CIDRs (``10.1.0.0/16``, ``[::1]:8443``). Nothing else is reachable;
  an empty list allows no call at all.
- **Checked after DNS resolution.** The name is resolved once, each address is checked, and the connection goes
  to the checked address (the URL's name still travels as SNI, certificate name and ``Host``): a name that
  resolves, or rebinds, to an internal address cannot slip through. Loopback, private, link-local, shared,
  multicast and reserved addresses, and IPv6 addresses that carry one (IPv4-mapped, NAT64, 6to4, Teredo), are
  refused unless an IP or CIDR entry lists them: allowing a *name* never allows the internal address it happens
  to resolve to.
- **On every redirect** the next URL goes through the same checks (redirects are followed here, never by the
  HTTP library). A redirect to another origin (scheme, host or port) drops the credentials (``ORIGIN_BOUND``:
  ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and API Connect's client id and secret) for the rest of
  the call, as browsers (Fetch, "HTTP-redirect fetch"), curl and requests do: whoever answers the redirect
  chooses where it goes, not the API's author.
- **Bounded:** a whole-call deadline (DNS, connect, every redirect and every read: each read from the socket,
  status line and headers included, waits at most for what is left of it, and the body is read as it arrives,
  never waiting for a full chunk), a response body cap checked before and while reading (decompressed size),
  and a cap on the response's header bytes. ``getaddrinfo`` takes no timeout and cannot be interrupted, so
  lookups run on a small bounded set of threads (``DNS_LOOKUPS``) and the call waits for its answer only until
  the deadline; nothing is cached (the system resolver gives no TTL).

Every failure is an ``EgressError``, which the invoke policy turns into APIC's catchable ``ConnectionError``.

TLS: without a TLS client profile the backend is verified against the system's certificate authorities. With
one (``tls_client_context``) the key profile's key and certificate are presented for mutual TLS and the
backend is verified against its truststore. Python's ``ssl`` loads a client key only from a file: the key is
written, encrypted under a random one-time password (PKCS#8), into an anonymous in-memory file
(``memfd_create``, never on a file system; where that does not exist, a 0600 temporary file removed at once),
read back by OpenSSL with the password, and the file closed. The plaintext key never leaves process memory.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import logging
import os
import queue
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import urllib3  # noqa: TID251
from cryptography.hazmat.primitives import serialization
from django.core.signals import setting_changed

from keyprofiles.keymaterial import PrivateKey
from portal.conf import AppSettings, whole_number
from portal.gateway_http import is_header_name

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from portal.models import Catalog

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "ALLOW": "",  # PORTAL_INVOKE_ALLOW
    "MAX_TIMEOUT_SECONDS": 60,  # the longest timeout an invoke may ask for (APIC's default timeout is 60 s)
    "MAX_RESPONSE_KIB": 4096,  # the response body, decompressed
    "MAX_RESPONSE_HEADER_KIB": 64,
    "MAX_REDIRECTS": 5,
    "POOLS": 64,  # connection pools kept per process (one per address, port, name and TLS profile)
    "POOL_CONNECTIONS": 4,  # idle connections kept per pool
    "DNS_LOOKUPS": 8,  # DNS lookups running at once per process (threads); more wait for one, within the deadline
    "CACHE_ENTRIES": 512,  # responses kept per process for invoke's cache-response (tokens.invoke_cache); 0: none
    "CACHE_KIB": 16 * 1024,  # and their bytes (body, headers and URL)
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Sent only to the origin they were meant for (lower case). X-IBM-Client-Id is no secret in API Connect, but an
# API secured by client id alone is called with nothing else, so it is a credential there too.
ORIGIN_BOUND = frozenset({"authorization", "proxy-authorization", "cookie", "x-ibm-client-id", "x-ibm-client-secret"})
READ_BYTES = 64 * 1024  # the most one read of a response body returns
MAX_INTERIM_ANSWERS = 16  # 1xx answers skipped before the final one (103 Early Hints comes once or twice)


class EgressError(Exception):
    """An outbound call that was refused or failed; ``str()`` is a sentence fit for ``ConnectionError``'s message
    (it names the host, never a credential or a response body)."""


@dataclass(frozen=True)
class _NameEntry:
    host: str  # lower case, no trailing dot
    port: int | None


@dataclass(frozen=True)
class _NetworkEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None


@dataclass(frozen=True)
class EgressAllowList:
    """The parsed ``PORTAL_INVOKE_ALLOW``: names (with an optional port) and networks (with an optional port)."""

    names: tuple[_NameEntry, ...]
    networks: tuple[_NetworkEntry, ...]

    @classmethod
    def parse(cls, text: str | Sequence[str]) -> EgressAllowList:
        """Raises ValueError naming an entry that is neither a host name, an address nor a CIDR."""
        entries = text.split(",") if isinstance(text, str) else list(text)
        names: list[_NameEntry] = []
        networks: list[_NetworkEntry] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            host, port = _split_port(entry)
            try:
                networks.append(_NetworkEntry(ipaddress.ip_network(host.strip("[]"), strict=False), port))
                continue
            except ValueError:
                pass
            if not _is_host_name(host):
                raise ValueError(f"{raw.strip()!r} is not a host name, host:port, IP address or CIDR")
            names.append(_NameEntry(host.removesuffix("."), port))
        return cls(tuple(names), tuple(networks))

    def name_allows(self, host: str, port: int) -> bool:
        host = host.lower().removesuffix(".")
        return any(entry.host == host and entry.port in (None, port) for entry in self.names)

    def network_allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        """Whether an IP or CIDR entry admits ``address``. An internal address must be listed by an entry narrower
        than a catch-all (``0.0.0.0/0``, ``::/0`` mean the internet, not the loopback and private ranges they
        cover), and an IPv6 address carrying an internal IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo) by an entry
        that admits that IPv4 address: the packets go there, whatever the IPv6 entry meant."""
        carried: list[ipaddress.IPv4Address] = []
        if isinstance(address, ipaddress.IPv6Address):
            carried = [address.ipv4_mapped] if address.ipv4_mapped is not None else _carried_ipv4(address)
            if any(is_internal_address(ipv4) and not self.network_allows(ipv4, port) for ipv4 in carried):
                return False
        # A wrapped address whose IPv4 address an entry admits is decided: any entry may then admit the wrapping.
        internal = not carried and is_internal_address(address)
        return any(
            address in entry.network and entry.port in (None, port) and not (internal and entry.network.prefixlen == 0)
            for entry in self.networks
        )


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, _port(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, _port(port)
    return entry, None


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number")
    return int(text)


def _is_host_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(label) <= 63 and label.isascii() and label.replace("-", "").isalnum() and label[0] != "-"
        for label in labels
    )


@dataclass(frozen=True)
class EgressSettings:
    allow: EgressAllowList
    max_timeout_seconds: int
    max_response_bytes: int
    max_response_header_bytes: int
    max_redirects: int
    pools: int
    pool_connections: int
    dns_lookups: int


def _allow_list(value: Any) -> EgressAllowList:
    """The ``ALLOW`` setting's check: text (``PORTAL_INVOKE_ALLOW``, comma-separated) or a list of entries."""
    if not isinstance(value, str) and not (
        isinstance(value, list | tuple) and all(isinstance(entry, str) for entry in value)
    ):
        raise ValueError(f"(PORTAL_INVOKE_ALLOW) must be text or a list of text, not {type(value).__name__}")
    try:
        return EgressAllowList.parse(value)
    except ValueError as e:
        raise ValueError(f"(PORTAL_INVOKE_ALLOW) lists an entry that is not a destination: {e}") from e


invoke_settings = AppSettings(
    "INVOKE",
    DEFAULTS,
    checks={
        "ALLOW": _allow_list,
        "MAX_TIMEOUT_SECONDS": whole_number(1, 600),
        "MAX_RESPONSE_KIB": whole_number(1, 1024 * 1024),
        "MAX_RESPONSE_HEADER_KIB": whole_number(1, 1024),
        "MAX_REDIRECTS": whole_number(0, 20),
        "POOLS": whole_number(1, 10_000),
        "POOL_CONNECTIONS": whole_number(1, 1000),
        "DNS_LOOKUPS": whole_number(1, 1000),
        "CACHE_ENTRIES": whole_number(0, 1_000_000),
        "CACHE_KIB": whole_number(0, 1024 * 1024),
    },
)


@cache
def egress_settings() -> EgressSettings:
    """The ``INVOKE`` settings, typed (checked by ``invoke_settings``). Raises ImproperlyConfigured naming an
    unknown or bad setting."""
    return EgressSettings(
        allow=invoke_settings.ALLOW,
        max_timeout_seconds=invoke_settings.MAX_TIMEOUT_SECONDS,
        max_response_bytes=invoke_settings.MAX_RESPONSE_KIB * 1024,
        max_response_header_bytes=invoke_settings.MAX_RESPONSE_HEADER_KIB * 1024,
        max_redirects=invoke_settings.MAX_REDIRECTS,
        pools=invoke_settings.POOLS,
        pool_connections=invoke_settings.POOL_CONNECTIONS,
        dns_lookups=invoke_settings.DNS_LOOKUPS,
    )


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "INVOKE":
        egress_settings.cache_clear()
        _dns_lookups.cache_clear()
        _close_pools()


setting_changed.connect(_reload)

# -- addresses ----------------------------------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_internal_address(address: Address) -> bool:
    """Loopback, private (RFC 1918, ULA), link-local (cloud metadata at 169.254.169.254), shared (RFC 6598), IETF
    protocol assignments (192.0.0.0/24), multicast, unspecified or reserved: addresses an outside caller must
    not reach through the gateway. An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo)
    is internal when the address it carries is: the packets end up there."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_internal_address(address.ipv4_mapped)
        if any(is_internal_address(carried) for carried in _carried_ipv4(address)):
            return True
    elif any(address in network for network in _INTERNAL_IPV4):
        return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


# Python's is_global counts these as global (as of 3.11): RFC 6598 shared address space (carrier-grade NAT), and
# RFC 6890's IETF protocol assignments, of which Python knows only the first /29; IANA lists the /24 as not
# globally reachable, and 192.0.0.192 is a cloud's (Oracle's) legacy metadata address.
_INTERNAL_IPV4 = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("192.0.0.0/24"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix: the IPv4 address is the last 32 bits


def _carried_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a NAT64 (RFC 6052), 6to4 (RFC 3056, 2002::/16) or Teredo (RFC 4380, 2001::/32: its
    server and its client) address hands packets to; none for any other IPv6 address."""
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


# -- DNS ----------------------------------------------------------------------------------------------------


def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    """The system resolver's answer for ``host:port`` (TCP). Its own name, so tests can stand in a slow resolver."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class _Lookup:
    """One lookup handed to a worker: the answer or the error, and an event set when it is done."""

    __slots__ = ("answer", "done", "error", "host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.answer: list[tuple[Any, ...]] = []
        self.error: Exception | None = None
        self.done = threading.Event()


class _DnsLookups:
    """``getaddrinfo`` on at most ``size`` threads, so that a caller can stop waiting at its deadline.

    A lookup cannot be interrupted: one a caller gave up on runs on in its worker (the resolver's own timeouts
    end it) and holds its slot until then. At most ``size`` lookups run at once, so a storm of slow lookups uses
    ``size`` threads and later callers wait for a slot, within their deadline. The workers are daemon threads
    (a hung lookup never delays the process's exit, as ``ThreadPoolExecutor``'s joined workers would) and end
    after ``IDLE_SECONDS`` without work.
    """

    IDLE_SECONDS = 30.0

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._work: queue.SimpleQueue[_Lookup] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers waiting for work and not yet promised a lookup
        self.threads = 0

    def resolve(self, host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
        """``getaddrinfo(host, port)`` if it answers before ``deadline`` (``time.monotonic()``). Raises EgressError
        when it fails, or when it (or the wait for a free slot) outlasts the deadline."""
        timed_out = EgressError(f"the host {host} cannot be resolved (DNS lookup timed out)")
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            logger.warning("invoke: all %s DNS lookup threads are busy; the lookup of %s timed out", self.size, host)
            raise timed_out
        lookup = _Lookup(host, port)
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                # Each started worker holds a slot's lookup or is counted idle, so there are never more than size.
                self.threads += 1
                threading.Thread(target=self._serve, name="egress-dns", daemon=True).start()
        self._work.put(lookup)
        if not lookup.done.wait(max(0.0, deadline - time.monotonic())):
            raise timed_out
        if lookup.error is not None:
            raise EgressError(f"the host {host} cannot be resolved") from lookup.error
        return lookup.answer

    def _serve(self) -> None:
        while True:
            try:
                lookup = self._work.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # else every idle worker was promised a lookup that is on its way
                        self._idle -= 1
                        self.threads -= 1
                        return
                continue
            try:
                lookup.answer = _getaddrinfo(lookup.host, lookup.port)
            except Exception as e:  # OSError, UnicodeError (IDNA): handed to the caller, who names the host
                lookup.error = e
            finally:
                with self._lock:
                    self._idle += 1
                self._slots.release()
                lookup.done.set()


@cache
def _dns_lookups() -> _DnsLookups:
    return _DnsLookups(egress_settings().dns_lookups)


# A forked child (a gunicorn worker after preload_app) has none of its parent's lookup threads: a pool that
# counted them idle would hand them lookups nobody serves. The child makes its own.
os.register_at_fork(after_in_child=_dns_lookups.cache_clear)


def _resolve(host: str, port: int, deadline: float) -> list[Address]:
    """The addresses of ``host`` (itself when it is an address literal), looked up before ``deadline``. Raises
    EgressError when the name cannot be resolved in time."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    found = _dns_lookups().resolve(host, port, deadline)
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressError(f"the host {host} has no address")
    return addresses


def checked_address(host: str, port: int, allow: EgressAllowList, *, deadline: float) -> Address:
    """The address to connect to for ``host:port``: the first one the allow list admits. Raises EgressError
    saying why none is (the host is not listed, or it resolves only to internal addresses not listed), or
    when the name cannot be resolved before ``deadline`` (``time.monotonic()``)."""
    name_allowed = allow.name_allows(host, port)
    addresses = _resolve(host, port, deadline)
    literal = len(addresses) == 1 and str(addresses[0]) == host.strip("[]")
    if not name_allowed and not literal and not any(allow.network_allows(a, port) for a in addresses):
        raise EgressError(f"{host}:{port} is not an allowed destination (PORTAL_INVOKE_ALLOW)")
    for address in addresses:
        if allow.network_allows(address, port):
            return address
        if name_allowed and not is_internal_address(address):
            return address
    if literal:
        raise EgressError(f"{host}:{port} is not an allowed destination (PORTAL_INVOKE_ALLOW)")
    # The addresses go to the log, not into the message: an API's caller may read the message, and must not
    # learn the internal addresses names resolve to.
    logger.warning("invoke refused: %s:%s resolves to internal addresses %s", host, port, addresses)
    raise EgressError(
        f"{host}:{port} resolves to an internal address that PORTAL_INVOKE_ALLOW does not list "
        "(allowing a name never allows the loopback, private or link-local address it resolves to)"
    )


# -- TLS ----------------------------------------------------------------------------------------------------


@cache
def _system_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def tls_client_context(
    *, private_key: PrivateKey | None, certificate_chain_pem: str, trusted_pems: Sequence[str]
) -> ssl.SSLContext:
    """An SSL context for a TLS client profile: the key and certificate chain presented to the backend (mutual
    TLS) when there is a key, and the trusted certificates the backend must chain to (the system's authorities
    when there are none). Raises EgressError when OpenSSL refuses the material."""
    context = ssl.create_default_context(cadata="".join(trusted_pems) or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if private_key is not None:
        password = secrets.token_bytes(32)
        # Encrypted with a one-time password: even the in-memory file never holds the plaintext key.
        encrypted = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        try:
            with _transient_file(certificate_chain_pem.encode() + encrypted) as path:
                context.load_cert_chain(path, password=password)
        except (ssl.SSLError, OSError) as e:
            raise EgressError(f"the TLS client profile's key and certificate cannot be loaded ({e})") from e
    return context


@contextmanager
def _transient_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from, gone when the block ends: an anonymous memory file on Linux."""
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("portal-tls-client", os.MFD_CLOEXEC)
        try:
            os.write(descriptor, data)
            yield f"/proc/self/fd/{descriptor}"
        finally:
            os.close(descriptor)
        return
    with tempfile.NamedTemporaryFile(prefix="portal-tls-client-") as handle:  # created 0600
        handle.write(data)
        handle.flush()
        yield handle.name


_profile_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_profile_contexts_lock = threading.Lock()


def tls_profile_context(*, catalog: Catalog, reference: str) -> ssl.SSLContext:
    """The SSL context of the TLS client profile ``reference`` (``name`` for the active version in the catalog,
    or ``name:version``, as APIC's ``tls-profile`` names them), enabled and not retired in ``catalog``.

    One context per key material and process, so pools (and their kept-alive connections) survive a rebuild
    of the gateway's state. Raises LookupError naming what is missing or unusable.
    """
    # Imported here: the policies (and this module) load before Django's apps in the benchmark and checks.
    from keyprofiles import keycache
    from keyprofiles.models import KeyProfileBinding, Keystore
    from keyprofiles.sealing import SealingError

    name, _, version = reference.partition(":")
    bindings = KeyProfileBinding.objects.select_related("profile__keystore", "profile__truststore").filter(
        catalog=catalog, profile__name=name.strip()
    )
    bindings = (
        bindings.filter(profile__version=version.strip())
        if version
        else bindings.filter(state=KeyProfileBinding.State.ACTIVE)
    )
    binding = bindings.exclude(state=KeyProfileBinding.State.RETIRED).first()
    if binding is None:
        raise LookupError(f"no TLS client profile '{reference}' is enabled (and not retired) in catalog {catalog}")
    profile = binding.profile
    keystore = profile.keystore
    if keystore is not None and keystore.kind != Keystore.Kind.KEY_PAIR:
        raise LookupError(f"the TLS client profile '{reference}' holds a shared secret, not a key and certificate")
    trusted = (
        [(row.pk, row.certificate_pem) for row in profile.truststore.certificates.all()]
        if profile.truststore is not None
        else []
    )
    key = (keystore.uid if keystore is not None else None, tuple(pk for pk, _ in trusted))
    with _profile_contexts_lock:
        found = _profile_contexts.get(key)
    if found is not None:
        return found
    try:
        private_key = keycache.keystore_private_key(keystore) if keystore is not None else None
    except SealingError as e:
        raise LookupError(f"the key of the TLS client profile '{reference}' cannot be unsealed: {e}") from e
    try:
        context = tls_client_context(
            private_key=private_key,
            certificate_chain_pem=(keystore.certificate_pem + keystore.chain_pem) if keystore is not None else "",
            trusted_pems=[pem for _, pem in trusted],
        )
    except EgressError as e:
        raise LookupError(str(e)) from e
    with _profile_contexts_lock:
        return _profile_contexts.setdefault(key, context)


# -- the client ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendResponse:
    """What a backend answered: the last response after redirects."""

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), None)


class _DeadlineReader(io.RawIOBase):
    """A socket's reading end that gives each read at most what is left until ``deadline``, and raises
    TimeoutError once it has passed: a backend sending a byte now and then (status line, headers, chunk sizes or
    body) cannot hold the call, as it can when every read gets the whole timeout afresh."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's response, read through a ``_DeadlineReader``. The deadline is the socket's timeout when the
    response begins: urllib3 sets it to the read timeout, which for the ``Timeout(total=...)`` that
    ``_one_request`` always passes is what is left of the call's deadline."""

    def __init__(
        self, sock: socket.socket, debuglevel: int = 0, method: str | None = None, url: str | None = None
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        timeout = sock.gettimeout()
        if timeout is not None:
            self.fp.close()
            self.fp = io.BufferedReader(_DeadlineReader(sock, time.monotonic() + timeout))

    def _read_status(self) -> tuple[str, int, str]:
        # http.client skips only 100 Continue: a backend's 103 Early Hints (RFC 8297) or any other interim answer
        # (RFC 9110 section 15.2) would be taken for the response. Each is skipped here, headers and all, for the
        # final answer; every read is within the deadline. 101 is left for _read: the portal never asks to upgrade.
        budget = egress_settings().max_response_header_bytes  # interim headers count toward the final's cap
        for _ in range(MAX_INTERIM_ANSWERS + 1):
            version, status, reason = super()._read_status()  # type: ignore[misc]  # not in typeshed
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            headers = http.client.parse_headers(self.fp)
            budget -= sum(len(name) + len(value) + 4 for name, value in headers.items())
            if budget < 0:
                raise http.client.HTTPException("the interim (1xx) answers' headers pass the response header cap")
        raise http.client.HTTPException(f"more than {MAX_INTERIM_ANSWERS} interim (1xx) answers")


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _DeadlineResponse


_PoolKey = tuple[str, str, int, str, ssl.SSLContext | None]
_pools: OrderedDict[_PoolKey, urllib3.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(
    scheme: str, address: Address, port: int, host: str, tls: ssl.SSLContext | None
) -> urllib3.HTTPConnectionPool:
    """The process's pool of connections to ``address:port`` for the name ``host`` (and TLS context)."""
    config = egress_settings()
    key: _PoolKey = (scheme, str(address), port, host, tls)
    with _pools_lock:
        found = _pools.get(key)
        if found is not None:
            _pools.move_to_end(key)
            return found
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                port,
                maxsize=config.pool_connections,
                block=False,
                retries=False,
                ssl_context=tls or _system_tls_context(),
                server_hostname=host.strip("[]"),
                assert_hostname=host.strip("[]"),
            )
            pool.ConnectionCls = _HTTPSConnection
        else:
            pool = urllib3.HTTPConnectionPool(
                str(address), port, maxsize=config.pool_connections, block=False, retries=False
            )
            pool.ConnectionCls = _HTTPConnection
        _pools[key] = pool
        while len(_pools) > config.pools:
            _pools.popitem(last=False)[1].close()
        return pool


def _close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def egress_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    follow_redirects: bool = True,
) -> BackendResponse:
    """Call ``url`` through the egress guard and answer the backend's response (after redirects, each checked).

    ``timeout`` bounds the whole call, redirects and every read included (at most ``MAX_TIMEOUT_SECONDS``).
    The ``ORIGIN_BOUND`` headers are dropped from the first redirect to another origin on. A header value
    outside Latin-1 is sent as its UTF-8 bytes (``_field_value``).
    Raises EgressError for a header name that is not an HTTP field name (RFC 9110 section 5.1), a refused
    destination, a failed connection or TLS handshake, a timeout, a response over the size caps, or too many
    redirects.
    """
    config = egress_settings()
    deadline = time.monotonic() + min(timeout, config.max_timeout_seconds)
    for _hop in range(config.max_redirects + 1):
        response = _one_request(method, url, headers, body, deadline, tls, config)
        location = response.header("location")
        if not follow_redirects or response.status not in REDIRECT_STATUSES or not location:
            return response
        url, previous = urljoin(url, location), url
        if _origin(url) != _origin(previous):
            headers = {name: value for name, value in headers.items() if name.lower() not in ORIGIN_BOUND}
        if response.status == 303 or (response.status in (301, 302) and method not in ("GET", "HEAD")):
            # RFC 9110 section 15.4.4 (303), and the user agents' long-standing practice for 301/302 POST.
            method, body = "GET", None
    raise EgressError(f"the backend redirected more than {config.max_redirects} times")


def _origin(url: str) -> tuple[str, str, int | None]:
    """RFC 6454's origin of ``url``: scheme, host and port (the scheme's default when none is written). A URL too
    malformed to split has an origin of its own (the next request refuses it anyway)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return "", url, None


def _one_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    deadline: float,
    tls: ssl.SSLContext | None,
    config: EgressSettings,
) -> BackendResponse:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise EgressError(f"the URL {_shown_url(url)} is not valid ({e})") from e
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressError(f"the URL {_shown_url(url)} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise EgressError("a URL may not carry credentials (send them in a header)")
    host = (parts.hostname or "").lower()
    if not host:
        raise EgressError(f"the URL {_shown_url(url)} names no host")
    port = port or DEFAULT_PORTS[scheme]
    address = checked_address(host, port, config.allow, deadline=deadline)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise EgressError("the backend call timed out")
    shown_host = f"[{host}]" if ":" in host else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent: dict[str, str] = {}
    for name, value in headers.items():
        if not is_header_name(name):
            raise EgressError(f"the header name {name[:64]!r} is not an HTTP field name")
        if name.lower() != "host":
            sent[name] = _field_value(value)
    sent["Host"] = shown_host if port == DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    pool = _pool(scheme, address, port, host, tls if scheme == "https" else None)
    try:
        answer = pool.urlopen(
            method,
            target,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            timeout=urllib3.Timeout(total=remaining),
        )
    except urllib3.exceptions.HTTPError as e:
        raise EgressError(f"the call to {shown_host}:{port} failed: {_reason(e)}") from e
    try:
        return _read(answer, url, deadline, config, f"{shown_host}:{port}")
    finally:
        answer.release_conn()


def _field_value(value: str) -> str:
    """``value`` as http.client should send it. http.client writes a value as Latin-1 (RFC 9110 section 5.5's
    historical charset) and raises UnicodeEncodeError for anything else; such a value goes as its UTF-8 bytes,
    as Go, curl, nginx and Envoy send it, and as RFC 9110 lets a recipient take them (opaque ``obs-text``). The
    bytes are handed over as the text whose Latin-1 encoding they are, PEP 3333's convention for bytes in text."""
    if value.isascii():
        return value
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def _read(
    answer: urllib3.BaseHTTPResponse, url: str, deadline: float, config: EgressSettings, where: str
) -> BackendResponse:
    if answer.status == 101:
        answer.close()  # the connection now speaks something else: never reused
        raise EgressError(f"the backend at {where} switched protocols (101), which the portal never asks for")
    header_list = [(str(name), str(value)) for name, value in answer.headers.items()]
    if sum(len(name) + len(value) + 4 for name, value in header_list) > config.max_response_header_bytes:
        answer.drain_conn()
        raise EgressError(
            f"the response from {where} has more than {config.max_response_header_bytes} bytes of headers"
        )
    codings = [c.strip().lower() for c in (answer.headers.get("content-encoding") or "").split(",") if c.strip()]
    unknown = [c for c in codings if c != "identity" and c not in urllib3.response.HTTPResponse.CONTENT_DECODERS]
    if unknown:
        # Asked for identity (the caller's Accept-Encoding is not forwarded), the backend encoded anyway in a way
        # the portal cannot decode: its bytes would reach the API as if they were the body.
        answer.drain_conn()
        raise EgressError(
            f"the response from {where} is encoded as {', '.join(unknown)}, which the portal cannot decode"
        )
    declared = answer.headers.get("content-length")
    cap = config.max_response_bytes
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise EgressError(f"the response from {where} is larger than {cap} bytes")
    timed_out = f"the call to {where} timed out while reading the response"
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() >= deadline:
                raise EgressError(timed_out)
            # What has arrived (up to READ_BYTES), not a full chunk: each socket read waits at most until the
            # deadline (_DeadlineReader), and the deadline is checked again between reads.
            chunk = answer.read1(READ_BYTES, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise EgressError(f"the response from {where} is larger than {cap} bytes")
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError as e:
        raise EgressError(timed_out) from e
    except urllib3.exceptions.HTTPError as e:
        raise EgressError(f"reading the response from {where} failed: {_reason(e)}") from e
    return BackendResponse(
        url=url, status=answer.status, reason=answer.reason or "", headers=tuple(header_list), body=b"".join(chunks)
    )


def _reason(error: BaseException) -> str:
    # urllib3 wraps the cause (a refused connection, a certificate failure) in layers: name the innermost.
    while True:
        inner = getattr(error, "reason", None)
        if isinstance(inner, BaseException) and inner is not error:
            error = inner
            continue
        cause = error.__cause__ or error.__context__
        if isinstance(cause, OSError | ssl.SSLError) and cause is not error:
            error = cause
            continue
        break
    if isinstance(error, TimeoutError | urllib3.exceptions.TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the backend's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error)
    return text[:200] if text else type(error).__name__


def _shown_url(url: str) -> str:
    """``url`` as a message to the caller may show it: its scheme and authority only (a path or query may hold a
    key: webhook URLs do), cut at 120 characters."""
    origin = _URL_ORIGIN.match(url)
    shown = origin.group(0) if origin else ""
    if len(shown) < len(url):
        shown += "/..."
    return repr(shown if len(shown) <= 120 else shown[:117] + "...")


_URL_ORIGIN = re.compile(r"[^:/?#]*:(//[^/?#]*)?")
