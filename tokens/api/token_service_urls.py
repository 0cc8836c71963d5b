"""Routes of the token service and of rotation over REST, relative to /api/v1/orgs/{org}/."""

from django.urls import path

from tokens.api import rotation, token_service

PROFILE = "catalogs/<slug:catalog>/key-profiles/<slug:name>"

urlpatterns = [
    path(f"{PROFILE}/tokens", token_service.TokenSignApi.as_view(), name="token-sign"),
    path(f"{PROFILE}/tokens/validate", token_service.TokenValidateApi.as_view(), name="token-validate"),
    path(f"{PROFILE}/rotate", rotation.KeyProfileRotateApi.as_view(), name="keyprofile-rotate"),
]
