"""Client secrets: generated, shown once, stored only as a salted HMAC-SHA256, compared in constant time.

A client secret is 32 random bytes, so a fast keyed hash is enough to make a stolen table useless (no
password-style stretching is needed, and the gateway checks it on every request without a slow KDF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "hmac-sha256"


def secret_generate() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()
    return f"{SCHEME}${salt.hex()}${digest}"


def secret_matches(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored``; constant-time in the digest comparison."""
    scheme, _, rest = stored.partition("$")
    salt_hex, _, digest = rest.partition("$")
    if scheme != SCHEME or not salt_hex or not digest:
        return False
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    candidate = hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(candidate, digest)
