"""Routes of /api/v1/. Apps' resources are included by dotted module name, so portal imports no app above it
(DESIGN.md section 5)."""

from django.urls import include, path

from portal.api.organization import OrganizationDetailApi
from portal.api.views import DocsView, SchemaView

app_name = "api"

# Django tries the patterns in order, so the busiest routes come first: the token service leads
# tokens.api.urls, which leads here (no failed pattern before it).
urlpatterns = [
    path("orgs/<slug:org>/", include("tokens.api.urls")),
    path("orgs/<slug:org>", OrganizationDetailApi.as_view(), name="organization"),
    path("orgs/<slug:org>/", include("portal.api.resources")),
    path("orgs/<slug:org>/", include("keyprofiles.api.urls")),
    path("schema", SchemaView.as_view(), name="schema"),
    path("docs", DocsView.as_view(url_name="api:schema"), name="docs"),
]
