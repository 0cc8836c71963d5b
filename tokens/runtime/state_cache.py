"""The gateway's warm state, per process (DESIGN.md section 5), and how it follows changes without stalling.

Each catalog's state (``catalog_state``) is built from the database on first use. After that, the process
looks at the shared configuration version every ``recheck_seconds()`` (``portal.invalidation``); when it
moved, it reads what changed (one app, one catalog's publications, one catalog's keys, or everything) and
applies only that, to a copy of the catalog's state that it swaps in whole. Both run in a background thread,
so no request waits on them, nor reads the database once warm: requests keep being served from the current
state meanwhile (issue 14).
A catalog's state is replaced, never kept beside its successor, so a process holds one copy of each.

A refresh that fails (the database is down) keeps the current state and is tried again at the next look.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connections

from portal import invalidation
from portal.invalidation import GATEWAY, Change, VersionWatch
from portal.models import Catalog, ConfigChange
from tokens.conf import tokens_settings
from tokens.runtime.catalog_state import CatalogState, apps_refresh, catalog_state_build, publications_sync

logger = logging.getLogger("tokens.runtime")

_NEGATIVE_CACHE_LIMIT = 1024
_MIN_POLL_SECONDS = 0.05  # the refresh thread's shortest sleep, whatever recheck_seconds() says (tests set 0)
_MISSING = object()


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did, for metrics and logs: the version reached, and the catalogs rebuilt whole or patched."""

    version: int
    rebuilt: int
    patched: int
    seconds: float
    cold: bool = False  # a catalog built on its first request


def _catalog_row(organization: str, catalog: str) -> Catalog | None:
    return Catalog.objects.select_related("organization").filter(organization__slug=organization, slug=catalog).first()


class Gateway:
    """The per-process cache of catalog states, following the shared configuration version change by change."""

    def __init__(self, *, background: bool | None = None) -> None:
        """``background``: apply changes in a background thread (the default outside tests comes from the
        ``TOKENS_GATEWAY["REFRESH_IN_BACKGROUND"]`` setting); otherwise the request that notices applies them."""
        self._states: dict[tuple[str, str], CatalogState | None] = {}
        self._build_lock = threading.Lock()  # one builder at a time: a cold build or a refresh
        self._watch = VersionWatch(GATEWAY)
        self._applied: int | None = None  # the version every state held reflects (at least)
        self._background = background
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_refresh: list[Callable[[RefreshReport], None]] = []

    # -- serving ------------------------------------------------------------------------------------------

    def catalog_state(self, organization: str, catalog: str) -> CatalogState | None:
        """The catalog's state, or None when there is no such catalog. May raise a database error when cold.

        Once warm it reads nothing but memory: the refresh thread looks at the configuration version. Without
        it (``background=False``), the request looks (at most every ``recheck_seconds()``) and applies a change
        it finds before it is served."""
        if self._in_background():
            if self._thread is None or not self._thread.is_alive():  # first use, or a fork left it behind
                self._start_thread()
        else:
            version = self._watch.look()
            if version is not None and self._applied is not None and version != self._applied:
                self.refresh()
        state = self._states.get((organization, catalog), _MISSING)
        if state is not _MISSING:
            return state  # type: ignore[return-value]
        return self._build_cold(organization, catalog)

    def _build_cold(self, organization: str, catalog: str) -> CatalogState | None:
        key = (organization, catalog)
        with self._build_lock:
            if key in self._states:
                return self._states[key]
            started = time.perf_counter()
            version = GATEWAY.current()
            row = _catalog_row(organization, catalog)
            state = catalog_state_build(row) if row is not None else None
            if self._applied is None:
                self._applied = version
            if state is None and len(self._states) > _NEGATIVE_CACHE_LIMIT:
                self._states = {k: v for k, v in self._states.items() if v is not None}
            self._states[key] = state
            report = RefreshReport(self._applied, int(state is not None), 0, time.perf_counter() - started, cold=True)
        self._settle(report)
        self._report(report)
        return state

    def _settle(self, report: RefreshReport) -> None:
        """After a catalog was built whole, take what the process holds out of the cyclic garbage collector's
        reach (``gc.freeze``): a full collection would otherwise walk every route and compiled assembly, about
        70 ms at 5,000 APIs on a busy two-core machine, in whichever request triggers it. States hold no
        cycles, so a replaced one is still freed by reference counting. Patches add few objects: no freeze.
        Only in serving processes (background refresh): a test process would freeze every test's garbage."""
        if report.rebuilt and self._in_background():
            gc.freeze()

    def _report(self, report: RefreshReport) -> None:
        for listener in self.on_refresh:
            try:
                listener(report)
            except Exception:  # a listener (metrics) must never fail a request or a refresh
                logger.exception("gateway refresh listener failed")

    def is_warm(self) -> bool:
        """True when this process holds the state of at least one catalog (it can serve without the database)."""
        return any(state is not None for state in self._states.values())

    def serving_version(self) -> int | None:
        """The configuration version the states this process serves reflect; None before the first build."""
        return self._applied

    # -- following changes ----------------------------------------------------------------------------------

    def _in_background(self) -> bool:
        if self._background is not None:
            return self._background
        return bool(tokens_settings.REFRESH_IN_BACKGROUND)

    def _start_thread(self) -> None:
        with self._build_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._refresh_loop, name="gateway-refresh", daemon=True)
            self._thread.start()

    def _refresh_loop(self) -> None:
        """Look at the configuration version every ``recheck_seconds()`` and apply what changed, until stopped."""
        while not self._stopping.wait(timeout=max(invalidation.recheck_seconds(), _MIN_POLL_SECONDS)):
            try:
                version = self._watch.look()
                if version is not None and self._applied is not None and version != self._applied:
                    self.refresh()
            except Exception:  # the thread must outlive any one failure; the next look tries again
                logger.exception("gateway refresh failed; serving the state already built")
                connections.close_all()  # this thread's connections only: the next look opens a fresh one
        connections.close_all()

    def stop(self) -> None:
        """End the refresh thread (tests; a process that ends needs nothing: the thread is a daemon)."""
        thread = self._thread
        self._stopping.set()
        if thread is not None:
            thread.join(timeout=30)
        self._thread = None

    def refresh(self) -> RefreshReport | None:
        """Bring every state held up to the current configuration version, applying only what changed, and
        swap each catalog's new state in. Returns what it did, or None when there was nothing to do or the
        version could not be read (the states held stay served)."""
        with self._build_lock:
            applied = self._applied
            if applied is None:
                return None
            started = time.perf_counter()
            try:
                target = GATEWAY.current()
                if target < applied:
                    # A cached copy behind the row (two commits' copies written out of order): the row decides.
                    target = GATEWAY.stored()
                if target == applied:
                    return None
                # Behind what this process applied even in the row (a database restored from a backup): redo all.
                changes = GATEWAY.changes(after=applied, upto=target) if target > applied else None
            except DatabaseError:
                logger.warning("gateway: changes unreadable; serving the state already built", exc_info=True)
                return None
            rebuilt = patched = 0
            complete = True
            for key, state in list(self._states.items()):
                if state is None:
                    del self._states[key]  # a catalog created since is found at its next request
                    continue
                try:
                    new_state, whole = _apply(state, key, changes)
                except DatabaseError:
                    logger.warning("gateway: %s/%s not refreshed; serving its last state", *key, exc_info=True)
                    complete = False
                    continue
                if new_state is not state:
                    self._states[key] = new_state  # the swap: one reference, atomic
                    rebuilt += whole
                    patched += not whole
                    if new_state is None:
                        del self._states[key]
            if not complete:
                return None
            self._applied = target
            report = RefreshReport(target, rebuilt, patched, time.perf_counter() - started)
        self._settle(report)
        self._report(report)
        return report

    def reset(self) -> None:
        with self._build_lock:
            self._states = {}
            self._applied = None
            self._watch.reset()


def _apply(state: CatalogState, key: tuple[str, str], changes: list[Change] | None) -> tuple[CatalogState | None, bool]:
    """The catalog's state after ``changes`` (None: unknown, so everything), and whether it was rebuilt whole."""
    mine = None if changes is None else [c for c in changes if c.catalog_id in (None, state.catalog_id)]
    if mine is None or any(c.kind in (ConfigChange.Kind.KEYS, ConfigChange.Kind.ALL) for c in mine):
        row = _catalog_row(*key)
        return (catalog_state_build(row) if row is not None else None), True
    publications = [c for c in mine if c.kind == ConfigChange.Kind.PUBLICATIONS]
    if publications:
        targets = {int(c.target) for c in publications if c.target.isdigit()}
        everything = any(not c.target for c in publications)
        state = publications_sync(state, publication_ids=None if everything else targets)
    client_ids = {c.target for c in mine if c.kind == ConfigChange.Kind.APP}
    return apps_refresh(state, client_ids=client_ids), False


gateway = Gateway()
