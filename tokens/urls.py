from django.urls import path, re_path

from tokens import views

urlpatterns = [
    path("<slug:organization>/<slug:catalog>/.well-known/jwks.json", views.jwks, name="jwks"),
    re_path(
        r"^(?P<organization>[a-z0-9-]+)/(?P<catalog>[a-z0-9-]+)/(?P<path>.+)$",
        views.gateway_call,
        name="gateway",
    ),
]
