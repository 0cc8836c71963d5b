"""``/api/v1/orgs/{org}/catalogs/{catalog}/apis/{name}/{version}/properties``: an API's properties in one
catalog (DESIGN.md 3a), and the operator's value of each, which overrides the document's there without a
new document version.

- ``GET properties`` lists every property the API has in the catalog (declared by its document, given a
  value for the catalog by it, or set by an operator) with its effective value's ``source``.
- ``PUT properties/{property_name}`` with ``{"value": "..."}`` sets the operator's value: 201 the first time, 200
  when it replaces one. The property must be one the API has (404 otherwise), and a value the API published
  in the catalog would not run with is refused (400 naming ``value`` and the policy); nothing is stored then.
- ``DELETE properties/{property_name}`` clears it, so the document's value applies again (404 when there is none).

An operator's value may hold a backend's credentials: operators see it, auditors only its name and source (as in
the console); the document's values are shown to both, as the API's document itself is. Every answer carries
``Cache-Control: no-store``, and neither the log nor the audit trail (``tokens.properties``) records a value.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import OperatorOrReadingAuditor, Role, api_role
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.models import Catalog
from tokens.api.lookups import api_in, api_property_in, catalog_in
from tokens.models import Api
from tokens.properties import (
    ApiPropertyState,
    PropertySource,
    api_property_clear,
    api_property_listing,
    api_property_set,
)

SOURCE_HELP = (
    "Where the value in this catalog comes from: operator (set here, over the document), document_catalog "
    "(x-ibm-configuration.catalogs.<catalog>.properties), document_default (x-ibm-configuration.properties."
    "<name>.value) or unset (declared without a value)."
)


class ApiPropertySerializer(serializers.Serializer):
    """A property of an API in a catalog. Its value only for operators (``context['values']``)."""

    name = serializers.CharField()
    # Field.source in the stubs; DRF pops declared fields
    source = serializers.ChoiceField(choices=PropertySource.choices, help_text=SOURCE_HELP)  # type: ignore[assignment]
    value = serializers.SerializerMethodField(method_name="shown_value")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="When an operator set it; null otherwise.")

    @extend_schema_field(
        serializers.JSONField(
            allow_null=True,
            help_text="The effective value (an operator's is a string); null when unset, and null for auditors when "
            "an operator set it, since such a value may hold a backend's credentials (the document's values are "
            "in the API's document, which auditors read).",
        )
    )
    def shown_value(self, state: ApiPropertyState) -> Any:
        shown = self.context.get("values") or state.source != PropertySource.OPERATOR
        return state.value if shown else None


class _ApiPropertiesApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]

    def api_and_catalog(self) -> tuple[Api, Catalog]:
        catalog = catalog_in(self.organization, self.kwargs["catalog"])
        return api_in(self.organization, self.kwargs["name"], self.kwargs["version"]), catalog

    def property_response(self, data: Any, *, status_code: int = status.HTTP_200_OK) -> Response:
        response = Response(data, status=status_code)
        response["Cache-Control"] = "no-store"  # operators' answers hold values, which may be credentials
        return response

    def serializer_context(self) -> dict[str, Any]:
        return {"values": api_role(self.request, self.kwargs["org"]) == Role.OPERATOR}


class ApiPropertyListApi(_ApiPropertiesApi):
    @extend_schema(operation_id="api_property_list", responses=responses({200: ApiPropertySerializer(many=True)}))
    def get(self, request: Request, org: str, catalog: str, name: str, version: str) -> Response:
        api, found = self.api_and_catalog()
        page = self.paginate_queryset(api_property_listing(api=api, catalog=found))
        data = ApiPropertySerializer(page, many=True, context=self.serializer_context()).data
        response = self.get_paginated_response(data)
        response["Cache-Control"] = "no-store"
        return response


class ApiPropertyDetailApi(_ApiPropertiesApi):
    """One property of the API in the catalog; PUT sets the operator's value there, DELETE clears it. Every
    gateway process serves the change within seconds; only this publication is recompiled."""

    class InputSerializer(serializers.Serializer):
        value = serializers.CharField(
            allow_blank=True,
            trim_whitespace=False,
            help_text="The value in this catalog; it may read variables: $(request.parameters.region).",
        )

    @extend_schema(operation_id="api_property_read", responses=responses({200: ApiPropertySerializer}))
    def get(self, request: Request, org: str, catalog: str, name: str, version: str, property_name: str) -> Response:
        api, found = self.api_and_catalog()
        state = api_property_in(api, found, property_name)
        return self.property_response(ApiPropertySerializer(state, context=self.serializer_context()).data)

    @extend_schema(
        operation_id="api_property_set",
        request=InputSerializer,
        responses=responses({200: ApiPropertySerializer, 201: ApiPropertySerializer}, 400, 413, 415),
    )
    def put(self, request: Request, org: str, catalog: str, name: str, version: str, property_name: str) -> Response:
        api, found = self.api_and_catalog()
        replaces = api_property_in(api, found, property_name).source == PropertySource.OPERATOR
        data = validated(self.InputSerializer, request)
        api_property_set(api=api, catalog=found, name=property_name, value=data["value"], actor=self.actor)
        state = api_property_in(api, found, property_name)
        return self.property_response(
            ApiPropertySerializer(state, context=self.serializer_context()).data,
            status_code=status.HTTP_200_OK if replaces else status.HTTP_201_CREATED,
        )

    @extend_schema(operation_id="api_property_clear", request=None, responses=responses({204: None}, 400))
    def delete(self, request: Request, org: str, catalog: str, name: str, version: str, property_name: str) -> Response:
        api, found = self.api_and_catalog()
        if not api_property_clear(api=api, catalog=found, name=property_name, actor=self.actor):
            raise exceptions.NotFound(f"{api} has no operator value of '{property_name}' in {found.slug}.")
        return Response(status=status.HTTP_204_NO_CONTENT)
