"""``GET /api/v1/orgs/{org}``: the organization and the caller's role in it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import IsAuditorOrOperator, IsSigner, api_role
from portal.api.schema import responses
from portal.api.views import OrganizationApi
from portal.models import ApiKey


class OrganizationDetailApi(OrganizationApi):
    """Any role may read its organization (a signer learns its slug and role, nothing more)."""

    permission_classes = [IsAuditorOrOperator | IsSigner]

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        title = serializers.CharField()
        role = serializers.ChoiceField(choices=ApiKey.Role.choices, help_text="The caller's role.")

    @extend_schema(operation_id="organization_read", responses=responses({200: OutputSerializer}))
    def get(self, request: Request, org: str) -> Response:
        organization = self.organization
        data = {"slug": organization.slug, "title": organization.title, "role": api_role(request, org)}
        return Response(self.OutputSerializer(data).data)
