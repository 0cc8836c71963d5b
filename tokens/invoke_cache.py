"""invoke's response cache: API Connect's ``cache-response``, ``cache-ttl`` and ``cache-key`` (DESIGN.md 3a).

``cache-response`` takes API Connect's values; absent, it is ``protocol``, API Connect's default:

- ``protocol``: a response is kept as its HTTP caching headers let a *shared* cache keep it (RFC 9111), for its
  freshness lifetime (section 4.2.1: ``s-maxage``, else ``max-age``, else ``Expires`` minus ``Date``) less its
  age (section 4.2.3); no lifetime, no keeping (the portal guesses none: heuristic freshness is optional).
  ``no-store``, ``no-cache`` and ``private`` are not kept (the portal never revalidates, so a response that must
  be revalidated before each use is as good as uncacheable). A request carrying ``Authorization`` is neither
  answered from the cache nor kept, unless the response says ``public``, ``s-maxage`` or ``must-revalidate``
  (section 3.5). The request's own ``Cache-Control`` counts too (section 5.2.1): ``no-store`` keeps nothing,
  ``no-cache`` goes to the backend, ``max-age`` and ``min-fresh`` bound what may answer it.
- ``no-cache``: nothing is kept.
- ``time-to-live``: a response is kept ``cache-ttl`` seconds (API Connect's range, 5 to 31708800; default 900),
  whatever its caching headers say; a request carrying ``Authorization`` never meets the cache (API Connect
  caches no request that carries it).

``cache-key`` (``$(...)`` allowed) narrows the entry further: API Connect identifies the entry by it *instead
of* the URL, the portal *besides* the URL, so a key can never make one URL's answer another's.

In every mode only GET and HEAD are cached, only the final statuses RFC 9110 section 15.1 lets a cache keep
by default (no partial content) and only answers not reached through a redirect, and only what the egress guard
let through: the cache holds ``egress_request``'s answers, never an error. An entry answers a request with the
same method, full URL, TLS client profile and ``cache-key``, and the same values of the request headers its
response's ``Vary`` names (section 4.1; ``Vary: *`` is not kept), made by the same API in the same catalog for
the same client id: an API often sends a backend a credential of its catalog (a header from a property) or the
caller's client id, and a backend that answers per credential rarely says so in ``Vary``, so no answer crosses
from one catalog, API or app to another. An answer from the cache costs no network and
carries an ``Age`` header (section 5.1).

The store is one per process, least recently used first out, bounded by the ``INVOKE`` settings
``CACHE_ENTRIES`` (512) and ``CACHE_KIB`` (16 MiB), and thread-safe. It is emptied when the ``INVOKE``
settings change, so an answer from a destination no longer allowed is never served.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed

from tokens.egress import BackendResponse, invoke_settings

if TYPE_CHECKING:
    import ssl

    from tokens.context import Context
    from tokens.policies.base import Properties

PROTOCOL, NO_CACHE, TIME_TO_LIVE = "protocol", "no-cache", "time-to-live"
MODES = (PROTOCOL, NO_CACHE, TIME_TO_LIVE)
PROPERTIES = ("cache-response", "cache-ttl", "cache-key")
TTL_RANGE = (5, 31_708_800)
DEFAULT_TTL = 900
CACHED_METHODS = frozenset({"GET", "HEAD"})
# RFC 9110 section 15.1, "heuristically cacheable" final statuses, less 206 (ranges are not cached).
STORABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# Responses kept for one method, URL, profile and key that differ by the request headers their Vary names.
MAX_VARIANTS = 8
MAX_SECONDS = 2**31  # RFC 9111 section 1.2.2: a larger delta-seconds is taken as this
_DIRECTIVE = re.compile(r"""([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?""")
_CONFLICT = "\0conflict"  # a directive given twice with different values (RFC 9111 section 4.2.1: stale)


def directives(headers: Mapping[str, str] | tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The ``Cache-Control`` directives of ``headers`` (every field line of it), lower-case names to their values
    ("" for none, quotes removed; a directive given twice with different values reads as neither)."""
    found: dict[str, str] = {}
    for value in _values(headers, "cache-control"):
        for match in _DIRECTIVE.finditer(value):
            directive = match.group(1).lower()
            argument = match.group(2) if match.group(2) is not None else match.group(3) or ""
            found[directive] = argument if found.get(directive, argument) == argument else _CONFLICT
    return found


def _values(headers: Mapping[str, str] | tuple[tuple[str, str], ...], name: str) -> list[str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [value for key, value in items if key.lower() == name]


def _seconds(value: str | None) -> int | None:
    """A delta-seconds value (RFC 9111 section 1.2.2), or None when absent or not one."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return min(int(value), MAX_SECONDS) if len(value) <= 10 else MAX_SECONDS


def _date(value: str | None) -> float | None:
    """An HTTP date as a POSIX time, or None when absent or not a date."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# -- the store -----------------------------------------------------------------------------------------------

_Key = tuple[str, str, "ssl.SSLContext | None", str, tuple[Any, ...]]


@dataclass(frozen=True)
class _Entry:
    response: BackendResponse
    vary: tuple[tuple[str, str | None], ...]  # the request headers the response's Vary names, and their values
    stored_at: float  # time.monotonic()
    initial_age: float
    lifetime: float
    with_credentials: bool  # may answer a request carrying Authorization (RFC 9111 section 3.5)
    size: int

    def age(self, now: float) -> float:
        return self.initial_age + now - self.stored_at

    def fits(self, headers: Mapping[str, str]) -> bool:
        return all(_field(headers, name) == value for name, value in self.vary)


def _field(headers: Mapping[str, str], name: str) -> str | None:
    values = _values(headers, name)
    return ", ".join(" ".join(value.split()) for value in values) if values else None


class ResponseCache:
    """Responses by key, each key holding at most ``MAX_VARIANTS`` of them; the least recently used key goes
    first when ``CACHE_ENTRIES`` or ``CACHE_KIB`` would be exceeded. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, list[_Entry]] = OrderedDict()
        self.count = 0
        self.bytes = 0

    def find(self, key: _Key, headers: Mapping[str, str], now: float) -> _Entry | None:
        """The fresh entry under ``key`` whose Vary'd headers match ``headers``, or None (a stale one is dropped)."""
        with self._lock:
            variants = self._entries.get(key)
            if variants is None:
                return None
            self._entries.move_to_end(key)
            entry = next((entry for entry in variants if entry.fits(headers)), None)
            if entry is None or entry.age(now) < entry.lifetime:
                return entry
            self._replace(key, [v for v in variants if v is not entry])
            return None

    def put(self, key: _Key, entry: _Entry) -> None:
        """Keep ``entry`` under ``key``, replacing the one for the same Vary'd headers; nothing when it alone would
        exceed the bounds."""
        max_entries, max_bytes = invoke_settings.CACHE_ENTRIES, invoke_settings.CACHE_KIB * 1024
        if max_entries == 0 or entry.size > max_bytes:
            return
        with self._lock:
            kept = [v for v in self._entries.get(key, []) if v.vary != entry.vary]
            self._replace(key, [*kept[-(MAX_VARIANTS - 1) :], entry])
            while self.count > max_entries or self.bytes > max_bytes:
                self._replace(next(iter(self._entries)), [])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.count = self.bytes = 0

    def _replace(self, key: _Key, variants: list[_Entry]) -> None:
        """``key``'s variants become ``variants`` (none: the key goes), as the most recently used key."""
        old = self._entries.pop(key, [])
        self.count += len(variants) - len(old)
        self.bytes += sum(v.size for v in variants) - sum(v.size for v in old)
        if variants:
            self._entries[key] = variants


RESPONSES = ResponseCache()


def _clear(*, setting: str, **kwargs: Any) -> None:
    if setting == "INVOKE":
        RESPONSES.clear()


setting_changed.connect(_clear)


# -- the rule ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheRule:
    """An invoke's ``cache-response``, ``cache-ttl`` and ``cache-key``; see the module docstring."""

    mode: str
    ttl: int
    key: str | None

    @classmethod
    def from_properties(cls, props: Properties) -> CacheRule:
        """Raises PolicyConfigError naming ``cache-response`` or ``cache-ttl`` when it holds no valid value."""
        mode = props.value("cache-response") or PROTOCOL
        if mode not in MODES:
            props.fail("cache-response", f"must be protocol, no-cache or time-to-live, not {mode!r}")
        ttl = DEFAULT_TTL
        if mode == TIME_TO_LIVE and "cache-ttl" in props.config:
            ttl = props.integer("cache-ttl", *TTL_RANGE)
        key = props.value("cache-key")
        return cls(mode, ttl, None if key is None else key if isinstance(key, str) else json.dumps(key))

    def fetch(
        self,
        context: Context,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        tls: ssl.SSLContext | None,
        call: Callable[[], BackendResponse],
    ) -> tuple[BackendResponse, bool]:
        """The response for this request, and whether it came from the cache (then ``call`` was not made, and no
        network used); else ``call()``'s response, kept when this rule and the response allow. Raises what
        ``call`` raises (nothing is kept then)."""
        if self.mode == NO_CACHE or method not in CACHED_METHODS:
            return call(), False
        credentials = bool(_values(headers, "authorization"))
        if self.mode == TIME_TO_LIVE and credentials:
            return call(), False
        asked = directives(headers) if self.mode == PROTOCOL else {}
        key: _Key = (method, url, tls, self._key_text(context), _partition(context, headers))
        now = time.monotonic()
        if "no-cache" not in asked:
            entry = RESPONSES.find(key, headers, now)
            if entry is not None and self._answers(entry, asked, credentials, now):
                return _with_age(entry, now), True
        response = call()
        received = time.monotonic()
        if "no-store" not in asked:
            entry = self._entry(response, url, headers, credentials, sent=now, received=received)
            if entry is not None:
                RESPONSES.put(key, entry)
        return response, False

    def _key_text(self, context: Context) -> str:
        if self.key is None:
            return ""
        value = context.interpolate(self.key) if "$(" in self.key else self.key
        return value if isinstance(value, str) else json.dumps(value, default=str)

    @staticmethod
    def _answers(entry: _Entry, asked: dict[str, str], credentials: bool, now: float) -> bool:
        """Whether ``entry`` may answer a request with these directives (RFC 9111 section 5.2.1) and credentials
        (section 3.5)."""
        if credentials and not entry.with_credentials:
            return False
        age = entry.age(now)
        if "max-age" in asked:
            limit = _seconds(asked["max-age"])
            if limit is None or age > limit:
                return False
        if "min-fresh" in asked:
            wanted = _seconds(asked["min-fresh"])
            if wanted is None or entry.lifetime - age < wanted:
                return False
        return True

    def _entry(
        self,
        response: BackendResponse,
        url: str,
        headers: Mapping[str, str],
        credentials: bool,
        *,
        sent: float,
        received: float,
    ) -> _Entry | None:
        """The entry to keep for ``response``, or None when it may not be kept."""
        if response.status not in STORABLE_STATUSES or response.url != url:
            return None  # a redirect's target answered: its answer is the target's, not this URL's
        vary_names = sorted(
            {name.strip().lower() for value in _values(response.headers, "vary") for name in value.split(",")} - {""}
        )
        if "*" in vary_names:
            return None
        if self.mode == TIME_TO_LIVE:
            lifetime, initial_age, with_credentials = float(self.ttl), 0.0, False
        else:
            found = _protocol_freshness(response, credentials, received - sent)
            if found is None:
                return None
            lifetime, initial_age, with_credentials = found
        if initial_age >= lifetime:
            return None
        size = len(response.body) + len(response.url) + sum(len(k) + len(v) + 4 for k, v in response.headers)
        return _Entry(
            response=response,
            vary=tuple((name, _field(headers, name)) for name in vary_names),
            stored_at=received,
            initial_age=initial_age,
            lifetime=lifetime,
            with_credentials=with_credentials,
            size=size + 256,  # the entry's own bookkeeping, roughly
        )


def _protocol_freshness(response: BackendResponse, credentials: bool, delay: float) -> tuple[float, float, bool] | None:
    """(freshness lifetime, initial age, may answer requests with credentials) of a response a shared cache may
    keep (RFC 9111 sections 3, 3.5, 4.2.1, 4.2.3), or None when it may not keep it."""
    said = directives(response.headers)
    if {"no-store", "no-cache", "private"} & said.keys():
        return None
    with_credentials = bool({"public", "s-maxage", "must-revalidate"} & said.keys())
    if credentials and not with_credentials:
        return None
    dates = _values(response.headers, "date")
    date = _date(dates[0]) if len(dates) == 1 else None
    received = time.time()
    if "s-maxage" in said or "max-age" in said:
        lifetime = _seconds(said["s-maxage"] if "s-maxage" in said else said["max-age"])
        if lifetime is None:
            return None  # an invalid or conflicting value: stale
    else:
        expires = _values(response.headers, "expires")
        if not expires:
            return None
        expiry = _date(expires[0]) if len(expires) == 1 else None
        if expiry is None:
            return None  # RFC 9111 section 5.3: an invalid Expires is in the past
        lifetime = int(expiry - (date if date is not None else received))
    ages = _values(response.headers, "age")
    age_value = (_seconds(ages[0]) or 0) if ages else 0
    apparent_age = max(0.0, received - date) if date is not None else 0.0
    return float(lifetime), max(apparent_age, age_value + delay), with_credentials


def _with_age(entry: _Entry, now: float) -> BackendResponse:
    """The kept response with its current ``Age`` (RFC 9111 section 5.1)."""
    headers = tuple((k, v) for k, v in entry.response.headers if k.lower() != "age")
    return replace(entry.response, headers=(*headers, ("Age", str(int(entry.age(now))))))


def _partition(context: Context, headers: Mapping[str, str]) -> tuple[Any, ...]:
    """What an entry is kept apart by besides the request: the calling API, its catalog, and the client id."""
    return (
        context.get("api.org.name"),
        context.get("api.catalog.name"),
        context.get("api.name"),
        context.get("api.version"),
        tuple(_values(headers, "x-ibm-client-id")),
    )
