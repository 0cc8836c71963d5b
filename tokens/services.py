"""Services for APIs, publications and consumer apps."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from keyprofiles.models import Keystore
from keyprofiles.services import keystore_algorithm_fix
from portal.errors import refusal_text
from portal.invalidation import bump_version
from portal.models import Catalog, Organization
from portal.services import Actor, audit_record
from tokens import credentials
from tokens.assembly import document_compile
from tokens.documents import ApiDescription, document_describe, document_load, document_to_text
from tokens.errors import DocumentError, PolicyConfigError, PublishError, StaleDocumentError
from tokens.models import Api, ConsumerApp, Publication
from tokens.properties import api_property_values, without_property_values
from tokens.runtime import CatalogCryptoResolver

SANDBOX_TEST_APP = "Sandbox Test App"


def _apply_description(api: Api, description: ApiDescription, document: dict[str, Any]) -> None:
    api.title = description.title
    api.name = description.name
    api.version = description.version
    api.base_path = description.base_path
    api.openapi_version = description.openapi_version
    api.document_text = document_to_text(document)


@transaction.atomic
def api_save(*, organization: Organization, document: dict[str, Any], actor: Actor) -> tuple[Api, bool]:
    """Create the API version a document describes, or replace the document of an existing one.

    Returns (api, created). Raises DocumentError for a malformed document. Publications are snapshots and
    do not change until the API is published again.
    """
    description = document_describe(document)
    api = (
        Api.objects.select_for_update()
        .filter(organization=organization, name=description.name, version=description.version)
        .first()
    )
    created = api is None
    if api is None:
        api = Api(organization=organization)
    _apply_description(api, description, document)
    try:
        api.full_clean()
    except ValidationError as e:
        raise DocumentError("; ".join(f"{field}: {' '.join(m)}" for field, m in e.message_dict.items())) from e
    api.save()
    audit_record(
        actor=actor,
        action="api.create" if created else "api.update",
        target=api,
        organization=organization,
        detail={"base_path": api.base_path},
    )
    return api, created


def api_import(*, organization: Organization, data: bytes | str, actor: Actor) -> tuple[Api, bool]:
    """Import an API from YAML or JSON text. Raises DocumentError naming the problem."""
    return api_save(organization=organization, document=document_load(data), actor=actor)


def api_etag(api: Api) -> str:
    """The strong entity tag of an API version's stored document (RFC 9110 section 8.8.3), quoted: equal
    documents give equal tags, any change of the document gives another."""
    return '"' + hashlib.sha256(api.document_text.encode()).hexdigest()[:32] + '"'


@transaction.atomic
def api_create(*, organization: Organization, document: dict[str, Any], actor: Actor) -> Api:
    """Create the API version a document describes. Raises DocumentError for a malformed document, and a
    conflicting DocumentError (``name_taken``) when that name and version exist: replacing a document is
    ``api_replace``, which checks the caller saw the current one."""
    description = document_describe(document)
    if Api.objects.filter(organization=organization, name=description.name, version=description.version).exists():
        raise DocumentError(
            f"The API {description.name} {description.version} exists; replace its document instead.",
            code="name_taken",
            conflict=True,
        )
    api, _ = api_save(organization=organization, document=document, actor=actor)
    return api


@transaction.atomic
def api_replace(*, api: Api, document: dict[str, Any], expected_etag: str, actor: Actor) -> Api:
    """Replace an API version's document with one describing the same name and version.

    ``expected_etag`` is the ``api_etag`` the caller last saw; raises StaleDocumentError when the stored
    document has changed since (checked under a row lock, so two writers cannot both win), DocumentError
    for a malformed document or one naming another API or version.
    """
    current = Api.objects.select_for_update().get(pk=api.pk)
    if api_etag(current) != expected_etag:
        raise StaleDocumentError(f"{current} changed since it was read; fetch it again and reapply the change.")
    description = document_describe(document)
    if (description.name, description.version) != (current.name, current.version):
        raise DocumentError(
            f"The document describes {description.name} {description.version}, not {current.name} "
            f"{current.version}; post it as a new API instead.",
            code="identity_mismatch",
        )
    replaced, _ = api_save(organization=current.organization, document=document, actor=actor)
    return replaced


def api_compile_check(*, document: dict[str, Any], catalog: Catalog) -> ApiDescription:
    """Compile a document's assembly against a catalog's crypto objects, as publishing would.

    Returns the document's description. Raises DocumentError, PolicyConfigError or PublishError naming what
    is wrong.
    """
    description, _ = _compile_for_publishing(document=document, catalog=catalog)
    return description


def _compile_for_publishing(
    *, document: dict[str, Any], catalog: Catalog
) -> tuple[ApiDescription, list[tuple[Keystore, str]]]:
    """The document's description and the (keystore, algorithm) pairs its signing policies use."""
    resolver = CatalogCryptoResolver(catalog, publishing=True)
    description, _ = document_compile(document, resolver, catalog=catalog)
    return description, resolver.algorithm_uses


def _fix_signing_algorithms(*, uses: list[tuple[Keystore, str]], actor: Actor, api: Api) -> None:
    """Fix the algorithm of each key the publication signs with, on its first use (one key, one algorithm).

    Raises PublishError naming both algorithms when two policies sign with one key in different algorithms.
    """
    for keystore, alg in uses:
        try:
            keystore_algorithm_fix(keystore=keystore, algorithm=alg, actor=actor, reason=f"published {api}")
        except ValidationError as e:
            raise PublishError(refusal_text(e)) from e


def api_publish(
    *,
    api: Api,
    catalog: Catalog,
    actor: Actor,
    document: dict[str, Any] | None = None,
    keep_state: bool = False,
) -> Publication:
    """Publish (or republish) an API version in a catalog, replacing its snapshot atomically.

    ``document`` is what to publish; by default the API's own (a rotation republishes the served snapshot
    with only its keys changed, so unpublished edits of the API do not ride along). ``keep_state`` keeps a
    deprecated publication deprecated (a rotation is not a decision about the API's life cycle).
    Raises PublishError, PolicyConfigError or DocumentError; nothing changes then, and the refusal is
    audited. Publishing to sandbox subscribes the Sandbox Test App. Requests in flight finish on the
    snapshot they started with.
    """
    try:
        with transaction.atomic():
            return _publish(
                api=api,
                catalog=catalog,
                actor=actor,
                document=api.document if document is None else document,
                keep_state=keep_state,
            )
    except (PolicyConfigError, PublishError, DocumentError) as e:
        # Outside the rolled-back transaction, so the refusal stays on record; without the property values the
        # message may quote (they are written into the policies before they are checked, and may be credentials).
        values = api_property_values(
            catalog=catalog, document=api.document if document is None else document, name=api.name, version=api.version
        )
        audit_record(
            actor=actor,
            action="api.publish",
            target=api,
            organization=api.organization,
            outcome="failure",
            detail={"catalog": catalog.slug, "error": without_property_values(str(e), values.values())},
        )
        raise


def _publish(*, api: Api, catalog: Catalog, actor: Actor, document: dict[str, Any], keep_state: bool) -> Publication:
    if catalog.organization_id != api.organization_id:
        raise PublishError(f"Catalog {catalog} belongs to another organization than API {api}.")
    # The API's row is the lock a property value's change takes too: a value set while this compiles waits, and
    # is then checked against the snapshot published here (tokens.properties).
    Api.objects.select_for_update().filter(pk=api.pk).first()
    description, algorithm_uses = _compile_for_publishing(document=document, catalog=catalog)
    if (description.name, description.version) != (api.name, api.version):
        raise PublishError(
            f"The document describes {description.name} {description.version}, not {api.name} {api.version}."
        )
    clash = (
        Publication.objects.filter(catalog=catalog, base_path=description.base_path)
        .exclude(api__name=api.name)
        .exclude(state=Publication.State.RETIRED)
        .select_related("api")
        .first()
    )
    if clash is not None:
        raise PublishError(
            f"The base path {description.base_path} is already served in {catalog} by {clash.api}; "
            "retire that API or change this one's base path.",
            code="base_path_taken",
            conflict=True,
        )
    _fix_signing_algorithms(uses=algorithm_uses, actor=actor, api=api)
    # Another version of the same API in this catalog gives way: one version serves a base path.
    Publication.objects.filter(catalog=catalog, api__name=api.name, api__organization=api.organization).exclude(
        api=api
    ).exclude(state=Publication.State.RETIRED).update(state=Publication.State.RETIRED, updated_at=timezone.now())
    publication = Publication.objects.select_for_update().filter(api=api, catalog=catalog).first()
    if publication is None:
        publication = Publication(api=api, catalog=catalog, revision=0)
    publication.document_text = document_to_text(document)
    publication.base_path = description.base_path
    if not (keep_state and publication.state == Publication.State.DEPRECATED):
        publication.state = Publication.State.PUBLISHED
    publication.revision += 1
    publication.published_at = timezone.now()
    publication.full_clean()
    publication.save()
    if catalog.is_sandbox:
        app = sandbox_test_app(catalog=catalog, actor=actor)
        app.subscriptions.add(publication)
    audit_record(
        actor=actor,
        action="api.publish",
        target=publication,
        organization=api.organization,
        detail={"catalog": catalog.slug, "revision": publication.revision, "base_path": publication.base_path},
    )
    bump_version(catalog_id=catalog.pk, publication_id=publication.pk)
    return publication


@transaction.atomic
def api_delete(*, api: Api, actor: Actor) -> None:
    """Delete an API version and its retired publications. Raises PublishError while a catalog serves it
    (retire it there first: deleting would silently take the API away from its callers)."""
    served = [
        str(p.catalog) for p in api.publications.exclude(state=Publication.State.RETIRED).select_related("catalog")
    ]
    if served:
        raise PublishError(
            f"{api} is published in {', '.join(served)}; retire it there before deleting it.",
            code="in_use",
            conflict=True,
        )
    organization = api.organization
    audit_record(
        actor=actor,
        action="api.delete",
        target=api,
        organization=organization,
        detail={"base_path": api.base_path, "retired_publications": api.publications.count()},
    )
    api.publications.all().delete()
    api.delete()


ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Publication.State.PUBLISHED: {Publication.State.DEPRECATED, Publication.State.RETIRED},
    Publication.State.DEPRECATED: {Publication.State.PUBLISHED, Publication.State.RETIRED},
    Publication.State.RETIRED: set(),
}


@transaction.atomic
def publication_set_state(*, publication: Publication, state: str, actor: Actor) -> Publication:
    """Deprecate, retire or reinstate a publication. Idempotent; a retired one comes back only by publishing.

    Raises PublishError for a transition that is not allowed.
    """
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.state == state:
        return publication
    if state not in ALLOWED_TRANSITIONS.get(publication.state, set()):
        raise PublishError(
            f"{publication.api} in {publication.catalog} is {publication.state}; it cannot become {state}"
            + (" (publish it again instead)." if publication.state == Publication.State.RETIRED else "."),
            code="invalid_transition",
            conflict=True,
        )
    previous = publication.state
    publication.state = state
    publication.save(update_fields=["state", "updated_at"])
    audit_record(
        actor=actor,
        action=f"publication.{state}",
        target=publication,
        organization=publication.catalog.organization,
        detail={"from": previous, "to": state},
    )
    bump_version(catalog_id=publication.catalog_id, publication_id=publication.pk)
    return publication


def sandbox_test_app(*, catalog: Catalog, actor: Actor) -> ConsumerApp:
    """The sandbox's test app, created on first use (client id only; reset its secret to add one)."""
    app = ConsumerApp.objects.filter(catalog=catalog, name=SANDBOX_TEST_APP).first()
    if app is None:
        app, _ = app_create(catalog=catalog, name=SANDBOX_TEST_APP, with_secret=False, actor=actor)
    return app


@transaction.atomic
def app_create(
    *, catalog: Catalog, name: str, with_secret: bool = False, description: str = "", actor: Actor
) -> tuple[ConsumerApp, str | None]:
    """Create a consumer app. Returns (app, secret): the secret in clear exists only in this return value."""
    app = ConsumerApp(catalog=catalog, name=name.strip(), description=description)
    secret = credentials.secret_generate() if with_secret else None
    if secret is not None:
        app.client_secret_hash = credentials.secret_hash(secret)
    app.full_clean()
    app.save()
    audit_record(
        actor=actor,
        action="app.create",
        target=app,
        organization=catalog.organization,
        detail={"catalog": catalog.slug, "client_id": app.client_id, "secret": with_secret},
    )
    bump_version(catalog_id=catalog.pk, client_id=app.client_id)
    return app, secret


@transaction.atomic
def app_subscribe_served(*, app: ConsumerApp, actor: Actor) -> list[Publication]:
    """Subscribe an app to every API its catalog serves (published or deprecated), as the console does for a
    new app. Returns the publications it is now subscribed to."""
    served = list(
        Publication.objects.filter(catalog=app.catalog).exclude(state=Publication.State.RETIRED).select_related("api")
    )
    for publication in served:
        app_subscribe(app=app, publication=publication, actor=actor)
    return served


@transaction.atomic
def app_delete(*, app: ConsumerApp, actor: Actor) -> None:
    """Delete a consumer app: its client id and secret stop working on every node within seconds."""
    audit_record(
        actor=actor,
        action="app.delete",
        target=app,
        organization=app.catalog.organization,
        detail={"catalog": app.catalog.slug, "client_id": app.client_id},
    )
    app.delete()
    bump_version(catalog_id=app.catalog_id, client_id=app.client_id)


@transaction.atomic
def app_reset_secret(*, app: ConsumerApp, actor: Actor) -> str:
    """Give the app a new secret (the old one stops working on every node within seconds)."""
    app = ConsumerApp.objects.select_for_update().get(pk=app.pk)
    secret = credentials.secret_generate()
    app.client_secret_hash = credentials.secret_hash(secret)
    app.save(update_fields=["client_secret_hash"])
    audit_record(actor=actor, action="app.reset-secret", target=app, organization=app.catalog.organization)
    bump_version(catalog_id=app.catalog_id, client_id=app.client_id)
    return secret


@transaction.atomic
def app_reset_client_id(*, app: ConsumerApp, actor: Actor) -> str:
    """Give the app a new client id; the old one is refused everywhere within seconds."""
    app = ConsumerApp.objects.select_for_update().get(pk=app.pk)
    old = app.client_id
    app.client_id = ConsumerApp._meta.get_field("client_id").get_default()
    app.save(update_fields=["client_id"])
    audit_record(
        actor=actor,
        action="app.reset-client-id",
        target=app,
        organization=app.catalog.organization,
        detail={"old_client_id": old, "client_id": app.client_id},
    )
    bump_version(catalog_id=app.catalog_id, client_id=app.client_id)
    return app.client_id


@transaction.atomic
def app_subscribe(*, app: ConsumerApp, publication: Publication, actor: Actor) -> None:
    """Subscribe an app to a publication of its own catalog. Idempotent. Raises ValidationError for another
    catalog's publication or a retired one."""
    if publication.catalog_id != app.catalog_id:
        raise ValidationError(f"{app} lives in {app.catalog}; it cannot subscribe to an API in {publication.catalog}.")
    if not publication.is_served:
        raise ValidationError(f"{publication.api} is retired in {publication.catalog}.")
    app.subscriptions.add(publication)
    audit_record(
        actor=actor,
        action="app.subscribe",
        target=app,
        organization=app.catalog.organization,
        detail={"api": str(publication.api)},
    )
    bump_version(catalog_id=app.catalog_id, client_id=app.client_id)


@transaction.atomic
def app_unsubscribe(*, app: ConsumerApp, publication: Publication, actor: Actor) -> None:
    app.subscriptions.remove(publication)
    audit_record(
        actor=actor,
        action="app.unsubscribe",
        target=app,
        organization=app.catalog.organization,
        detail={"api": str(publication.api)},
    )
    bump_version(catalog_id=app.catalog_id, client_id=app.client_id)
