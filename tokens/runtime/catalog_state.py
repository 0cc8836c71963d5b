"""One catalog's warm state: its routes, the credentials of its apps, its JWKS; built and patched from the database.

``catalog_state_build`` builds a catalog whole (a cold start, or a change to its keys, on which every compiled
assembly depends). The other changes are applied piece by piece, each to a copy that the gateway swaps in
(``tokens.runtime.state_cache``): ``publications_sync`` recompiles only the publications that changed since the
state was built, ``apps_refresh`` re-reads only the apps named by client id. Nothing here is called on a
warm request.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from portal.models import Catalog
from tokens import credentials
from tokens.assembly import CompiledAssembly, assembly_compile
from tokens.catalog_crypto import CatalogCryptoResolver
from tokens.documents import document_describe
from tokens.models import ConsumerApp, Publication
from tokens.properties import api_scope_from, catalog_property_values
from tokens.runtime.jwks import jwks_document
from tokens.runtime.routing import Route, RouteTable, path_pattern
from tokens.scope import references

logger = logging.getLogger("tokens.runtime")

Subscriptions = ConsumerApp.subscriptions.through


@dataclass(frozen=True)
class AppEntry:
    """A consumer app as the gateway checks it: its client id, secret hash ("" for none), the ids of the
    publications it subscribes to, and its name (``client.app.name`` in the calls it is admitted for)."""

    app_id: int
    client_id: str
    secret_hash: str
    subscriptions: frozenset[int]
    name: str = ""


# What ``CatalogState.client_allowed`` admits a call for when the API checks no client id: no app.
NO_APP = AppEntry(0, "", "", frozenset())


def client_key(client_id: str) -> bytes:
    # Apps are found by a digest of the client id, then compared in constant time: no timing oracle on ids.
    return hashlib.sha256(client_id.encode()).digest()


# What identifies a publication's served snapshot: a republish moves the revision, a state change the time.
Fingerprint = tuple[int, str, datetime]


@dataclass(frozen=True)
class CatalogState:
    """What the gateway needs to answer for one catalog, without the database. Never changed in place: a
    change makes a new state (``dataclasses.replace``) that the gateway swaps in."""

    catalog_id: int
    organization: str
    catalog: str
    routes: RouteTable
    apps: dict[bytes, AppEntry]  # digest of client id -> app
    app_keys: dict[int, bytes]  # app id -> digest of its client id, to drop an app whose id changed or went
    served: dict[int, Fingerprint]  # publication id -> the snapshot compiled (or found broken)
    jwks: bytes
    crypto: CatalogCryptoResolver

    def route_for(self, path: str) -> tuple[Route, str] | None:
        """The route whose base path prefixes ``path``, and the rest of the path; longest base path wins."""
        return self.routes.route_for(path)

    def client_allowed(self, route: Route, client_id: str | None, secret: str | None) -> AppEntry | None:
        """The app a call to ``route`` is admitted for: ``NO_APP`` when the API checks no client id; None when
        the call is refused (no, an unknown or an unsubscribed client id, or a wrong secret)."""
        if not route.client_id_required:
            return NO_APP
        if not client_id:
            return None
        entry = self.apps.get(client_key(client_id))
        if (
            entry is None
            or not hmac.compare_digest(entry.client_id, client_id)
            or route.publication_id not in entry.subscriptions
        ):
            return None
        if route.client_secret_required and not (
            secret and entry.secret_hash and credentials.secret_matches(secret, entry.secret_hash)
        ):
            return None
        return entry


def _served_publications(catalog: Catalog) -> dict[int, Fingerprint]:
    rows = (
        Publication.objects.filter(catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
        .values_list("pk", "revision", "state", "updated_at")
    )
    return {pk: (revision, state, updated_at) for pk, revision, state, updated_at in rows}


def _routes(publication_ids: Iterable[int], resolver: CatalogCryptoResolver) -> list[Route]:
    """The routes of these publications, each compiled in its API's scope in the catalog (its properties'
    values there: ``tokens.properties``) against the catalog's crypto objects. Two queries whatever the count:
    the publications and the operator's property values. A publication that no longer compiles (say, its
    crypto object was removed) is left out and logged rather than taking the catalog down."""
    routes: list[Route] = []
    ids = list(publication_ids)
    if not ids:
        return routes
    catalog = resolver.catalog
    # A whole catalog's values at once; a few publications' values alone (a publish, a property set).
    operator_values = catalog_property_values(catalog, publication_ids=None if len(ids) > 100 else ids)
    rows = (
        Publication.objects.filter(pk__in=ids)
        .values_list("pk", "api_id", "api__name", "api__version", "base_path", "state", "document_text")
        .iterator(chunk_size=500)
    )
    # Publications whose assembly and the constant properties it reads are equal share one compiled assembly,
    # each in its own scope (CompiledAssembly.in_scope): 5,000 copies of one API compile once.
    compiled: dict[tuple[str, str], CompiledAssembly] = {}
    referenced: dict[str, frozenset[str]] = {}
    for pk, api_id, name, version, base_path, state, document_text in rows:
        api = f"{name} {version}"  # as str(Api)
        try:
            document = json.loads(document_text)
            description = document_describe(document)
            scope = api_scope_from(
                catalog=catalog,
                document=document,
                description=description,
                operator_values=operator_values.get(api_id, {}),
            )
            text = json.dumps(description.assembly)
            if text not in referenced:
                referenced[text] = references(text)
            key = (text, scope.compile_key(referenced[text]))
            shared = compiled.get(key)
            if shared is None:
                assembly = compiled[key] = assembly_compile(description.assembly, resolver, scope=scope)
            else:
                assembly = shared.in_scope(scope)
        except Exception as e:  # one broken snapshot must not stop the others from serving
            logger.error("publication not served", extra={"api": api, "error": str(e)})
            continue
        routes.append(
            Route(
                publication_id=pk,
                api=api,
                base_path=base_path,
                deprecated=state == Publication.State.DEPRECATED,
                operations=tuple((path_pattern(op.path), op) for op in description.operations),
                assembly=assembly,
                client_id_required=description.client_id_required,
                client_secret_required=description.client_secret_required,
            )
        )
    return routes


def _app_entries(rows: Iterable[tuple[int, str, str, str]], pairs: Iterable[tuple[int, int]]) -> dict[int, AppEntry]:
    """App entries from (id, client id, secret hash, name) rows and (app id, publication id) subscription pairs."""
    subscriptions: dict[int, set[int]] = {}
    for app_id, publication_id in pairs:
        subscriptions.setdefault(app_id, set()).add(publication_id)
    return {
        pk: AppEntry(pk, client_id, secret_hash, frozenset(subscriptions.get(pk, ())), name)
        for pk, client_id, secret_hash, name in rows
    }


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a catalog is built: the build allocates a whole catalog's
    routes and compiled assemblies, which would otherwise set off collections that walk all of them again
    (a quarter of a 5,000-API build). The state holds no cycles; what the build leaves is freed by reference
    counting, and the collector runs again after. Builds are serialised (the gateway's build lock)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def catalog_state_build(catalog: Catalog) -> CatalogState:
    """Build a catalog's state from the database: a bounded number of queries whatever its size (the
    publications, the crypto objects, the apps and their subscriptions, the API property values)."""
    with _collector_paused():
        return _catalog_state_build(catalog)


def _catalog_state_build(catalog: Catalog) -> CatalogState:
    resolver = CatalogCryptoResolver(catalog)
    served = _served_publications(catalog)
    entries = _app_entries(
        ConsumerApp.objects.filter(catalog=catalog).values_list("pk", "client_id", "client_secret_hash", "name"),
        Subscriptions.objects.filter(consumerapp__catalog=catalog).values_list("consumerapp_id", "publication_id"),
    )
    return CatalogState(
        catalog_id=catalog.pk,
        organization=catalog.organization.slug,
        catalog=catalog.slug,
        routes=RouteTable(_routes(served, resolver)),
        apps={client_key(entry.client_id): entry for entry in entries.values()},
        app_keys={pk: client_key(entry.client_id) for pk, entry in entries.items()},
        served=served,
        jwks=jwks_document(resolver.crypto_objects()),
        crypto=resolver,
    )


def publications_sync(state: CatalogState, *, publication_ids: Iterable[int] | None = None) -> CatalogState:
    """The state with the catalog's publications as they are now: only those published, republished,
    deprecated or retired since ``state`` was built are recompiled, and the subscribers of those it did not
    serve yet are re-read. ``publication_ids``: the publications that changed; the other versions of their
    APIs are looked at too (a publish retires them). None: every publication of the catalog is looked at."""
    catalog = state.crypto.catalog
    if publication_ids is None:
        current = _served_publications(catalog)
        looked_at = set(current) | set(state.served)
    else:
        names = Publication.objects.filter(pk__in=list(publication_ids)).values("api__name")
        rows = Publication.objects.filter(
            catalog=catalog, api__name__in=names, api__organization=catalog.organization_id
        ).values_list("pk", "revision", "state", "updated_at")
        looked_at = set(publication_ids)
        current = {}
        for pk, revision, publication_state, updated_at in rows:
            looked_at.add(pk)
            if publication_state != Publication.State.RETIRED:
                current[pk] = (revision, publication_state, updated_at)
    changed = {pk for pk, fingerprint in current.items() if state.served.get(pk) != fingerprint}
    gone = {pk for pk in looked_at if pk in state.served and pk not in current}
    if not changed and not gone:
        return state
    served = {pk: fingerprint for pk, fingerprint in state.served.items() if pk not in gone}
    served.update(current)
    routes = state.routes.with_routes(replaced=changed | gone, added=_routes(changed, state.crypto))
    new = [pk for pk in changed if pk not in state.served]
    client_ids = ConsumerApp.objects.filter(subscriptions__in=new).values_list("client_id", flat=True) if new else []
    return apps_refresh(replace(state, routes=routes, served=served), client_ids=set(client_ids))


def apps_refresh(state: CatalogState, *, client_ids: Iterable[str]) -> CatalogState:
    """The state with these apps as they are now: created, deleted, or with a new secret, client id or
    subscription. Other apps are not read."""
    wanted = set(client_ids)
    if not wanted:
        return state
    rows = list(
        ConsumerApp.objects.filter(catalog_id=state.catalog_id, client_id__in=list(wanted)).values_list(
            "pk", "client_id", "client_secret_hash", "name"
        )
    )
    pairs = Subscriptions.objects.filter(consumerapp_id__in=[row[0] for row in rows]).values_list(
        "consumerapp_id", "publication_id"
    )
    entries = _app_entries(rows, pairs)
    apps, app_keys = dict(state.apps), dict(state.app_keys)
    for client_id in wanted:  # gone (deleted, or its client id was reset): no longer admitted
        key = client_key(client_id)
        entry = apps.pop(key, None)
        if entry is not None:
            app_keys.pop(entry.app_id, None)
    for pk, entry in entries.items():
        previous = app_keys.get(pk)
        if previous is not None:  # the same app under its old client id
            apps.pop(previous, None)
        key = client_key(entry.client_id)
        apps[key] = entry
        app_keys[pk] = key
    return replace(state, apps=apps, app_keys=app_keys)
