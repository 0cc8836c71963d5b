from django.contrib import admin
from django.urls import include, path, re_path

from portal import views

handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/v1/", include("portal.api.urls")),
    # Every other /api/ path is the REST API's 404, not the gateway's (api is a reserved organization slug).
    re_path(r"^api/", views.api_path_not_found),
    # The gateway owns every other /{org}/{catalog}/... path; it comes last.
    path("", include("tokens.urls")),
]
