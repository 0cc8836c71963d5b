"""Routes of portal's own resources under /api/v1/orgs/{org}/."""

from django.urls import path

from portal.api import apikeys, audit, catalogs

urlpatterns = [
    path("catalogs", catalogs.CatalogListCreateApi.as_view(), name="catalogs"),
    path("catalogs/<slug:catalog>", catalogs.CatalogDetailApi.as_view(), name="catalog"),
    path("audit-events", audit.AuditEventListApi.as_view(), name="audit-events"),
    path("api-keys", apikeys.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<slug:name>", apikeys.ApiKeyDetailApi.as_view(), name="api-key"),
    path("api-keys/<slug:name>/revoke", apikeys.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("api-keys/<slug:name>/expire", apikeys.ApiKeyExpireApi.as_view(), name="api-key-expire"),
]
