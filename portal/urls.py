from django.contrib import admin
from django.urls import include, path

from portal import views

handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # The gateway owns every other /{org}/{catalog}/... path; it comes last.
    path("", include("tokens.urls")),
]
