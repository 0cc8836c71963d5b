"""What the OpenAPI schema needs beyond inference: the problem document, the bearer scheme, and a helper
that lists a view's problem answers (``problems(400, 404, 409)``) next to its success response."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from portal.api.problems import PROBLEM_CONTENT_TYPE

# Built with type(): a field named "errors" would shadow Serializer.errors in a class statement (for mypy).
ProblemSerializer: type[serializers.Serializer] = type(
    "ProblemSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "RFC 9457 problem details (portal.api.problems).",
        "__module__": __name__,
        "type": serializers.CharField(help_text="URN naming the problem: urn:keyprofile-portal:problem:<code>."),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(help_text="A sentence a person can act on."),
        "code": serializers.CharField(help_text="Stable reason for scripts, e.g. invalid, not_found, name_taken."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="For invalid input: field to messages ('' for the request as a whole).",
        ),
    },
)


# Every view may answer these: authentication, role, throttling, and the unexpected.
COMMON_PROBLEMS = (401, 403, 404, 429)


def problems(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """Problem responses for ``extend_schema(responses=...)``: the common ones plus ``statuses``."""
    return {
        (code, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description=HTTPStatus(code).phrase)
        for code in sorted({*COMMON_PROBLEMS, *statuses})
    }


def responses(success: dict[int, Any], *statuses: int) -> dict[Any, Any]:
    """``success`` (status to serializer or OpenApiResponse) followed by the problem responses."""
    return {**success, **problems(*statuses)}


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.BearerApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (kpp_...) from `manage.py create_api_key`, the console or /api-keys.",
        }


class PortalAutoSchema(AutoSchema):
    """drf-spectacular's schema, naming a view's nested serializers after the view: ``KeystoreCreateApi``'s
    ``InputSerializer`` becomes ``KeystoreCreateInput``, so the HackSoft-style nested names never collide."""

    def _get_serializer_name(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> str:
        name: str = super()._get_serializer_name(serializer, direction, bypass_extensions)
        serializer_class = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, inner = serializer_class.__qualname__.rpartition(".")
        if outer and name.startswith(inner.removesuffix("Serializer")):
            name = outer.split(".")[-1].removesuffix("Api") + name
        return name
