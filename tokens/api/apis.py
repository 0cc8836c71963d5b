"""``/api/v1/orgs/{org}/apis``: API documents in and out as JSON or YAML, with optimistic concurrency, and
publishing an API version to a catalog.

- ``POST apis`` creates the version its document describes (409 when it exists: replace it with PUT).
- ``GET apis/{name}/{version}`` answers the stored document itself, as JSON or (``Accept: application/yaml``)
  YAML, with a strong ``ETag`` derived from it.
- ``PUT apis/{name}/{version}`` replaces the document; ``If-Match`` with the ETag read is required (428
  without it, 412 when the document changed since), so two editors cannot silently overwrite each other.
- ``DELETE`` honours ``If-Match`` when given and refuses (409) while a catalog serves the version.
"""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import IsOperator, OperatorOrReadingAuditor
from portal.api.problems import PreconditionFailed
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.models import Catalog
from tokens import services
from tokens.api.formats import DOCUMENT_PARSERS, YAML_MEDIA_TYPE, YAMLDocumentRenderer
from tokens.api.lookups import api_in
from tokens.api.serializers import ApiSerializer, PublicationSerializer
from tokens.errors import PolicyConfigError, StaleDocumentError
from tokens.models import Api

DOCUMENT_HELP = (
    "An OpenAPI 2.0 or 3.0 document with APIC's x-ibm-configuration, as application/json or "
    "application/yaml (text/yaml); at most 1 MiB."
)
DOCUMENT_EXAMPLE = OpenApiExample(
    "A small API",
    value={
        "swagger": "2.0",
        "info": {"title": "Hello", "x-ibm-name": "hello", "version": "1.0.0"},
        "basePath": "/hello",
        "paths": {"/hi": {"get": {"responses": {"200": {"description": "ok"}}}}},
        "x-ibm-configuration": {"assembly": {"execute": [{"set-variable": {"title": "set", "actions": []}}]}},
    },
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag of the document as last read (a quoted string).",
)


class PreconditionRequired(exceptions.APIException):
    """428 (RFC 6585 section 3): a replacement must say which version of the document it replaces."""

    status_code = 428
    default_detail = "Send If-Match with the ETag of the document you read (GET it first)."
    default_code = "precondition_required"


def if_match_tags(request: Request) -> list[str] | None:
    """The entity tags of ``If-Match`` (RFC 9110 section 13.1.1), ``["*"]`` for any, None when absent."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def matching_tag(tags: list[str], api: Api) -> str:
    """The tag of ``tags`` the replacement is based on: the current one when listed (or ``*``), else the first,
    which the service then finds stale. Weak tags never match: strong comparison (section 8.8.3.2)."""
    current = services.api_etag(api)
    if "*" in tags or current in tags:
        return current
    return tags[0] if tags else ""


def document_response(api: Api, *, status_code: int = status.HTTP_200_OK, body: Any = None) -> Response:
    response = Response(api.document if body is None else body, status=status_code)
    response["ETag"] = services.api_etag(api)
    return response


class ApiFilter(django_filters.FilterSet):
    class Meta:
        model = Api
        fields = ["name", "version", "base_path"]


class ApiListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    parser_classes = DOCUMENT_PARSERS
    filterset_class = ApiFilter
    ordering_fields = ["name", "version", "created_at", "updated_at"]

    @extend_schema(operation_id="api_list", responses=responses({200: ApiSerializer(many=True)}, 400))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(Api.objects.filter(organization=self.organization), ApiSerializer)

    @extend_schema(
        operation_id="api_create",
        description="Create the API version a document describes. " + DOCUMENT_HELP,
        request=OpenApiTypes.OBJECT,
        examples=[DOCUMENT_EXAMPLE],
        responses=responses({201: ApiSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        api = services.api_create(organization=self.organization, document=request.data, actor=self.actor)
        response = document_response(api, status_code=status.HTTP_201_CREATED, body=ApiSerializer(api).data)
        response["Location"] = request.build_absolute_uri(f"apis/{api.name}/{api.version}")
        return response


class ApiDetailApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    parser_classes = DOCUMENT_PARSERS
    renderer_classes = [JSONRenderer, YAMLDocumentRenderer]

    def get_api(self) -> Api:
        return api_in(self.organization, self.kwargs["name"], self.kwargs["version"])

    @extend_schema(
        operation_id="api_read",
        description=f"The stored document: JSON, or YAML with Accept: {YAML_MEDIA_TYPE} (a lossless export).",
        responses=responses(
            {200: OpenApiResponse(OpenApiTypes.OBJECT, description="The document; its ETag is in the header.")}
        ),
    )
    def get(self, request: Request, org: str, name: str, version: str) -> Response:
        return document_response(self.get_api())

    @extend_schema(
        operation_id="api_replace",
        description="Replace the document (same name and version). If-Match is required. " + DOCUMENT_HELP,
        parameters=[IF_MATCH],
        request=OpenApiTypes.OBJECT,
        examples=[DOCUMENT_EXAMPLE],
        responses=responses(
            {200: OpenApiResponse(OpenApiTypes.OBJECT, description="The stored document and its new ETag.")},
            400,
            412,
            413,
            415,
            428,
        ),
    )
    def put(self, request: Request, org: str, name: str, version: str) -> Response:
        api = self.get_api()
        tags = if_match_tags(request)
        if tags is None:
            raise PreconditionRequired()
        try:
            api = services.api_replace(
                api=api, document=request.data, expected_etag=matching_tag(tags, api), actor=self.actor
            )
        except StaleDocumentError as e:
            raise PreconditionFailed(str(e)) from e
        return document_response(api)

    @extend_schema(
        operation_id="api_delete",
        description="Delete the version (If-Match honoured when sent); 409 while a catalog serves it.",
        parameters=[IF_MATCH],
        request=None,
        responses=responses({204: None}, 409, 412),
    )
    def delete(self, request: Request, org: str, name: str, version: str) -> Response:
        api = self.get_api()
        tags = if_match_tags(request)
        if tags is not None and matching_tag(tags, api) != services.api_etag(api):
            raise PreconditionFailed()
        services.api_delete(api=api, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiPublishApi(OrganizationApi):
    """Publish (or republish) the version in a catalog: its assembly is compiled against that catalog's crypto
    objects, so a bad policy configuration is refused here, naming the policy and the property."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        catalog = serializers.SlugField(max_length=50, help_text="The catalog's slug, e.g. sandbox.")

    @extend_schema(
        operation_id="api_publish",
        request=InputSerializer,
        responses=responses({200: PublicationSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str, name: str, version: str) -> Response:
        api = api_in(self.organization, name, version)
        data = validated(self.InputSerializer, request)
        catalog = Catalog.objects.filter(organization=self.organization, slug=data["catalog"]).first()
        if catalog is None:
            raise exceptions.ValidationError({"catalog": [f"No catalog '{data['catalog']}' in {org}."]})
        try:
            publication = services.api_publish(api=api, catalog=catalog, actor=self.actor)
        except PolicyConfigError as e:
            # The problem's errors name the policy and the property, like the console's form does.
            raise exceptions.ValidationError({f"{e.policy}.{e.prop}": [str(e)]}, code=e.code) from e
        return Response(PublicationSerializer(publication).data)
