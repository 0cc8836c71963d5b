"""``/api/v1/orgs/{org}/catalogs/{catalog}/publications``: what a catalog serves, and the life cycle of one
publication (deprecate, retire, reinstate). Publishing itself is ``apis/{name}/{version}/publish``."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from tokens import services
from tokens.api.lookups import catalog_in, publication_in
from tokens.api.serializers import PublicationSerializer
from tokens.models import Publication


class PublicationFilter(django_filters.FilterSet):
    api = django_filters.CharFilter(field_name="api__name", help_text="The API's name.")
    version = django_filters.CharFilter(field_name="api__version")

    class Meta:
        model = Publication
        fields = ["state", "base_path"]


class PublicationListApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    filterset_class = PublicationFilter
    ordering_fields = ["base_path", "published_at", "updated_at", "state"]

    @extend_schema(operation_id="publication_list", responses=responses({200: PublicationSerializer(many=True)}, 400))
    def get(self, request: Request, org: str, catalog: str) -> Response:
        found = catalog_in(self.organization, catalog)
        publications = Publication.objects.filter(catalog=found).select_related("api", "catalog__organization")
        return self.list_response(publications, PublicationSerializer)


class PublicationDetailApi(OrganizationApi):
    """One publication; PATCH its ``state``: ``deprecated`` (still served, marked for retirement),
    ``retired`` (no longer served; it comes back only by publishing again) or ``published`` (reinstate a
    deprecated one). Setting the current state again changes nothing."""

    permission_classes = [OperatorOrReadingAuditor]

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Publication.State.choices)

    def get_publication(self) -> Publication:
        catalog = catalog_in(self.organization, self.kwargs["catalog"])
        return publication_in(catalog, self.kwargs["name"], self.kwargs["version"])

    @extend_schema(operation_id="publication_read", responses=responses({200: PublicationSerializer}))
    def get(self, request: Request, org: str, catalog: str, name: str, version: str) -> Response:
        return Response(PublicationSerializer(self.get_publication()).data)

    @extend_schema(
        operation_id="publication_set_state",
        request=InputSerializer,
        responses=responses({200: PublicationSerializer}, 400, 409, 413, 415),
    )
    def patch(self, request: Request, org: str, catalog: str, name: str, version: str) -> Response:
        publication = self.get_publication()
        data = validated(self.InputSerializer, request)
        publication = services.publication_set_state(publication=publication, state=data["state"], actor=self.actor)
        return Response(PublicationSerializer(publication).data)
