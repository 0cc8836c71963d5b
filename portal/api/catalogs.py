"""``/api/v1/orgs/{org}/catalogs`` and ``catalogs/{catalog}``: operators create and delete (never the
sandbox: 409), everyone with a reading role lists and reads."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal import selectors, services
from portal.api.permissions import OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.models import Catalog, slug_validator


class CatalogSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    is_sandbox = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CatalogListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    collection_model = Catalog
    ordering_fields = ["slug", "created_at"]

    class InputSerializer(serializers.Serializer):
        slug = serializers.CharField(max_length=50, validators=[slug_validator])
        title = serializers.CharField(max_length=200)

    @extend_schema(operation_id="catalog_list", responses=responses({200: CatalogSerializer(many=True)}))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.catalog_list(organization=self.organization), CatalogSerializer)

    @extend_schema(
        operation_id="catalog_create",
        request=InputSerializer,
        responses=responses({201: CatalogSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        data = validated(self.InputSerializer, request)
        catalog = services.catalog_create(organization=self.organization, actor=self.actor, **data)
        return Response(CatalogSerializer(catalog).data, status=status.HTTP_201_CREATED)


class CatalogDetailApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]

    def get_catalog(self) -> Catalog:
        catalog = selectors.catalog_get(organization=self.organization, slug=self.kwargs["catalog"])
        if catalog is None:
            raise exceptions.NotFound("No such catalog.")
        return catalog

    @extend_schema(operation_id="catalog_read", responses=responses({200: CatalogSerializer}))
    def get(self, request: Request, org: str, catalog: str) -> Response:
        return Response(CatalogSerializer(self.get_catalog()).data)

    @extend_schema(
        operation_id="catalog_delete",
        responses=responses({204: OpenApiResponse(description="Deleted.")}, 409),
        description="Deletes the catalog and what is enabled or published in it. The sandbox answers 409.",
    )
    def delete(self, request: Request, org: str, catalog: str) -> Response:
        services.catalog_delete(catalog=self.get_catalog(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
