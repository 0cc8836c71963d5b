"""A configuration version counter in the shared cache (DESIGN.md section 5).

Every change that alters what the gateway serves (a publish, an enabled profile, a rotation, a credential
change) bumps the counter after its transaction commits. Each process keeps its warm state tagged with the
version it was built from and re-reads the counter at most every ``RECHECK_SECONDS``, so every process sees
a change within a few seconds without a database query per request.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

COUNTER_KEY = "portal:config-version"
RECHECK_SECONDS = 1.0


def current_version() -> int:
    """The shared counter; 0 when the cache is empty or unreachable (then processes fall back to the TTL)."""
    try:
        value = cache.get(COUNTER_KEY)
    except Exception:  # the cache being down must not break serving; state is then rebuilt by age
        logger.warning("config version counter unreadable", exc_info=True)
        return -1
    return int(value) if value is not None else 0


def bump_version() -> None:
    """Bump the counter once the current transaction commits (immediately outside one)."""

    def bump() -> None:
        try:
            if cache.add(COUNTER_KEY, 1, timeout=None):
                return
            cache.incr(COUNTER_KEY)
        except ValueError:
            cache.set(COUNTER_KEY, 1, timeout=None)
        except Exception:
            logger.warning("config version counter not bumped", exc_info=True)

    transaction.on_commit(bump)


class VersionWatch:
    """Tells a process cheaply whether the shared counter moved since it last looked.

    ``changed()`` costs one cache read at most every ``RECHECK_SECONDS``; between reads it answers from
    memory. When the cache is unreachable, it reports a change every ``RECHECK_SECONDS`` so that state is
    rebuilt from the database rather than served stale forever.
    """

    def __init__(self) -> None:
        self._seen: int | None = None
        self._checked_at = 0.0

    def changed(self) -> bool:
        now = time.monotonic()
        if self._seen is not None and now - self._checked_at < RECHECK_SECONDS:
            return False
        self._checked_at = now
        version = current_version()
        if version != self._seen or version == -1:
            self._seen = version
            return True
        return False

    def reset(self) -> None:
        self._seen = None
        self._checked_at = 0.0
