"""``/api/v1/orgs/{org}/audit-events``: the organization's audit trail, read-only, filterable."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal import selectors
from portal.api.permissions import IsAuditorOrOperator
from portal.api.schema import responses
from portal.api.views import OrganizationApi
from portal.models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text="Exact action, e.g. keystore.generate.")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith", help_text="e.g. keystore.")
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices)
    object_type = django_filters.CharFilter(help_text="app_label.model, e.g. keyprofiles.keystore.")
    object_id = django_filters.CharFilter()
    actor = django_filters.CharFilter(help_text="A user name, cli:<command> or api-key:<org>/<name>.")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601, inclusive."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601, exclusive."
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "action_prefix", "outcome", "object_type", "object_id", "actor", "since", "until"]


class AuditEventListApi(OrganizationApi):
    permission_classes = [IsAuditorOrOperator]
    filterset_class = AuditEventFilter
    ordering_fields = ["created_at", "action", "actor"]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        actor = serializers.CharField()
        action = serializers.CharField()
        outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices)
        object_type = serializers.CharField()
        object_id = serializers.CharField()
        object_repr = serializers.CharField()
        detail = serializers.DictField()

    @extend_schema(operation_id="audit_event_list", responses=responses({200: OutputSerializer(many=True)}, 400))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.audit_event_list(organization=self.organization), self.OutputSerializer)
