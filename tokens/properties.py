"""API properties and the API's own context variables (DESIGN.md section 3a).

An API's properties are variables named by the property (``$(target-url)``), with the value for the catalog
the API is published in, by precedence (last wins):

1. the document's default: ``x-ibm-configuration.properties.<name>.value``;
2. the document's catalog value: ``x-ibm-configuration.catalogs.<catalog>.properties.<name>`` (APIC's format,
   kept in the document so import and export stay lossless);
3. the operator's value for that catalog (``ApiPropertyValue``, set in the console or with
   ``api_property_set``), which needs no new document version.

``ApiScope`` holds what a publication's calls share: the API's name, version, catalog and organization and
its properties' values. It is built when the publication is compiled and puts its variables in each call's
context in one dict update (``ApiScope.enter``); a property value holding ``$(...)`` is read per call, as APIC
reads it. The gateway reads a whole catalog's operator values in one query (``catalog_property_values``).
``api_property_listing`` names every property an API has in a catalog with its value's source (what the REST
API and ``list_api_properties`` list).

Setting or clearing a value is refused when the API published in that catalog would no longer compile with
it (a ``jws-crypto`` naming a crypto object that does not exist, say); otherwise only that publication is
recompiled, in every gateway process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from portal.invalidation import bump_version
from portal.models import Catalog
from portal.services import Actor, audit_record
from tokens.activity import ActivityLogSettings
from tokens.assembly import document_compile
from tokens.catalog_crypto import CatalogCryptoResolver
from tokens.documents import ApiDescription
from tokens.errors import ApiError, DocumentError
from tokens.models import Api, ApiPropertyValue, Publication
from tokens.scope import ApiScope

PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}\Z")
# Variables an API's properties may not shadow: the request's, the API's own, and those policies and catches set
# (a constant property is written into the policies, so $(decoded.claims.sub) would read the property).
_RESERVED_ROOTS = (
    "request",
    "message",
    "api",
    "client",
    "plan",
    "system",
    "session",
    "error",
    "decoded",
    "generated",
    "jwt-validate",
    "log",
)


def _shadows_a_variable(name: str) -> bool:
    return name.split(".", 1)[0] in _RESERVED_ROOTS


def document_property_values(document: Mapping[str, Any], catalog: str) -> dict[str, Any]:
    """The property values a document gives for ``catalog``: defaults, then the catalog's own values.
    Entries that are not well-formed are left out (``document_property_problems`` names them)."""
    configuration = document.get("x-ibm-configuration")
    if not isinstance(configuration, dict):
        return {}
    values: dict[str, Any] = {}
    declared = configuration.get("properties")
    if isinstance(declared, dict):
        for name, entry in declared.items():
            if isinstance(name, str) and PROPERTY_NAME.match(name) and isinstance(entry, dict) and "value" in entry:
                values[name] = entry["value"]
    values.update(_document_catalog_values(configuration, catalog))
    return values


def _document_catalog_values(configuration: Mapping[str, Any], catalog: str) -> dict[str, Any]:
    """The well-formed entries of ``x-ibm-configuration.catalogs.<catalog>.properties``."""
    catalogs = configuration.get("catalogs")
    per_catalog = catalogs.get(catalog) if isinstance(catalogs, dict) else None
    overrides = per_catalog.get("properties") if isinstance(per_catalog, dict) else None
    if not isinstance(overrides, dict):
        return {}
    return {name: value for name, value in overrides.items() if isinstance(name, str) and PROPERTY_NAME.match(name)}


def document_property_value_replace(document: dict[str, Any], *, catalog: str, name: str, value: Any) -> None:
    """Write ``value`` in ``document`` (changed in place) where it keeps property ``name``'s value for ``catalog``:
    the catalog's own value when it has one, else the default. The operator's value, when there is one, wins
    over both and is not in the document (``api_property_set`` changes it)."""
    configuration = document["x-ibm-configuration"]
    catalogs = configuration.get("catalogs")
    per_catalog = catalogs.get(catalog) if isinstance(catalogs, dict) else None
    overrides = per_catalog.get("properties") if isinstance(per_catalog, dict) else None
    if isinstance(overrides, dict) and name in overrides:
        overrides[name] = value
    else:
        configuration["properties"][name]["value"] = value


def document_property_problems(document: Mapping[str, Any]) -> list[str]:
    """What is wrong with a document's properties, one sentence each (empty when nothing is)."""
    configuration = document.get("x-ibm-configuration")
    if not isinstance(configuration, dict):
        return []
    problems: list[str] = []
    declared = configuration.get("properties", {})
    if not isinstance(declared, dict):
        return ["x-ibm-configuration.properties must be a mapping of property names to {value: ...}."]
    names = list(declared)
    catalogs = configuration.get("catalogs", {})
    if isinstance(catalogs, dict):
        for catalog, entry in catalogs.items():
            overrides = entry.get("properties", {}) if isinstance(entry, dict) else None
            if not isinstance(overrides, dict):
                problems.append(f"x-ibm-configuration.catalogs.{catalog}.properties must be a mapping.")
                continue
            names.extend(overrides)
    for name in names:
        if not isinstance(name, str) or not PROPERTY_NAME.match(name):
            problems.append(f"The API property name {name!r} must hold letters, digits and . _ - (e.g. target-url).")
        elif _shadows_a_variable(name):
            problems.append(f"The API property '{name}' would hide the context variable of the same name.")
    for name, entry in declared.items():
        if not isinstance(entry, dict):
            problems.append(f"x-ibm-configuration.properties.{name} must be a mapping such as {{value: ...}}.")
    return problems


def api_property_values(*, catalog: Catalog, document: Mapping[str, Any], name: str, version: str) -> dict[str, Any]:
    """The effective property values of API ``name`` ``version`` in ``catalog`` (document defaults, the
    document's catalog values, then the operator's values). One query."""
    return {**document_property_values(document, catalog.slug), **_operator_values(catalog, name, version)}


def _operator_values(catalog: Catalog, name: str, version: str) -> dict[str, str]:
    rows = ApiPropertyValue.objects.filter(
        catalog=catalog, api__organization_id=catalog.organization_id, api__name=name, api__version=version
    ).values_list("name", "value")
    return dict(rows)


class PropertySource(models.TextChoices):
    """Where a property's value in a catalog comes from (the precedence in this module's docstring)."""

    OPERATOR = "operator", "An operator's value for the catalog"
    DOCUMENT_CATALOG = "document_catalog", "The document's value for the catalog"
    DOCUMENT_DEFAULT = "document_default", "The document's default"
    UNSET = "unset", "Declared without a value"  # the assembly reads it as absent until someone sets one


@dataclass(frozen=True)
class ApiPropertyState:
    """One property of an API in a catalog: its effective value there (None when unset), where that value
    comes from, and when an operator last set it (None unless ``source`` is ``OPERATOR``)."""

    name: str
    source: PropertySource
    value: Any
    updated_at: datetime | None


def api_property_listing(*, api: Api, catalog: Catalog) -> list[ApiPropertyState]:
    """Every property ``api`` has in ``catalog``, by name: each one its document declares (with a value or
    without), gives a value for ``catalog``, or an operator set there. One query.

    The values are returned whole, operators' included: they may hold a backend's credentials, so a caller
    decides who sees them and never logs them."""
    document = api.document
    configuration = document.get("x-ibm-configuration")
    if not isinstance(configuration, dict):
        configuration = {}
    declared = configuration.get("properties")
    names = {
        name
        for name, entry in (declared.items() if isinstance(declared, dict) else ())
        if isinstance(name, str) and PROPERTY_NAME.match(name) and isinstance(entry, dict)
    }
    document_values = document_property_values(document, catalog.slug)
    catalog_values = _document_catalog_values(configuration, catalog.slug)
    operator_rows = {
        name: (value, updated_at)
        for name, value, updated_at in ApiPropertyValue.objects.filter(api=api, catalog=catalog).values_list(
            "name", "value", "updated_at"
        )
    }
    listing: list[ApiPropertyState] = []
    for name in sorted(names | set(document_values) | set(operator_rows)):
        if name in operator_rows:
            value, updated_at = operator_rows[name]
            listing.append(ApiPropertyState(name, PropertySource.OPERATOR, value, updated_at))
        elif name in catalog_values:
            listing.append(ApiPropertyState(name, PropertySource.DOCUMENT_CATALOG, catalog_values[name], None))
        elif name in document_values:
            listing.append(ApiPropertyState(name, PropertySource.DOCUMENT_DEFAULT, document_values[name], None))
        else:
            listing.append(ApiPropertyState(name, PropertySource.UNSET, None, None))
    return listing


def catalog_property_values(
    catalog: Catalog, *, publication_ids: Iterable[int] | None = None
) -> dict[int, dict[str, str]]:
    """The operator's property values in ``catalog`` by API id: of every API (None), or of the APIs of these
    publications. What the gateway reads once for the publications it compiles together. One query."""
    rows = ApiPropertyValue.objects.filter(catalog=catalog)
    if publication_ids is not None:
        rows = rows.filter(api__publications__in=list(publication_ids)).distinct()
    values: dict[int, dict[str, str]] = {}
    for api_id, name, value in rows.values_list("api_id", "name", "value"):
        values.setdefault(api_id, {})[name] = value
    return values


def api_scope(*, catalog: Catalog, document: Mapping[str, Any], description: ApiDescription) -> ApiScope:
    """The scope of the API ``document`` describes, published in ``catalog``. One query (the operator's
    values). Raises DocumentError naming a malformed property or activity-log setting."""
    operator_values = _operator_values(catalog, description.name, description.version)
    return api_scope_from(catalog=catalog, document=document, description=description, operator_values=operator_values)


def api_scope_from(
    *,
    catalog: Catalog,
    document: Mapping[str, Any],
    description: ApiDescription,
    operator_values: Mapping[str, Any],
) -> ApiScope:
    """``api_scope`` with the operator's values of this API in ``catalog`` already read (the gateway reads a
    whole catalog's at once: ``catalog_property_values``). No query once ``catalog.organization`` is loaded."""
    problems = document_property_problems(document)
    if problems:
        raise DocumentError(" ".join(problems))
    configuration = document.get("x-ibm-configuration")
    try:
        activity = (
            ActivityLogSettings.from_document(dict(document))
            if isinstance(configuration, dict) and "activity-log" in configuration
            else None
        )
    except ValueError as e:
        raise DocumentError(f"{e}.") from e
    return ApiScope(
        api_name=description.name,
        api_version=description.version,
        catalog=catalog.slug,
        organization=catalog.organization.slug,
        properties={**document_property_values(document, catalog.slug), **operator_values},
        activity=activity,
        base_path=description.base_path,
    )


@transaction.atomic
def api_property_set(*, api: Api, catalog: Catalog, name: str, value: str, actor: Actor) -> ApiPropertyValue:
    """Set the value of property ``name`` of ``api`` in ``catalog``; every gateway process serves it within
    seconds. Raises ValidationError naming the field at fault: a property the API does not have (its document
    neither declares it nor gives it a value), or a value the API published in ``catalog`` would not compile
    with."""
    if _shadows_a_variable(name):
        raise ValidationError({"name": f"'{name}' would hide the context variable of the same name."})
    Api.objects.select_for_update().filter(pk=api.pk).first()  # as publishing does: one after the other
    row = ApiPropertyValue.objects.select_for_update().filter(api=api, catalog=catalog, name=name).first()
    if row is None:
        known = [state.name for state in api_property_listing(api=api, catalog=catalog)]
        if name not in known:
            # A value for a property the document never reads is a typo more often than not: it would be stored
            # and do nothing.
            raise ValidationError(
                {
                    "name": f"{api} has no property '{name}' (it has: {', '.join(known) or 'none'}); declare it in "
                    "the document's x-ibm-configuration.properties first."
                }
            )
        row = ApiPropertyValue(api=api, catalog=catalog, name=name)
    row.value = value
    row.full_clean()
    row.save()
    _served_publications_recompile(api=api, catalog=catalog, field="value")
    # The value itself is not audited: properties may hold credentials for a backend.
    audit_record(
        actor=actor,
        action="api.property.set",
        target=api,
        organization=api.organization,
        detail={"catalog": catalog.slug, "property": name},
    )
    return row


@transaction.atomic
def api_property_clear(*, api: Api, catalog: Catalog, name: str, actor: Actor) -> bool:
    """Remove the catalog's value of property ``name`` (the document's value applies again); False when
    there was none. Raises ValidationError when the API published in ``catalog`` would not compile without it."""
    Api.objects.select_for_update().filter(pk=api.pk).first()  # as publishing does: one after the other
    deleted, _ = ApiPropertyValue.objects.filter(api=api, catalog=catalog, name=name).delete()
    if deleted:
        _served_publications_recompile(api=api, catalog=catalog, field="name")
        audit_record(
            actor=actor,
            action="api.property.clear",
            target=api,
            organization=api.organization,
            detail={"catalog": catalog.slug, "property": name},
        )
    return bool(deleted)


def _served_publications_recompile(*, api: Api, catalog: Catalog, field: str) -> None:
    """After a property value changed (in the caller's transaction): check that each publication of ``api``
    served in ``catalog`` still compiles with the values now stored, then have every gateway process recompile
    it (its snapshot's time moves, and the change names it). Raises ValidationError on ``field`` otherwise, so
    the caller's transaction rolls the value back."""
    served = list(
        Publication.objects.select_for_update()
        .filter(api=api, catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
    )
    if not served:
        return
    resolver = CatalogCryptoResolver(catalog)
    for publication in served:
        try:
            document_compile(publication.document, resolver, catalog=catalog)
        except ApiError as e:
            raise ValidationError({field: f"{api} published in {catalog} would not run with this value: {e}"}) from e
    Publication.objects.filter(pk__in=[p.pk for p in served]).update(updated_at=timezone.now())
    for publication in served:
        bump_version(catalog_id=catalog.pk, publication_id=publication.pk)


def without_property_values(text: str, values: Iterable[Any]) -> str:
    """``text`` (an error message) with each property value in it replaced by ``[property value]``, for records
    that readers of audit events see (a value may be a backend's credential)."""
    for value in sorted((v for v in values if isinstance(v, str) and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "[property value]")
    return text
