"""API properties and the API's own context variables (DESIGN.md section 3a).

An API's properties are variables named by the property (``$(target-url)``), with the value for the catalog
the API is published in, by precedence (last wins):

1. the document's default: ``x-ibm-configuration.properties.<name>.value``;
2. the document's catalog value: ``x-ibm-configuration.catalogs.<catalog>.properties.<name>`` (APIC's format,
   kept in the document so import and export stay lossless);
3. the operator's value for that catalog (``ApiPropertyValue``, set in the console or with
   ``api_property_set``), which needs no new document version.

``ApiScope`` holds what a publication's calls share: the API's name, version, catalog and organization, its
properties' values, and the names of the apps subscribed to it (``client.app.name``). It is built when the
publication is compiled and puts its variables in each call's context in one dict update
(``ApiScope.enter``); a property value holding ``$(...)`` is read per call, as APIC reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.invalidation import bump_version
from portal.models import Catalog
from portal.services import Actor, audit_record
from tokens.activity import ActivityLogSettings
from tokens.documents import ApiDescription
from tokens.errors import DocumentError
from tokens.models import Api, ApiPropertyValue
from tokens.scope import ApiScope

PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
# Variables an API's properties may not shadow: the request's and the API's own.
_RESERVED_PREFIXES = ("request.", "message.", "api.", "client.", "plan.", "system.", "session.")


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
    catalogs = configuration.get("catalogs")
    per_catalog = catalogs.get(catalog) if isinstance(catalogs, dict) else None
    overrides = per_catalog.get("properties") if isinstance(per_catalog, dict) else None
    if isinstance(overrides, dict):
        for name, value in overrides.items():
            if isinstance(name, str) and PROPERTY_NAME.match(name):
                values[name] = value
    return values


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
        elif name.startswith(_RESERVED_PREFIXES):
            problems.append(f"The API property '{name}' would hide the context variable of the same name.")
    for name, entry in declared.items():
        if not isinstance(entry, dict):
            problems.append(f"x-ibm-configuration.properties.{name} must be a mapping such as {{value: ...}}.")
    return problems


def api_property_values(*, catalog: Catalog, document: Mapping[str, Any], name: str, version: str) -> dict[str, Any]:
    """The effective property values of API ``name`` ``version`` in ``catalog`` (document defaults, the
    document's catalog values, then the operator's values). One query."""
    values = document_property_values(document, catalog.slug)
    operator_values = ApiPropertyValue.objects.filter(
        catalog=catalog, api__organization_id=catalog.organization_id, api__name=name, api__version=version
    ).values_list("name", "value")
    for property_name, value in operator_values:
        values[property_name] = value
    return values


def api_scope(
    *,
    catalog: Catalog,
    document: Mapping[str, Any],
    description: ApiDescription,
    subscribers: Iterable[tuple[str, str]] = (),
) -> ApiScope:
    """The scope of the API ``document`` describes, published in ``catalog``; ``subscribers`` are (client id,
    app name) pairs. Raises DocumentError naming a malformed property or activity-log setting."""
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
        properties=api_property_values(
            catalog=catalog, document=document, name=description.name, version=description.version
        ),
        client_id_required=description.client_id_required,
        app_names=dict(subscribers),
        activity=activity,
    )


@transaction.atomic
def api_property_set(*, api: Api, catalog: Catalog, name: str, value: str, actor: Actor) -> ApiPropertyValue:
    """Set the value of property ``name`` of ``api`` in ``catalog``; every gateway process serves it within
    seconds. Raises ValidationError naming the field at fault."""
    if name.startswith(_RESERVED_PREFIXES):
        raise ValidationError({"name": f"'{name}' would hide the context variable of the same name."})
    row = ApiPropertyValue.objects.select_for_update().filter(api=api, catalog=catalog, name=name).first()
    row = row or ApiPropertyValue(api=api, catalog=catalog, name=name)
    row.value = value
    row.full_clean()
    row.save()
    # The value itself is not audited: properties may hold credentials for a backend.
    audit_record(
        actor=actor,
        action="api.property.set",
        target=api,
        organization=api.organization,
        detail={"catalog": catalog.slug, "property": name},
    )
    bump_version()
    return row


@transaction.atomic
def api_property_clear(*, api: Api, catalog: Catalog, name: str, actor: Actor) -> bool:
    """Remove the catalog's value of property ``name`` (the document's value applies again); False when
    there was none."""
    deleted, _ = ApiPropertyValue.objects.filter(api=api, catalog=catalog, name=name).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="api.property.clear",
            target=api,
            organization=api.organization,
            detail={"catalog": catalog.slug, "property": name},
        )
        bump_version()
    return bool(deleted)
