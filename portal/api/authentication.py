"""Who is calling: an API key (``Authorization: Bearer kpp_...``) or a console session (with CSRF).

The bearer class comes first in ``DEFAULT_AUTHENTICATION_CLASSES``, so a request with neither answers 401
with ``WWW-Authenticate: Bearer`` (DRF announces the first class's scheme).
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from portal.apikeys import ApiKeyPrincipal, api_key_principal

BEARER = "Bearer"
REALM = "portal-api"


class InvalidApiKey(exceptions.AuthenticationFailed):
    """401 for a bearer key that does not authenticate; ``code`` says why (RFC 6750 ``invalid_token``)."""


class BearerApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <api key>``: the key's principal becomes ``request.user`` and ``request.auth``.

    No header, or another scheme: not this class's business (None), so session authentication may follow.
    A bearer value that is malformed, unknown, revoked or expired: 401, with a ``code`` naming which.
    """

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKeyPrincipal] | None:
        # META rather than request.headers: the latter builds a dictionary of every header on each call.
        header = request._request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, text = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        text = text.strip()
        if not text:
            raise InvalidApiKey("The Authorization header holds no API key after 'Bearer'.", code="api_key_missing")
        principal = api_key_principal(text)
        if principal is None:
            raise InvalidApiKey("The API key is not valid.", code="api_key_invalid")
        state = principal.state(now=timezone.now())
        if state == "revoked":
            raise InvalidApiKey("The API key was revoked.", code="api_key_revoked")
        if state == "expired":
            raise InvalidApiKey("The API key has expired.", code="api_key_expired")
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return f'{BEARER} realm="{REALM}"'
