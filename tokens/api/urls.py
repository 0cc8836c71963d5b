"""Routes of the tokens resources under /api/v1/orgs/{org}/. Each part keeps its own list, concatenated below."""

from django.urls import path, register_converter

from tokens.api import apis, apps, properties, publications
from tokens.api.token_service_urls import urlpatterns as token_service_urlpatterns


class VersionConverter:
    """An API version as the documents' info.version has it: MAJOR.MINOR.PATCH. The schema shows the pattern."""

    regex = r"[0-9]+\.[0-9]+\.[0-9]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(VersionConverter, "version")


class PropertyNameConverter:
    """An API property's name as documents declare it (``tokens.properties.PROPERTY_NAME``): e.g. target-url."""

    regex = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PropertyNameConverter, "property")

CATALOG = "catalogs/<slug:catalog>"
APP = f"{CATALOG}/apps/<int:app_id>"
API_PROPERTIES = f"{CATALOG}/apis/<slug:name>/<version:version>/properties"

# APIs and their documents, their property values per catalog, publications and consumer apps.
documents_and_apps_urlpatterns = [
    path("apis", apis.ApiListCreateApi.as_view(), name="apis"),
    path("apis/<slug:name>/<version:version>", apis.ApiDetailApi.as_view(), name="api"),
    path("apis/<slug:name>/<version:version>/publish", apis.ApiPublishApi.as_view(), name="api-publish"),
    path(API_PROPERTIES, properties.ApiPropertyListApi.as_view(), name="api-properties"),
    path(f"{API_PROPERTIES}/<property:property_name>", properties.ApiPropertyDetailApi.as_view(), name="api-property"),
    path(f"{CATALOG}/publications", publications.PublicationListApi.as_view(), name="publications"),
    path(
        f"{CATALOG}/publications/<slug:name>/<version:version>",
        publications.PublicationDetailApi.as_view(),
        name="publication",
    ),
    path(f"{CATALOG}/apps", apps.AppListCreateApi.as_view(), name="apps"),
    path(APP, apps.AppDetailApi.as_view(), name="app"),
    path(f"{APP}/reset-secret", apps.AppResetSecretApi.as_view(), name="app-reset-secret"),
    path(f"{APP}/subscriptions", apps.AppSubscriptionListApi.as_view(), name="app-subscriptions"),
    path(
        f"{APP}/subscriptions/<slug:name>/<version:version>",
        apps.AppSubscriptionDetailApi.as_view(),
        name="app-subscription",
    ),
]

# The token service first: it is the hot route (portal/api/urls.py)
urlpatterns = [*token_service_urlpatterns, *documents_and_apps_urlpatterns]
