"""The objects a tokens resource's URL names, looked up inside the URL's organization only: anything else,
including another organization's object of the same name, is a 404."""

from __future__ import annotations

from rest_framework.exceptions import NotFound

from portal.models import Catalog, Organization
from tokens.models import Api, ConsumerApp, Publication
from tokens.properties import ApiPropertyState, api_property_listing


def catalog_in(organization: Organization, slug: str) -> Catalog:
    catalog = Catalog.objects.filter(organization=organization, slug=slug).first()
    if catalog is None:
        raise NotFound(f"No catalog '{slug}' in {organization.slug}.")
    return catalog


def api_in(organization: Organization, name: str, version: str) -> Api:
    api = Api.objects.filter(organization=organization, name=name, version=version).first()
    if api is None:
        raise NotFound(f"No API {name} {version} in {organization.slug}.")
    return api


def publication_in(catalog: Catalog, name: str, version: str) -> Publication:
    publication = (
        Publication.objects.filter(catalog=catalog, api__name=name, api__version=version)
        .select_related("api", "catalog")
        .first()
    )
    if publication is None:
        raise NotFound(f"{name} {version} is not published in {catalog.slug}.")
    return publication


# The largest primary key any database stores; a larger number in a URL names nothing (and would overflow).
MAX_ID = 2**63 - 1


def app_in(catalog: Catalog, app_id: int) -> ConsumerApp:
    app = None
    if app_id <= MAX_ID:
        app = ConsumerApp.objects.filter(catalog=catalog, pk=app_id).select_related("catalog").first()
    if app is None:
        raise NotFound(f"No app {app_id} in {catalog.slug}.")
    return app


def api_property_in(api: Api, catalog: Catalog, name: str) -> ApiPropertyState:
    """Property ``name`` of ``api`` in ``catalog``: one its document declares or gives a value for there, or
    one an operator set there (``api_property_listing``). A name it has not is a 404 listing those it has."""
    listing = api_property_listing(api=api, catalog=catalog)
    for state in listing:
        if state.name == name:
            return state
    known = ", ".join(state.name for state in listing) or "none"
    raise NotFound(
        f"{api} has no property '{name}' in {catalog.slug} (it has: {known}); "
        "declare it in the document's x-ibm-configuration.properties first."
    )
