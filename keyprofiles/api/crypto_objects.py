"""``/api/v1/orgs/{org}/catalogs/{catalog}/crypto-objects`` and ``expiring-keys?within=30``: what policies
name keys by, and the certificates that need rotating soon."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from keyprofiles import selectors
from keyprofiles.api.serializers import CertificateFactsSerializer
from keyprofiles.models import CryptoObject, KeyProfileBinding
from portal import selectors as portal_selectors
from portal.api.permissions import IsAuditorOrOperator
from portal.api.schema import responses
from portal.api.views import OrganizationApi


class CryptoObjectFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=CryptoObject.Role.choices)
    profile = django_filters.CharFilter(field_name="binding__profile__name", help_text="Key profile name.")
    state = django_filters.ChoiceFilter(field_name="binding__state", choices=KeyProfileBinding.State.choices)

    class Meta:
        model = CryptoObject
        fields = ["role", "profile", "state"]


class CryptoObjectListApi(OrganizationApi):
    permission_classes = [IsAuditorOrOperator]
    filterset_class = CryptoObjectFilter
    ordering_fields = ["name"]

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        role = serializers.ChoiceField(choices=CryptoObject.Role.choices)
        profile = serializers.CharField(source="binding.profile.name")
        profile_version = serializers.CharField(source="binding.profile.version")
        state = serializers.ChoiceField(source="binding.state", choices=KeyProfileBinding.State.choices)
        certificate = CertificateFactsSerializer(allow_null=True)

    @extend_schema(operation_id="crypto_object_list", responses=responses({200: OutputSerializer(many=True)}, 400))
    def get(self, request: Request, org: str, catalog: str) -> Response:
        found = portal_selectors.catalog_get(organization=self.organization, slug=catalog)
        if found is None:
            raise exceptions.NotFound("No such catalog.")
        objects = selectors.crypto_object_list(organization=self.organization.slug, catalog=found.slug)
        return self.list_response(objects.select_related("binding"), self.OutputSerializer)


class ExpiringKeyListApi(OrganizationApi):
    permission_classes = [IsAuditorOrOperator]
    filter_backends: list[Any] = []

    class QuerySerializer(serializers.Serializer):
        within = serializers.IntegerField(min_value=0, max_value=3650, default=30, help_text="Days (default 30).")

    class OutputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["keystore", "truststore"])
        store = serializers.CharField(help_text="Keystore or truststore name.")
        catalogs = serializers.ListField(child=serializers.CharField(), help_text="org/catalog where it is used.")
        certificate = CertificateFactsSerializer()

    @extend_schema(
        operation_id="expiring_key_list",
        parameters=[OpenApiParameter("within", int, description="Days ahead (0 to 3650, default 30).")],
        responses=responses({200: OutputSerializer(many=True)}, 400),
    )
    def get(self, request: Request, org: str) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        expiring = selectors.certificates_expiring_in(
            organization=self.organization, within_days=query.validated_data["within"]
        )
        page = self.paginate_queryset(expiring)  # a list pages like a queryset
        data = self.OutputSerializer(page if page is not None else expiring, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)
