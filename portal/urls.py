import re

from django.contrib import admin
from django.urls import include, path, re_path

from portal import metrics, views
from portal.models import RESERVED_ORGANIZATION_SLUGS

RESERVED_FIRST_SEGMENTS = "|".join(re.escape(slug) for slug in sorted(RESERVED_ORGANIZATION_SLUGS))

handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/v1/", include("portal.api.urls")),
    # Every other /api/ path is the REST API's 404, not the gateway's (api is a reserved organization slug).
    re_path(r"^api/", views.api_path_not_found),
    # Any other path under a reserved first segment (/docs/x/y, /console/a/b, /media/...) is the console's 404:
    # the gateway's URLconf below would otherwise take it for /{org}/{catalog}/... and answer through the
    # console's stack, without the gateway's isolation headers.
    re_path(rf"^(?:{RESERVED_FIRST_SEGMENTS})(?:/|$)", views.reserved_path_not_found),
    # /{org}/{catalog}/... is the gateway's. In a running portal portal.handlers sends those paths to the
    # gateway's own handler and URLconf, never here; this include stays for `{% url 'jwks' %}` on the landing
    # page and for Django's test client, which runs every path through this URLconf.
    path("", include("tokens.urls")),
]
