"""The version counters every process watches (DESIGN.md section 5).

Every change that alters what the gateway serves (a publish, an enabled profile, a rotation, a credential
change) bumps the version: in the database inside the change's own transaction, and in the shared cache once
it commits. Each process tags its warm state with the version it was built from and looks again at most
every ``recheck_seconds()``, so all processes see a change within a few seconds without a query per request.

Where the default cache is shared between processes (Redis), processes read the cached copy; with the
local-memory cache (one machine, the embedded defaults) they read the database row, so a management command
run from cron reaches the server process too. If the shared cache fails, the database row is read instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models import F

from portal.conf import invalidation_settings
from portal.models import ConfigChange, ConfigVersion

logger = logging.getLogger(__name__)


def recheck_seconds() -> float:
    """Seconds between two looks of a process at a version counter (``PORTAL_INVALIDATION["RECHECK_SECONDS"]``)."""
    return float(invalidation_settings.RECHECK_SECONDS)


def copy_seconds() -> int:
    """How long the shared cache keeps a counter's copy. It expires, so readers go back to the database row now
    and then: a change made by a host that could not reach Redis (a partition, a Redis restored from an old
    snapshot) still reaches every node."""
    return int(invalidation_settings.COPY_SECONDS)


def propagation_seconds() -> float:
    """How long after a commit every process is sure to serve it: one look at the version (recheck_seconds)
    and a refresh, doubled for safety. A rotation waits this long between "every process verifies the new
    key" and "the new key signs", so no process ever meets a token signed by a key it does not know.
    ``PORTAL_INVALIDATION["PROPAGATION_SECONDS"]`` sets it instead."""
    configured = invalidation_settings.PROPAGATION_SECONDS
    return 2 * recheck_seconds() + 0.5 if configured is None else float(configured)


_LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


def cache_is_shared() -> bool:
    return settings.CACHES["default"]["BACKEND"] not in _LOCAL_CACHES


class VersionCounter:
    """One named version counter: a ``ConfigVersion`` row, and its copy in the shared cache.

    Counters are independent so that a change only drops the warm state that depends on it: an API key
    revocation must not make every gateway process rebuild its published assemblies (issue 14).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.cache_key = f"portal:{name}-version"

    def __repr__(self) -> str:
        return f"VersionCounter({self.name!r})"

    def _database_version(self) -> int:
        row = ConfigVersion.objects.filter(name=self.name).values_list("value", flat=True).first()
        return int(row) if row is not None else 0

    def stored(self) -> int:
        """The counter's value in the database row, never the cached copy. Raises DatabaseError when down."""
        return self._database_version()

    def current(self) -> int:
        """The counter's value. Raises DatabaseError when it must come from a database that is down."""
        if cache_is_shared():
            try:
                value = cache.get(self.cache_key)
            except Exception:  # the cache being down must not break serving: fall back to the database
                logger.warning("%s version: shared cache unreadable, reading the database", self.name, exc_info=True)
            else:
                if value is not None:
                    return int(value)
                version = self._database_version()
                try:
                    cache.add(self.cache_key, version, timeout=copy_seconds())
                except Exception:
                    logger.warning("%s version: not copied to the shared cache", self.name, exc_info=True)
                return version
        return self._database_version()

    def bump(self) -> None:
        """Bump the counter within the current transaction, and in the shared cache once it commits."""
        updated = ConfigVersion.objects.filter(name=self.name).update(value=F("value") + 1)
        if not updated:
            ConfigVersion.objects.get_or_create(name=self.name, defaults={"value": 1})
        if cache_is_shared():
            transaction.on_commit(self._publish_to_cache)

    def _publish_to_cache(self) -> None:
        try:
            cache.set(self.cache_key, self._database_version(), timeout=copy_seconds())
        except Exception:
            logger.warning("%s version: not copied to the shared cache", self.name, exc_info=True)


# A process further behind than this many changes rebuilds everything it holds instead of replaying them.
KEPT_CHANGES = 5000


@dataclass(frozen=True)
class Change:
    """What one version of the gateway's configuration changed (a ``ConfigChange`` row)."""

    version: int
    kind: str
    catalog_id: int | None
    target: str


class ChangeLog(VersionCounter):
    """A version counter whose every bump also records what it changed, so that each process applies the
    change itself (one app, one catalog's publications or keys) instead of dropping all it holds (issue 14)."""

    def bump_change(self, *, kind: str, catalog_id: int | None = None, target: str = "") -> None:
        """Bump within the current transaction and record the change under the new version."""
        self.bump()
        version = self._database_version()  # this transaction holds the row's lock: nobody else moved it
        ConfigChange.objects.create(version=version, kind=kind, catalog_id=catalog_id, target=target)
        if version % 100 == 0:
            ConfigChange.objects.filter(version__lte=version - KEPT_CHANGES).delete()

    def changes(self, *, after: int, upto: int) -> list[Change] | None:
        """The changes of versions ``after`` + 1 to ``upto``, oldest first; None when some are no longer
        recorded (pruned, or made before records were kept): the caller then rebuilds everything.
        Raises DatabaseError when the database is down."""
        rows = ConfigChange.objects.filter(version__gt=after, version__lte=upto).values_list(
            "version", "kind", "catalog_id", "target"
        )
        changes = [Change(*row) for row in rows]
        if len(changes) != upto - after:
            return None
        return changes


# What the gateway serves: publications, enabled profiles, rotations, consumer credentials.
GATEWAY = ChangeLog("config")
# API keys of the REST API: creation, revocation, expiry (portal.apikeys).
API_KEYS = VersionCounter("api-keys")


def current_version() -> int:
    """The gateway's configuration version (``GATEWAY.current()``)."""
    return GATEWAY.current()


def bump_version(
    *,
    catalog_id: int | None = None,
    client_id: str | None = None,
    publication_id: int | None = None,
    publications: bool = False,
    keys: bool = False,
) -> None:
    """Bump the gateway's configuration version, saying what changed so that processes redo only that:

    - ``catalog_id`` and ``client_id``: one consumer app (created, deleted, a credential, a subscription);
    - ``catalog_id`` and ``publication_id``: one publication (publish, state change), and the other
      versions of its API in that catalog (a publish retires them);
    - ``catalog_id`` and ``publications``: the publications of that catalog (any of them may have changed);
    - ``catalog_id`` and ``keys``: that catalog's crypto objects (enabled profile, rotation, retirement);
    - nothing: everything every process holds (a keystore shared by several catalogs, say).
    """
    if catalog_id is None:
        GATEWAY.bump_change(kind=ConfigChange.Kind.ALL)
    elif keys:
        GATEWAY.bump_change(kind=ConfigChange.Kind.KEYS, catalog_id=catalog_id)
    elif publication_id is not None:
        GATEWAY.bump_change(kind=ConfigChange.Kind.PUBLICATIONS, catalog_id=catalog_id, target=str(publication_id))
    elif publications:
        GATEWAY.bump_change(kind=ConfigChange.Kind.PUBLICATIONS, catalog_id=catalog_id)
    elif client_id is not None:
        GATEWAY.bump_change(kind=ConfigChange.Kind.APP, catalog_id=catalog_id, target=client_id)
    else:
        raise TypeError(
            "bump_version(catalog_id=...) needs client_id=, publication_id=, publications=True or keys=True"
        )


class VersionWatch:
    """Tells a process cheaply whether a counter (the gateway's by default) moved since it last looked.

    ``changed()`` reads the version at most every ``recheck_seconds()``; between reads it answers from memory.
    When the version cannot be read at all, it reports no change: the process keeps serving what it has.
    """

    def __init__(self, counter: VersionCounter = GATEWAY) -> None:
        self._counter = counter
        self._seen: int | None = None
        self._checked_at = 0.0

    def changed(self) -> bool:
        now = time.monotonic()
        if self._seen is not None and now - self._checked_at < recheck_seconds():
            return False
        try:
            version = self._counter.current()
        except DatabaseError:
            logger.warning("%s version unreadable; serving the state already built", self._counter.name, exc_info=True)
            self._checked_at = now
            return self._seen is None
        self._checked_at = time.monotonic()
        if version != self._seen:
            self._seen = version
            return True
        return False

    def look(self) -> int | None:
        """The counter's value when it is time to look again (at most every ``recheck_seconds()``); None between
        looks, and when the value cannot be read (the caller keeps what it has and asks again later)."""
        now = time.monotonic()
        if self._seen is not None and now - self._checked_at < recheck_seconds():
            return None
        self._checked_at = now
        try:
            version = self._counter.current()
        except DatabaseError:
            logger.warning("%s version unreadable; serving the state already built", self._counter.name, exc_info=True)
            return None
        self._checked_at = time.monotonic()
        self._seen = version
        return version

    def reset(self) -> None:
        self._seen = None
        self._checked_at = 0.0
