"""Replay protection for jwt-validate's ``jti-replay-check`` (beyond API Connect, which has none).

A token's ``jti`` (RFC 7519 section 4.1.7) is recorded in the shared cache when a policy with the property
accepts the token, and kept until the token expires; while it is there, the same ``jti`` from the same issuer
is refused. The record is made with ``cache.add``, which is atomic: ``SET NX`` on Redis (every process on every
node sees it), a lock-guarded insert in the local-memory cache (one process on one machine). Of two requests
racing with one token, exactly one wins.
"""

from __future__ import annotations

import hashlib
import math

from django.core.cache import cache
from redis.exceptions import RedisError

_KEY_PREFIX = "portal:jwt-jti:"


class ReplayStateUnavailable(Exception):
    """The shared cache did not answer, so a first use cannot be told from a replay."""


def _cache_key(issuer: str, jti: str) -> str:
    # A digest keeps the key short and free of characters a cache backend refuses, whatever the claims hold.
    digest = hashlib.sha256(f"{len(issuer)}:{issuer}\0{jti}".encode("utf-8", "surrogatepass")).hexdigest()
    return _KEY_PREFIX + digest


def jti_first_use(*, issuer: str, jti: str, until: float, now: float) -> bool:
    """Record that the token ``(issuer, jti)`` was accepted, until the Unix time ``until`` (its ``exp`` plus
    any leeway). Returns True the first time, False while an earlier record stands (a replay).

    Raises ReplayStateUnavailable when the shared cache cannot be reached; the caller refuses the token then.
    """
    timeout = max(1, math.ceil(until - now))
    try:
        return bool(cache.add(_cache_key(issuer, jti), 1, timeout=timeout))
    except (RedisError, OSError) as e:
        raise ReplayStateUnavailable(str(e)) from e
