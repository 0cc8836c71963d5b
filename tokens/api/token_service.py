"""The token service over REST: sign and validate with a key profile chosen by name (DESIGN.md section 4a).

``POST /api/v1/orgs/{org}/catalogs/{catalog}/key-profiles/{name}/tokens`` signs; ``.../tokens/validate``
validates. The work is ``tokens.token_service``'s; these views parse, call it, and answer. Operators may use
every profile of their organization; signer keys only the profiles they list, within their claim
constraints (``portal.api.permissions.CanSignWithProfile``: 403 naming the claim); auditors neither.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from keyprofiles.models import SEMVER
from portal.api.permissions import CanSignWithProfile, CanUseProfile
from portal.api.plain_input import plain_validated
from portal.api.schema import responses
from portal.api.views import OrganizationApi
from tokens import jose, token_service
from tokens.assembly import DEFAULT_VALIDITY_SECONDS, MAX_LEEWAY_SECONDS, JwtValidationFailed

MAX_PATTERN_LENGTH = 300

# Django's slug converter, as the routes use it: the schema says what a path segment may hold, so a client
# (or Schemathesis) never sends one that no route matches.
SLUG = "^[-a-zA-Z0-9_]+$"
PATH_PARAMETERS = [
    OpenApiParameter("org", str, OpenApiParameter.PATH, description="Organization slug, e.g. personal.", pattern=SLUG),
    OpenApiParameter("catalog", str, OpenApiParameter.PATH, description="Catalog slug, e.g. sandbox.", pattern=SLUG),
    OpenApiParameter(
        "name", str, OpenApiParameter.PATH, description="Key profile name, e.g. jwt-keyprofile.", pattern=SLUG
    ),
]


class TokenField(serializers.CharField):
    """A token as text, bounded in length. Without DRF's per-character surrogate check, a Python loop over
    the whole token: a token is ASCII or ``tokens.jose`` refuses it as malformed anyway."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitSurrogateCharactersValidator)]


class TokenInvalid(exceptions.APIException):
    """400 for a token that fails validation: ``detail`` is jwt-validate's message, ``code`` the reason."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "JWT validation failed."
    default_code = "token_invalid"


def _not_found(error: token_service.TokenServiceNotFound) -> exceptions.NotFound:
    return exceptions.NotFound(str(error.args[0]) if error.args else "Not found.", code="not_found")


def _no_store(response: Response) -> Response:
    # Tokens and the claims they carry are credentials: never kept by a cache (DESIGN.md section 4).
    response["Cache-Control"] = "no-store"
    return response


class TokenSignApi(OrganizationApi):
    """Sign claims with the profile's active version in the catalog (or the ``version`` asked for)."""

    permission_classes = [CanSignWithProfile]
    # What CanSignWithProfile checks a signer's max_expires_in against when the request gives none.
    default_expires_in = DEFAULT_VALIDITY_SECONDS

    class InputSerializer(serializers.Serializer):
        claims = serializers.DictField(
            help_text="The token's claims (iss, sub, aud and private claims). iat and exp are set by the service, "
            "and jti when asked: the claims may not set them."
        )
        expires_in = serializers.IntegerField(
            min_value=token_service.MIN_EXPIRES_IN,
            max_value=token_service.MAX_EXPIRES_IN,
            default=DEFAULT_VALIDITY_SECONDS,
            help_text="Validity in seconds, 1 to 31622400 (jwt-generate's exp-claim); default 3600.",
        )
        alg = serializers.ChoiceField(
            choices=jose.ALGORITHMS,
            required=False,
            help_text="JWS algorithm; default the key's own: RS256 (RSA), ES256/384/512 (by curve), HS256 (secret). "
            "It must fit the key type.",
        )
        jti = serializers.BooleanField(default=False, help_text="Add a UUID4 jti claim.")
        version = serializers.RegexField(
            SEMVER,
            required=False,
            help_text="Profile version to sign with (default: the active one). A next version may sign (to try a "
            "key before it goes live); a passive or retired one never does (409).",
        )

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="The compact JWS.")
        kid = serializers.CharField(help_text="The header's kid: the key's RFC 7638 thumbprint.")
        alg = serializers.CharField()
        crypto_object = serializers.CharField(help_text="The crypto object that signed, e.g. ...V1.0.0-key.")
        version = serializers.CharField(help_text="The profile version that signed.")
        expires_at = serializers.DateTimeField(help_text="The exp claim, as an ISO 8601 time.")
        jti = serializers.CharField(allow_null=True, help_text="The jti claim, or null when not asked.")

    @extend_schema(
        operation_id="token_sign",
        parameters=PATH_PARAMETERS,
        request=InputSerializer,
        responses=responses({201: OutputSerializer}, 400, 409, 413, 415),
        examples=[
            OpenApiExample(
                "Sign for 60 seconds",
                value={"claims": {"iss": "apic", "aud": "id1", "sub": "alice"}, "expires_in": 60, "jti": True},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, org: str, catalog: str, name: str) -> Response:
        data = plain_validated(self.InputSerializer, request.data)
        try:
            signed = token_service.token_sign(organization=org, catalog=catalog, profile=name, **data)
        except token_service.TokenServiceNotFound as e:
            raise _not_found(e) from e
        return _no_store(Response(signed.as_dict(), status=status.HTTP_201_CREATED))


class TokenValidateApi(OrganizationApi):
    """Validate a token with every non-retired version of the profile in the catalog, as jwt-validate does."""

    permission_classes = [CanUseProfile]

    class InputSerializer(serializers.Serializer):
        token = TokenField(
            max_length=2 * jose.MAX_TOKEN_BYTES,
            trim_whitespace=True,
            help_text="The compact JWS (a leading 'Bearer ' is stripped).",
        )
        iss = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=MAX_PATTERN_LENGTH,
            help_text="Regular expression the whole iss claim must match (jwt-validate's iss-claim).",
        )
        aud = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=MAX_PATTERN_LENGTH,
            help_text="Regular expression the whole aud claim (for an array: any element) must match.",
        )
        leeway = serializers.IntegerField(
            min_value=0, max_value=MAX_LEEWAY_SECONDS, default=0, help_text="Seconds of clock skew allowed."
        )

    class OutputSerializer(serializers.Serializer):
        claims = serializers.DictField(help_text="The token's claims.")
        header = serializers.DictField(help_text="The token's protected header.")
        kid = serializers.CharField(allow_null=True, help_text="The header's kid, if any.")
        crypto_object = serializers.CharField(help_text="The crypto object whose key verified the token.")

    @extend_schema(
        operation_id="token_validate",
        parameters=PATH_PARAMETERS,
        request=InputSerializer,
        responses=responses({200: OutputSerializer}, 400, 409, 413, 415),
        description="A token that fails answers 400 whose detail is jwt-validate's message (\"JWT validation "
        'failed, because ...") and whose code names the reason: token_expired, not_yet_valid, missing_exp, '
        "invalid_exp, invalid_nbf, bad_signature, key_retired, malformed, too_large, algorithm_not_allowed, "
        "header_not_acceptable, issuer_mismatch, audience_mismatch.",
    )
    def post(self, request: Request, org: str, catalog: str, name: str) -> Response:
        data = plain_validated(self.InputSerializer, request.data)
        try:
            result = token_service.token_validate(
                organization=org,
                catalog=catalog,
                profile=name,
                token=data["token"],
                issuer=data.get("iss") or None,
                audience=data.get("aud") or None,
                leeway=data["leeway"],
            )
        except token_service.TokenServiceNotFound as e:
            raise _not_found(e) from e
        except JwtValidationFailed as e:
            raise TokenInvalid(e.message, code=e.code) from e
        return _no_store(Response(result.as_dict()))
