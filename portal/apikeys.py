"""API keys of the REST API: the key text, its digest, and the per-process lookup from key to principal.

Key text: ``kpp_`` + 43 random base62 characters (256 bits) + a 6-character base62 CRC32 of what precedes
it, e.g. ``kpp_3Xq...Zt0aB9c1``. The prefix lets secret scanners recognise a leaked key, and the checksum
lets them (and this module) reject a mistyped or made-up key offline, without a database query.

Storage: only ``HMAC-SHA256(digest key, key text)``, hex, in a unique index, plus the first 12 characters
(``display_prefix``) so people can tell keys apart. The key carries 256 bits of randomness, so a fast keyed
hash suffices (a password hasher's stretching would cost milliseconds per request and add nothing); the HMAC
key keeps a stolen table useless without the server's secret.

The digest key is derived from ``PORTAL_API_KEY_SECRET`` when set, otherwise from ``SECRET_KEY``. Rotating
``SECRET_KEY`` alone therefore invalidates every API key unless the old value is kept in
``SECRET_KEY_FALLBACKS`` (lookups try every fallback). Set ``PORTAL_API_KEY_SECRET`` in production so that
``SECRET_KEY`` can rotate freely; changing ``PORTAL_API_KEY_SECRET`` itself invalidates every API key.

Lookup: ``api_key_principal`` answers from a per-process dictionary (to a small immutable
``ApiKeyPrincipal``, or to "unknown") without a database query when warm. The dictionary is keyed by the
unkeyed SHA-256 of the key text, so a warm request costs one hash: no checksum, no HMAC per digest key (they
run only on a miss), and the process holds no key text (the key's 256 random bits make the hash as
unguessable as the key). The ``api-keys`` version counter (``portal.invalidation.API_KEYS``), bumped by
every revoke and expire and by the deletion of a key row (an organization deleted in the console), empties it
on every process within ``recheck_seconds()``; an expiry time is checked on every request from the principal
itself. Creating a key bumps nothing: no process can
hold an answer for a key text that did not exist.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from portal.invalidation import API_KEYS, VersionWatch
from portal.models import ApiKey

KEY_PREFIX = "kpp_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_CHARS = 43  # 62**43 > 2**256
CHECKSUM_CHARS = 6  # 62**6 > 2**32
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_CHARS + CHECKSUM_CHARS
DISPLAY_PREFIX_CHARS = 12
_KEY_SHAPE = re.compile(rf"^{KEY_PREFIX}[0-9A-Za-z]{{{RANDOM_CHARS + CHECKSUM_CHARS}}}\Z")
_DIGEST_CONTEXT = b"portal.api-key-digest.v1"


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(binascii.crc32(body.encode()), CHECKSUM_CHARS)


def key_generate() -> str:
    """A new key text: prefix, 256 random bits in base62, checksum."""
    body = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_CHARS))
    return body + _checksum(body)


def key_well_formed(text: str) -> bool:
    """True when ``text`` has the key's shape and its checksum matches (no database, no secret needed)."""
    if len(text) != KEY_LENGTH or not _KEY_SHAPE.match(text):
        return False
    body, checksum = text[:-CHECKSUM_CHARS], text[-CHECKSUM_CHARS:]
    return hmac.compare_digest(_checksum(body), checksum)


@functools.lru_cache(maxsize=8)
def _derive_digest_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _DIGEST_CONTEXT, hashlib.sha256).digest()


def _digest_secrets() -> list[str]:
    dedicated: str = getattr(settings, "PORTAL_API_KEY_SECRET", "")
    if dedicated:
        return [dedicated]
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def key_digests(text: str) -> list[str]:
    """The digests ``text`` may be stored under, current digest key first (then ``SECRET_KEY_FALLBACKS``)."""
    return [hmac.new(_derive_digest_key(s), text.encode(), hashlib.sha256).hexdigest() for s in _digest_secrets()]


def key_digest(text: str) -> str:
    """The digest a new key is stored under."""
    return key_digests(text)[0]


def display_prefix(text: str) -> str:
    return text[:DISPLAY_PREFIX_CHARS]


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """What a request authenticated by an API key may do: a snapshot of the key's row, without the digest.

    It stands in for ``request.user`` in the REST API (``is_authenticated`` is true), and is shared by every
    request with the same key in a process, so it is immutable.
    """

    key_id: int
    name: str
    organization_id: int
    organization_slug: str
    role: str
    profiles: frozenset[str]
    allow_iss: str
    allow_aud: str
    allow_sub: str
    max_expires_in: int | None
    expires_at: datetime | None
    revoked: bool

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @classmethod
    def from_row(cls, key: ApiKey) -> ApiKeyPrincipal:
        return cls(
            key_id=key.pk,
            name=key.name,
            organization_id=key.organization_id,
            organization_slug=key.organization.slug,
            role=key.role,
            profiles=frozenset(key.profiles),
            allow_iss=key.allow_iss,
            allow_aud=key.allow_aud,
            allow_sub=key.allow_sub,
            max_expires_in=key.max_expires_in,
            expires_at=key.expires_at,
            revoked=key.revoked_at is not None,
        )

    def state(self, *, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class ApiKeyLookup:
    """Key text to principal, per process; see the module docstring. Thread-safe for gunicorn threads."""

    # Unknown keys are remembered too (a client retrying a wrong key must not cost a query each time); the
    # dictionary is emptied when it grows past this, so a flood of made-up keys cannot exhaust memory.
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._watch = VersionWatch(API_KEYS)
        self._entries: dict[bytes, ApiKeyPrincipal | None] = {}
        self._lock = threading.Lock()

    def principal(self, text: str) -> ApiKeyPrincipal | None:
        """The principal of key ``text`` (whatever its state), or None for a malformed or unknown key."""
        # Only well-formed texts are ever entered, so a hit needs no checksum; anything else is checked first,
        # so a malformed text costs neither an HMAC nor a query (not even the version's).
        entry = hashlib.sha256(text.encode()).digest()
        if entry not in self._entries and not key_well_formed(text):
            return None
        if self._watch.changed():
            with self._lock:
                self._entries = {}
        entries = self._entries
        if entry in entries:
            return entries[entry]
        row = ApiKey.objects.select_related("organization").filter(digest__in=key_digests(text)).first()
        found = ApiKeyPrincipal.from_row(row) if row is not None else None
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {}
            self._entries[entry] = found
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
        self._watch.reset()


api_keys = ApiKeyLookup()


def api_key_principal(text: str) -> ApiKeyPrincipal | None:
    """The principal of ``text`` from the process's lookup (see ``ApiKeyLookup.principal``)."""
    return api_keys.principal(text)


def api_key_deleted(**kwargs: object) -> None:
    """``post_delete`` receiver for ApiKey (``PortalConfig.ready``): a deleted key must stop authenticating
    in every process, as a revoked one does."""
    API_KEYS.bump()


@receiver(setting_changed)
def _digest_settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS", "PORTAL_API_KEY_SECRET"}:
        api_keys.clear()
