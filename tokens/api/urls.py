"""Routes of the tokens app's resources under /api/v1/orgs/{org}/, one list per resource module, so that each
resource's routes live beside its views."""

from tokens.api.token_service_urls import urlpatterns as token_service_urlpatterns

urlpatterns = [*token_service_urlpatterns]
