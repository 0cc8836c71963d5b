from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # The gateway owns every other /{org}/{catalog}/... path; it comes last.
    path("", include("tokens.urls")),
]
