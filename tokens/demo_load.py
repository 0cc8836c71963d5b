"""Load for the gateway: many published APIs shaped like the demo's, and many subscribed apps (issue 14).

``demo_load_seed`` adds to the demo (``tokens.demo``) ``apis`` published copies of its API, each with its own
name (``demo-load-00001``...) and base path (``/demo-load-00001``), and ``apps`` consumer apps in the sandbox,
each subscribed to two of them; the Sandbox Test App is subscribed to all, as publishing in sandbox does.

It is fast because it writes in bulk, yet the data is what the services would write: the document is the
demo's, compiled against the sandbox's crypto objects once (the copies differ only in name and base path,
which each row's own validators check), every row passes ``full_clean`` (the uniqueness the bulk insert
relies on is checked once, for the whole batch), one audit event records the load, and one version bump
tells every process. Idempotent: what exists already is kept, only what is missing is created.

With ``properties``, each copy's assembly also reads an API property with its own value (``tenant``:
``tenant-00001``...), answered in an ``X-Tenant`` response header: the odd copies' values are their documents'
defaults, the even copies' are operator values (``ApiPropertyValue`` rows in the catalog, written in bulk like
the rest). The gateway then compiles each copy on its own instead of sharing one compiled assembly
(``tokens.runtime.catalog_state``): the load of a catalog whose APIs differ (docs/scale.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.invalidation import bump_version
from portal.models import Catalog
from portal.services import Actor, audit_record
from tokens.demo import API_DOCUMENT, API_NAME
from tokens.documents import document_describe, document_load, document_to_text
from tokens.models import Api, ApiPropertyValue, ConsumerApp, Publication
from tokens.services import api_compile_check, sandbox_test_app

LOAD_PREFIX = "demo-load-"
APP_PREFIX = "Demo Load App "
BATCH = 500
TENANT_PROPERTY = "tenant"
TENANT_HEADER = "X-Tenant"


class LoadShapeError(Exception):
    """The load asked for differs in shape (with or without the tenant property) from the load already
    seeded: its documents are kept as they are, so the two cannot be mixed. The message says what to do."""


@dataclass(frozen=True)
class LoadSummary:
    apis_created: int
    apis_total: int
    apps_created: int
    apps_total: int
    property_values_created: int = 0


def load_api_name(number: int) -> str:
    return f"{LOAD_PREFIX}{number:05d}"


def load_tenant(number: int) -> str:
    """The value of the tenant property of API number ``number`` of a load seeded with properties."""
    return f"tenant-{number:05d}"


def tenant_from_document(number: int) -> bool:
    """Whether API number ``number``'s tenant is its document's default (odd numbers) or an operator's value."""
    return number % 2 == 1


def load_document(template: dict[str, Any], number: int, *, properties: bool = False) -> dict[str, Any]:
    """The demo document as API number ``number`` of the load: its own name, title and base path. With
    ``properties``, it declares the tenant property (with its value when ``tenant_from_document``) and its
    assembly first sets the ``X-Tenant`` response header from it, for every operation: the demo's answers
    are otherwise unchanged."""
    document = copy.deepcopy(template)
    name = load_api_name(number)
    document["info"]["x-ibm-name"] = name
    document["info"]["title"] = f"Demo Load {number:05d}"
    document["basePath"] = f"/{name}"
    if properties:
        configuration = document["x-ibm-configuration"]
        declared: dict[str, Any] = {"description": "The tenant this copy serves, answered in X-Tenant"}
        if tenant_from_document(number):
            declared["value"] = load_tenant(number)
        configuration["properties"] = {TENANT_PROPERTY: declared}
        tenant_header = {
            "version": "2.0.0",
            "title": "tenant-header",
            "actions": [
                {"set": f"message.headers.{TENANT_HEADER}", "value": f"$({TENANT_PROPERTY})", "type": "string"}
            ],
        }
        configuration["assembly"]["execute"].insert(0, {"set-variable": tenant_header})
    return document


def _check_shape(*, catalog: Catalog, properties: bool) -> None:
    """Raise LoadShapeError when the load already in ``catalog`` was seeded with the tenant property and
    ``properties`` is false, or the other way round."""
    first_text = (
        Api.objects.filter(organization=catalog.organization_id, name__startswith=LOAD_PREFIX)
        .order_by("name")
        .values_list("document_text", flat=True)
        .first()
    )
    if first_text is None:
        return
    configuration = document_load(first_text).get("x-ibm-configuration", {})
    if (TENANT_PROPERTY in configuration.get("properties", {})) == properties:
        return  # every run writes one shape, so the first API tells the load's
    seeded = "without API properties" if properties else "with API properties (seed_demo --properties)"
    asked = "asks for them" if properties else "asks for none"
    raise LoadShapeError(
        f"The load in {catalog} was seeded {seeded}; this run {asked}. Its APIs are kept as they are: seed a "
        "fresh database, or repeat the first run's options."
    )


@transaction.atomic
def demo_load_seed(
    *,
    catalog: Catalog,
    apis: int,
    apps: int,
    actor: Actor,
    properties: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Publish ``apis`` demo-shaped APIs in ``catalog`` and create ``apps`` apps subscribed to them (the demo
    must be seeded first: its key profile signs for them); with ``properties``, each API reads its own tenant
    property value (the module docstring). Returns what was created and what exists.

    Raises DocumentError, PolicyConfigError or PublishError when the demo's API does not compile in
    ``catalog`` (say, its key profile is not enabled there), and LoadShapeError when the load already seeded
    was seeded with ``properties`` and this one is not, or the other way round.
    """
    say = progress or (lambda message: None)
    template = document_load(API_DOCUMENT.read_bytes())
    organization = catalog.organization
    now = timezone.now()
    if apis:
        shapes = (1, 2) if properties else (1,)  # with properties, a copy of each half: document, operator
        for number in shapes:
            api_compile_check(document=load_document(template, number, properties=properties), catalog=catalog)
        _check_shape(catalog=catalog, properties=properties)

    existing_apis = set(
        Api.objects.filter(organization=organization, name__startswith=LOAD_PREFIX).values_list("name", flat=True)
    )
    wanted = [n for n in range(1, apis + 1) if load_api_name(n) not in existing_apis]
    new_apis: list[Api] = []
    for number in wanted:
        document = load_document(template, number, properties=properties)
        description = document_describe(document)
        api = Api(
            organization=organization,
            title=description.title,
            name=description.name,
            version=description.version,
            base_path=description.base_path,
            openapi_version=description.openapi_version,
            document_text=document_to_text(document),
        )
        api.full_clean(validate_unique=False, validate_constraints=False)  # names are new: checked above
        new_apis.append(api)
    for start in range(0, len(new_apis), BATCH):
        Api.objects.bulk_create(new_apis[start : start + BATCH])
        say(f"APIs: {min(start + BATCH, len(new_apis))}/{len(new_apis)}")

    load_apis = {
        api.name: api
        for api in Api.objects.filter(organization=organization, name__startswith=LOAD_PREFIX).only(
            "pk", "organization_id", "name", "base_path", "document_text"
        )
    }
    published = set(
        Publication.objects.filter(catalog=catalog, api__in=load_apis.values()).values_list("api_id", flat=True)
    )
    taken = set(
        Publication.objects.filter(catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
        .values_list("base_path", flat=True)
    )
    new_publications = []
    for number in range(1, apis + 1):
        api = load_apis[load_api_name(number)]
        if api.pk in published or api.base_path in taken:
            continue
        publication = Publication(
            api=api,
            catalog=catalog,
            base_path=api.base_path,
            document_text=api.document_text,
            revision=1,
            published_at=now,
        )
        publication.full_clean(validate_unique=False, validate_constraints=False)
        new_publications.append(publication)
    for start in range(0, len(new_publications), BATCH):
        Publication.objects.bulk_create(new_publications[start : start + BATCH])
        say(f"publications: {min(start + BATCH, len(new_publications))}/{len(new_publications)}")

    new_values = (
        _operator_tenants(catalog=catalog, apis=[load_apis[load_api_name(n)] for n in range(1, apis + 1)])
        if properties
        else []
    )
    for start in range(0, len(new_values), BATCH):
        ApiPropertyValue.objects.bulk_create(new_values[start : start + BATCH])
        say(f"property values: {min(start + BATCH, len(new_values))}/{len(new_values)}")

    publications = list(
        Publication.objects.filter(catalog=catalog, api__name__startswith=LOAD_PREFIX, api__organization=organization)
        .exclude(state=Publication.State.RETIRED)
        .order_by("api__name")
        .values_list("pk", flat=True)
    )
    existing_apps = set(
        ConsumerApp.objects.filter(catalog=catalog, name__startswith=APP_PREFIX).values_list("name", flat=True)
    )
    new_apps = []
    for number in range(1, apps + 1):
        name = f"{APP_PREFIX}{number:05d}"
        if name in existing_apps:
            continue
        app = ConsumerApp(catalog=catalog, name=name)
        app.full_clean(validate_unique=False, validate_constraints=False)
        new_apps.append(app)
    for start in range(0, len(new_apps), BATCH):
        ConsumerApp.objects.bulk_create(new_apps[start : start + BATCH])
        say(f"apps: {min(start + BATCH, len(new_apps))}/{len(new_apps)}")

    Subscription = ConsumerApp.subscriptions.through
    pairs: set[tuple[int, int]] = set()
    if publications:
        created_names = {app.name for app in new_apps}
        for number, app_id in enumerate(
            ConsumerApp.objects.filter(catalog=catalog, name__in=created_names)
            .order_by("name")
            .values_list("pk", flat=True)
        ):
            pairs.add((app_id, publications[number % len(publications)]))
            pairs.add((app_id, publications[(number + len(publications) // 2) % len(publications)]))
        if catalog.is_sandbox:
            test_app = sandbox_test_app(catalog=catalog, actor=actor)
            pairs.update((test_app.pk, publication_id) for publication_id in publications)
    known = set(
        Subscription.objects.filter(publication__catalog=catalog).values_list("consumerapp_id", "publication_id")
    )
    rows = [Subscription(consumerapp_id=a, publication_id=p) for a, p in sorted(pairs - known)]
    for start in range(0, len(rows), BATCH * 4):
        Subscription.objects.bulk_create(rows[start : start + BATCH * 4])
    say(f"subscriptions: {len(rows)}")

    summary = LoadSummary(
        apis_created=len(new_publications),
        apis_total=len(publications),
        apps_created=len(new_apps),
        apps_total=ConsumerApp.objects.filter(catalog=catalog, name__startswith=APP_PREFIX).count(),
        property_values_created=len(new_values),
    )
    audit_record(
        actor=actor,
        action="demo.load",
        target=catalog,
        organization=organization,
        detail={
            "apis_created": summary.apis_created,
            "apps_created": summary.apps_created,
            "property_values_created": summary.property_values_created,
            "api": API_NAME,
        },
    )
    if new_publications or new_apps or rows or new_values:
        bump_version()  # a bulk change: every process rebuilds what it holds
    return summary


def _operator_tenants(*, catalog: Catalog, apis: list[Api]) -> list[ApiPropertyValue]:
    """The operator's tenant values in ``catalog`` still missing for those of ``apis`` (a load seeded with
    properties) whose documents give no tenant (valid rows, not yet saved)."""
    wanted = [api for api in apis if not tenant_from_document(int(api.name.removeprefix(LOAD_PREFIX)))]
    existing = set(
        ApiPropertyValue.objects.filter(
            catalog=catalog,
            name=TENANT_PROPERTY,
            api__organization=catalog.organization_id,
            api__name__startswith=LOAD_PREFIX,
        ).values_list("api_id", flat=True)
    )
    values = []
    for api in wanted:
        if api.pk in existing:
            continue
        value = ApiPropertyValue(
            api=api, catalog=catalog, name=TENANT_PROPERTY, value=load_tenant(int(api.name.removeprefix(LOAD_PREFIX)))
        )
        value.full_clean(validate_unique=False, validate_constraints=False)  # checked above: none yet
        values.append(value)
    return values
